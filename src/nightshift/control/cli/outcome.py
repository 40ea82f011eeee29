"""How a command's ending becomes an exit code and one line on stderr (the table: nightshift.core.exit_codes).

A person reading the line should know what to check: an unreachable service names its endpoint and the setting
that points at it; no traceback unless --debug."""

from __future__ import annotations

import os

from nightshift.core import exit_codes
from nightshift.core.errors import ChecksumMismatch, DataContractViolation, DataRejected, NightshiftError


def _is_s3_unreachable(exc: BaseException) -> bool:
    try:
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
    except ImportError:
        return False
    return isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError))


def _is_airflow_unreachable(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))


def classify(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, one-line message) for an exception a command ended with; None: not ours to explain."""
    if _is_s3_unreachable(exc):
        endpoint = os.environ.get("NIGHTSHIFT_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or "(AWS default)"
        return exit_codes.UNREACHABLE, (f"cannot reach S3 at {endpoint} ({exc.__class__.__name__}); check "
                                        "NIGHTSHIFT_S3_ENDPOINT and that the store runs (`make up`)")
    if _is_airflow_unreachable(exc):
        port = os.environ.get("AIRFLOW__API__PORT", "8080")
        return exit_codes.UNREACHABLE, (f"cannot reach Airflow's API at http://127.0.0.1:{port} "
                                        f"({exc.__class__.__name__}); check AIRFLOW__API__PORT and that Airflow "
                                        "runs (`make up`)")
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, NightshiftError) and cause is not None and (_is_s3_unreachable(cause)
                                                                     or _is_airflow_unreachable(cause)):
        return classify(cause)
    if isinstance(exc, ChecksumMismatch):
        return exit_codes.CHECK_FAILED, str(exc)
    from nightshift.control.reading import UnreadableInput

    if isinstance(exc, (DataRejected, DataContractViolation, UnreadableInput)):
        return exit_codes.DATA_REJECTED, str(exc)
    if isinstance(exc, NightshiftError):
        return exit_codes.REFUSED, str(exc)
    return None

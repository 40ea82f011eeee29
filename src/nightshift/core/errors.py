"""Typed errors. Each message names the file, column or object at fault and what was expected."""

from __future__ import annotations


class NightshiftError(Exception):
    """Base class for every error this package raises on purpose."""


class SpecError(NightshiftError):
    """A pipeline spec file is invalid."""


class ContractError(NightshiftError):
    """A data-contract file is invalid (not the data: the contract itself)."""


class DataRejected(NightshiftError):
    """The data itself is refused (anomalies, drift, malformed input): a retry would fail the same way, so the
    process exits with exit_codes.DATA_REJECTED and the task fails without retry."""


class DataContractViolation(NightshiftError):
    """The data does not meet its contract. `failures` holds one line per failed expectation."""

    def __init__(self, summary: str, failures: list[str]):
        super().__init__(summary + "\n" + "\n".join(f"  - {f}" for f in failures))
        self.failures = failures


class EmptyWindowError(NightshiftError):
    """No raw partition falls inside a run's data window."""


class RegistryError(NightshiftError):
    """The model registry in object storage is inconsistent or unreachable."""


class ChecksumMismatch(RegistryError):
    """A published file does not match the sha256 recorded in its manifest."""



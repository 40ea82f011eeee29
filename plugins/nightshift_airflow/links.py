"""Extra links on task pages: the gate's Data Docs, the published version's manifest. No URI copied out of logs.

Airflow 3 computes a task's links in the worker when the task ends (failed ones too) and stores them as XCom,
so each link is a presigned GET URL made with the task's own S3 connection: the browser needs no S3 key.
SigV4 presigned URLs live at most 7 days; after that the page shows a link that S3 refuses (the objects stay).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

PRESIGN_SECONDS = 7 * 24 * 3600  # the SigV4 maximum


def presigned_get(aws_conn_id: str, uri: str) -> str:
    from nightshift.core.s3 import S3Uri
    from nightshift_airflow.hooks import S3ConnectionAccess

    target = S3Uri.parse(uri)
    return S3ConnectionAccess(aws_conn_id).presigned_get_url(target.bucket, target.key, PRESIGN_SECONDS)


class DataDocsLink(BaseOperatorLink):
    """The contract gate's Great Expectations Data Docs page for this run (written whether it passed or not)."""

    name = "Data Docs"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        uri = operator.report_uri(ti_key.run_id) + "/data_docs.html"  # type: ignore[attr-defined]
        return presigned_get(operator.aws_conn_id, uri)  # type: ignore[attr-defined]


class PublishedManifestLink(BaseOperatorLink):
    """The manifest of the version this run published (sha256 of every file, metrics, window, run); empty when
    the run published nothing (not blessed, publish=false) or another run has moved the pointer since."""

    name = "Published manifest"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        from nightshift.core.registry.layout import manifest_key
        from nightshift.core.registry.store import ModelRegistry
        from nightshift_airflow.hooks import S3ConnectionAccess

        conn_id = operator.aws_conn_id  # type: ignore[attr-defined]
        registry = ModelRegistry(S3ConnectionAccess(conn_id).get_client(), operator.registry_uri)  # type: ignore[attr-defined]
        pointer = registry.read_pointer()
        if pointer is None or pointer.run_id != ti_key.run_id or pointer.action != "publish":
            return ""
        return presigned_get(conn_id, f"s3://{registry.bucket}/{manifest_key(registry.prefix, pointer.version)}")


class ModelReportLink(BaseOperatorLink):
    """The model's report page, where `nightshift models report` stores it beside the versions. Airflow 3 computes
    a link once, when the task ends, and keeps it: so it points at the report's place whether or not a report was
    made yet (S3 answers NoSuchKey until `models report` runs), and opens the newest report whenever followed.
    The page itself is not rebuilt here: it verifies every version's files, which is the CLI's job."""

    name = "Model report"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        from nightshift.control.model_report import REPORT_NAME

        uri = f"{operator.registry_uri.rstrip('/')}/{REPORT_NAME}"  # type: ignore[attr-defined]
        return presigned_get(operator.aws_conn_id, uri)  # type: ignore[attr-defined]


class ServedManifestLink(BaseOperatorLink):
    """The manifest of the version served when the task ended (what the monitor judged)."""

    name = "Served manifest"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        from nightshift.core.registry.layout import manifest_key
        from nightshift.core.registry.store import ModelRegistry
        from nightshift_airflow.hooks import S3ConnectionAccess

        conn_id = operator.aws_conn_id  # type: ignore[attr-defined]
        registry = ModelRegistry(S3ConnectionAccess(conn_id).get_client(), operator.registry_uri)  # type: ignore[attr-defined]
        pointer = registry.read_pointer()
        if pointer is None:
            return ""
        return presigned_get(conn_id, f"s3://{registry.bucket}/{manifest_key(registry.prefix, pointer.version)}")

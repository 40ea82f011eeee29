"""A published version's lineage, gathered from the registry, the run's reports in S3 and ML Metadata."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nightshift.core.config import Settings
    from nightshift.core.spec import PipelineSpec

def lineage_of(spec: PipelineSpec, version: int, settings: Settings, client: Any = None) -> dict[str, Any]:
    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.run_reports import DATA_DOCS, PARTITIONS, run_reports_uri
    from nightshift.core.s3 import S3Uri, client_from_env

    client = client or client_from_env(role="reader")  # reads the registry and reports only
    registry = ModelRegistry(client, spec.push.uri)
    manifest = registry.read_manifest(version)
    pointer = registry.read_pointer()
    where = S3Uri.parse(run_reports_uri(spec.reports_uri, spec.name, manifest.run_id, PARTITIONS))
    try:
        partitions = json.loads(client.get_object(Bucket=where.bucket, Key=where.key)["Body"].read())["partitions"]
    except client.exceptions.NoSuchKey:
        partitions = []
    # A MySQL store is recorded without its password: the local settings supply the full URL.
    mlmd = (settings.mlmd_mysql if manifest.extra.get("mlmd_mysql") else manifest.extra.get("mlmd_sqlite")) \
        or settings.mlmd_mysql or (str(settings.mlmd_sqlite) if settings.mlmd_sqlite else "")
    return {
        "model": spec.name, "version": version, "serving": bool(pointer and pointer.version == version),
        "dag_id": spec.nightly_dag_id, "manifest": json.loads(manifest.to_json()),
        "partitions": partitions,
        "report_uri": run_reports_uri(spec.reports_uri, spec.name, manifest.run_id, DATA_DOCS),
        "tfx": tfx_artifacts(settings, mlmd, manifest.run_id),
    }


def tfx_artifacts(settings: Settings, mlmd_sqlite: str, run_id: str) -> dict[str, Any]:
    """ML Metadata lives with TFX: asked through the runtime interpreter (`nightshift_tfx.run_artifacts`)."""
    if not mlmd_sqlite:
        return {"error": "no ML Metadata store configured"}
    if mlmd_sqlite.startswith("mysql://"):  # the password reaches the child by environment, never argv
        from nightshift.core.mlmd import parse_mysql_url

        mlmd_sqlite = parse_mysql_url(mlmd_sqlite).redacted
    out = subprocess.run([str(settings.runtime_python), "-m", "nightshift_tfx.run_artifacts", "--mlmd", mlmd_sqlite,
                          "--run-id", run_id], capture_output=True, text=True, timeout=300, check=False)
    lines = out.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"error": f"lineage query failed (exit {out.returncode}): {out.stderr.strip()[-500:]}"}

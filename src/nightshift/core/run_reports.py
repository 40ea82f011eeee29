"""Where a run's reports live in S3, for every writer (the DAG's tasks) and reader (lineage, model report,
task links): `<reports_uri>/<pipeline>/<run id>/<part>`."""

from __future__ import annotations

GATE_FOLDER = "contract_gate"  # GX's full result and Data Docs page, written whether the gate passed or not
DATA_DOCS = f"{GATE_FOLDER}/data_docs.html"
GATE_RESULT = f"{GATE_FOLDER}/gate_result.json"
PARTITIONS = "stage_window/partitions.json"  # the exact partitions (and ETags) a run staged


def run_reports_uri(reports_uri: str, pipeline: str, run_id: str, part: str = "") -> str:
    base = f"{reports_uri.rstrip('/')}/{pipeline}/{run_id}"
    return f"{base}/{part}" if part else base

"""Watching a served model: realized metrics per scored partition, once its labels have landed.

For every committed prediction partition under the spec's `scoring.output_uri`, the labels of the same
partition (`<monitoring.labels_uri>/<partition>/`, or one file given on the command line) are joined to its
predictions (nightshift.control.realized) and scored with the spec's evaluation metrics. Each result is a
record in the model's monitoring history:

    <reports_uri>/<name>/_monitoring/realized/<partition>/v<model version>.json

The monitor owns only the records it wrote (they carry its format tag); a record is rewritten when more
labels arrive, by a conditional write, so two monitors never interleave.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightshift.control.realized import LabelFeedError, breaches, join_labels, realized_metrics
from nightshift.core.errors import NightshiftError
from nightshift.core.metrics import reported_metrics
from nightshift.core.predictions import MARKER, committed_part, read_marker
from nightshift.core.s3 import S3Uri, error_code, precondition_failed

if TYPE_CHECKING:
    import pandas as pd

    from nightshift.core.spec import PipelineSpec

RECORD_FORMAT = "nightshift.control.monitoring/1"
HISTORY_FOLDER = "_monitoring/realized"


class RecordNotOwned(NightshiftError):
    """A monitoring record's key holds an object the monitor did not write."""


@dataclass
class PartitionReport:
    partition: str  # e.g. date=2030-02-01
    predictions: str  # the committed prediction partition
    model_version: int
    scoring_run: str
    rows_scored: int
    predictions_sha256: str = ""  # the committed part file judged: a rescore under the same run id differs
    rows_labelled: int = 0
    labels: dict[str, str] = field(default_factory=dict)  # label object -> its ETag
    metrics: dict[str, float | None] = field(default_factory=dict)
    bounds: dict[str, float] = field(default_factory=dict)
    breaches: list[str] = field(default_factory=list)
    skew: str = "not measured"
    problem: str = ""  # why nothing could be joined (a label feed that cannot be read or matched)
    computed_at: str = ""  # set when the metrics were computed; a reused record keeps its own

    def line(self) -> str:
        shown = " ".join(f"{k}={v:.4f}" for k, v in self.metrics.items() if v is not None) or "-"
        status = "BREACH: " + "; ".join(self.breaches) if self.breaches else (
            f"ERROR: {self.problem}" if self.problem else "ok")
        return (f"{self.partition} v{self.model_version} scored={self.rows_scored} labelled={self.rows_labelled} "
                f"{shown} skew={self.skew} {status}")

    def record(self) -> dict[str, Any]:
        return {"format": RECORD_FORMAT, **asdict(self)}


def _objects(client: Any, uri: S3Uri) -> list[dict[str, Any]]:
    """Every object under the prefix (key, ETag, ...); none when the bucket was never made."""
    try:
        return [obj for page in client.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=uri.key)
                for obj in page.get("Contents", [])]
    except Exception as exc:  # botocore's ClientError
        if error_code(exc) == "NoSuchBucket":
            return []
        raise


def scored_partitions(client: Any, output_uri: str) -> list[tuple[str, dict[str, Any]]]:
    """(partition, marker) of every committed prediction partition, oldest partition first."""
    uri = S3Uri.parse(output_uri.rstrip("/") + "/")
    found = []
    for key in (obj["Key"] for obj in _objects(client, uri)):
        rest = key[len(uri.key):]
        if rest.count("/") == 1 and rest.endswith("/" + MARKER):
            partition = rest.split("/")[0]
            marker = read_marker(client, f"s3://{uri.bucket}/{uri.key}{partition}/")
            if marker is not None:
                found.append((partition, marker))
    return sorted(found)


def label_objects(client: Any, labels: str) -> dict[str, str]:
    """Label files at or under `labels`, each with its fingerprint: an S3 object's ETag, a local file's sha256
    (`nightshift monitor --labels` takes a file on disk or a folder of <partition>/ folders too)."""
    if not labels.startswith("s3://"):
        return _local_label_files(Path(labels))
    uri = S3Uri.parse(labels)
    return {f"s3://{uri.bucket}/{obj['Key']}": obj["ETag"] for obj in _objects(client, uri)
            if not obj["Key"].endswith("/") and not Path(obj["Key"]).name.startswith(("_", "."))}


def _local_label_files(path: Path) -> dict[str, str]:
    from nightshift.core.registry.manifest import sha256_file

    files = [path] if path.is_file() else sorted(
        p for p in (path.iterdir() if path.is_dir() else ()) if p.is_file() and not p.name.startswith(("_", ".")))
    return {str(p): "sha256:" + sha256_file(p) for p in files}


def read_frame(client: Any, source: str, workdir: Path, *, expect: str | None = None) -> pd.DataFrame:
    """A CSV (optionally gzip'd) or Parquet file as a DataFrame; `expect` pins the object's fingerprint."""
    import pandas as pd

    from nightshift.control.reading import read_table
    from nightshift.core.scoring_input import fetch_input, is_parquet

    local, _ = fetch_input(client, source, workdir, expect=expect)
    try:
        return pd.read_parquet(local) if is_parquet(local) else read_table(str(local))
    finally:
        local.unlink(missing_ok=True)


def _prediction_frame(client: Any, predictions: str, marker: dict[str, Any], workdir: Path) -> pd.DataFrame:
    import pandas as pd

    from nightshift.core.output_location import location_for
    from nightshift.core.registry.manifest import sha256_file

    part = committed_part(marker)
    local = workdir / "predictions.parquet"
    location_for(client, predictions).download(part, local)
    if sha256_file(local) != marker["files"][0]["sha256"]:
        raise NightshiftError(f"{predictions}{part}: does not match the sha256 in its {MARKER}")
    try:
        return pd.read_parquet(local)
    finally:
        local.unlink()


def labels_for(spec: PipelineSpec, partition: str, override: str | None) -> str:
    """Where the labels of a scored partition are: the override file, `<override prefix>/<partition>/`, or the
    spec's labels_uri with the partition."""
    assert spec.monitoring is not None
    if override and not override.endswith("/"):
        return override
    base = override or spec.monitoring.labels_uri
    return f"{base.rstrip('/')}/{partition}/"


def evaluate_partition(client: Any, spec: PipelineSpec, partition: str, marker: dict[str, Any], *,
                       labels_uri: str | None = None, previous: dict[str, Any] | None = None) -> PartitionReport:
    """Realized metrics of one scored partition; `previous` (its last record) is reused when neither the
    predictions nor the labels changed since."""
    import pandas as pd

    mon = spec.monitoring
    assert mon is not None
    predictions = f"{spec.scoring.output_uri.rstrip('/')}/{partition}/"
    report = PartitionReport(partition=partition, predictions=predictions, model_version=int(marker["model_version"]),
                             scoring_run=str(marker["run_id"]), rows_scored=int(marker["rows"]),
                             predictions_sha256=str(marker["files"][0]["sha256"]), bounds=dict(mon.min_realized),
                             skew=str((marker.get("skew") or {}).get("status", "not measured")),
                             computed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    where = labels_for(spec, partition, labels_uri)
    report.labels = label_objects(client, where)
    if not report.labels:
        return report
    if previous and previous.get("labels") == report.labels and not previous.get("problem") \
            and previous.get("predictions_sha256") == report.predictions_sha256:
        return PartitionReport(**{k: v for k, v in previous.items() if k in PartitionReport.__dataclass_fields__})
    metric_names = reported_metrics(spec.evaluation.gate_metric)
    with tempfile.TemporaryDirectory(prefix="nightshift-monitor-") as tmp:
        work = Path(tmp)
        try:
            frame = _prediction_frame(client, predictions, marker, work)
            labels = pd.concat([read_frame(client, uri, work, expect=etag) for uri, etag in report.labels.items()],
                               ignore_index=True)
            scored = None
            if not spec.scoring.key_column:
                scored = read_frame(client, str(marker["source"]), work, expect=marker.get("source_fingerprint"))
            joined = join_labels(frame, scored, labels, label_column=mon.label_column, label_rule=mon.label_rule,
                                 key_column=spec.scoring.key_column, where=where)
        except (LabelFeedError, NightshiftError) as exc:
            report.problem = str(exc)
            return report
    report.rows_labelled = len(joined)
    report.metrics = realized_metrics(joined, metric_names, where)
    report.breaches = breaches(report.metrics, mon.min_realized, report.rows_labelled, mon.min_labelled_rows)
    return report


def history_uri(spec: PipelineSpec, partition: str = "", version: int | None = None) -> str:
    base = f"{spec.reports_uri.rstrip('/')}/{spec.name}/{HISTORY_FOLDER}/"
    if not partition:
        return base
    return f"{base}{partition}/" + (f"v{version}.json" if version is not None else "")


def read_history(client: Any, spec: PipelineSpec) -> list[dict[str, Any]]:
    """Every record the monitor wrote for this model, by partition and version."""
    uri = S3Uri.parse(history_uri(spec))
    records = []
    for key in (obj["Key"] for obj in _objects(client, uri)):
        if key.endswith(".json"):
            doc = _read_record(client, uri.bucket, key)
            if doc is not None:
                records.append(doc[0])
    return sorted(records, key=lambda r: (r["partition"], r["model_version"]))


def _read_record(client: Any, bucket: str, key: str) -> tuple[dict[str, Any], str] | None:
    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except Exception as exc:  # botocore's ClientError
        if error_code(exc) in {"NoSuchKey", "NoSuchBucket", "404"}:
            return None
        raise
    try:
        doc = json.loads(response["Body"].read())
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != RECORD_FORMAT:
        raise RecordNotOwned(f"s3://{bucket}/{key}: not a nightshift monitoring record ({RECORD_FORMAT}); "
                             "the monitor leaves it alone and records nothing there")
    return doc, response["ETag"]


def write_record(client: Any, spec: PipelineSpec, report: PartitionReport) -> str:
    """Create or replace this partition's record: only one the monitor wrote, and only if nobody replaced it
    since it was read (If-Match), else create-only (If-None-Match)."""
    uri = S3Uri.parse(history_uri(spec, report.partition, report.model_version))
    current = _read_record(client, uri.bucket, uri.key)
    condition = {"IfMatch": current[1]} if current else {"IfNoneMatch": "*"}
    try:
        client.put_object(Bucket=uri.bucket, Key=uri.key, Body=json.dumps(report.record(), indent=2).encode(),
                          ContentType="application/json", **condition)
    except Exception as exc:  # botocore's ClientError
        if precondition_failed(exc):
            raise NightshiftError(f"{uri}: replaced by another monitor run meanwhile; run the monitor again") \
                from exc
        raise
    return str(uri)


def monitor(client: Any, spec: PipelineSpec, *, labels_uri: str | None = None,
            record: bool = False) -> list[PartitionReport]:
    """Realized metrics of every scored partition; with `record`, each one with labels goes to the history."""
    previous = {(r["partition"], r["model_version"]): r for r in read_history(client, spec)} if record else {}
    reports = []
    for partition, marker in scored_partitions(client, spec.scoring.output_uri):
        prior = previous.get((partition, int(marker["model_version"])))
        report = evaluate_partition(client, spec, partition, marker, labels_uri=labels_uri, previous=prior)
        unchanged = prior is not None and asdict(report) == {k: prior.get(k) for k in asdict(report)}
        # An override (a file for every partition) records only where it labelled rows: it must not replace
        # a partition's own record with an empty one. A reused record is not written again.
        if record and report.labels and (report.rows_labelled or not labels_uri) and not unchanged:
            write_record(client, spec, report)
        reports.append(report)
    return reports


def retrain_reason(spec: PipelineSpec, reports: list[PartitionReport], served_version: int | None) -> str | None:
    """One sentence for the alert, the retraining run's conf and its note; None when the served version
    breached nothing (a breach by a version no longer served was answered by the model that replaced it).
    Two reasons count: a realized metric below its bound, and skew beyond the drift bounds in each of the
    last `monitoring.skew_runs` partitions the served version scored."""
    assert spec.monitoring is not None
    served = [r for r in reports if r.model_version == served_version]
    text = f"{spec.name} v{served_version}"
    breached = [r for r in served if r.breaches]
    if breached:
        latest = breached[-1]
        more = f" (and {len(breached) - 1} earlier partition(s))" if len(breached) > 1 else ""
        text += f" on {latest.partition}: {'; '.join(latest.breaches)}{more}"
    runs = spec.monitoring.skew_runs
    recent = served[-runs:] if runs else []
    skewed = bool(runs) and len(recent) == runs and all(r.skew.startswith("breach") for r in recent)
    if skewed:
        text += (("; " if breached else ": ") + f"skew in each of the last {runs} scored partitions "
                 f"({recent[0].partition} to {recent[-1].partition}), latest: "
                 f"{recent[-1].skew.removeprefix('breach: ')}")
    return text if breached or skewed else None

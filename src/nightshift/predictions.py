"""Prediction output layout and its atomic commit, shared by the scorer (runtime) and the gates (control).

    <output prefix>/part-00000.parquet     the predictions (row_number[, key], score, predicted_label,
                                           model_version, run_id)
    <output prefix>/_SUCCESS               the marker, written last: rows, model version, run id, sha256

A reader trusts a partition only when `_SUCCESS` is present and the file's sha256 matches it. A rerun
first removes the marker (the partition reads as "not ready"), then replaces the file, then writes the
new marker, so a partition never holds two outputs and never a half-written one that looks finished.
S3 has no rename; the marker is what makes the commit atomic for readers.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nightshift.errors import NightshiftError
from nightshift.registry.manifest import sha256_file
from nightshift.s3 import S3Uri, ensure_bucket, list_keys

MARKER = "_SUCCESS"
PART = "part-00000.parquet"


def fetch_input(client: Any, source: str, dest_dir: Path) -> Path:
    """A local path for the input: s3:// objects are streamed to disk (bounded memory), paths used as is."""
    if not source.startswith("s3://"):
        path = Path(source)
        if not path.is_file():
            raise NightshiftError(f"{source}: no such input file")
        return path
    uri = S3Uri.parse(source)
    keys = [k for k in list_keys(client, uri.bucket, uri.key) if not k.endswith("/")]
    if not keys:
        raise NightshiftError(f"{source}: no object at or under this URI")
    if len(keys) > 1:
        raise NightshiftError(f"{source}: {len(keys)} objects under this prefix; name one file to score")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / Path(keys[0]).name
    client.download_file(uri.bucket, keys[0], str(dest))
    return dest


def _marker(rows: int, model_version: int, run_id: str, sha256: str, model_uri: str, source: str) -> bytes:
    return json.dumps({"rows": rows, "model_version": model_version, "run_id": run_id, "model": model_uri,
                       "source": source, "files": [{"path": PART, "sha256": sha256}],
                       "committed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                      indent=2, sort_keys=True).encode()


def commit_output(client: Any, local_file: Path, output: str, *, rows: int, model_version: int, run_id: str,
                  model_uri: str, source: str) -> str:
    """Replace the partition's output with `local_file` and mark it committed; returns the marker's location."""
    digest = sha256_file(local_file)
    body = _marker(rows, model_version, run_id, digest, model_uri, source)
    if output.startswith("s3://"):
        uri = S3Uri.parse(output.rstrip("/") + "/")
        prefix = uri.key
        ensure_bucket(client, uri.bucket)
        client.delete_object(Bucket=uri.bucket, Key=prefix + MARKER)  # readers now see "not ready"
        for key in list_keys(client, uri.bucket, prefix):
            client.delete_object(Bucket=uri.bucket, Key=key)
        client.upload_file(str(local_file), uri.bucket, prefix + PART)
        client.put_object(Bucket=uri.bucket, Key=prefix + MARKER, Body=body, ContentType="application/json")
        return f"s3://{uri.bucket}/{prefix}{MARKER}"
    folder = Path(output)
    staging = folder.with_name(folder.name + ".committing")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copyfile(local_file, staging / PART)
    (staging / MARKER).write_bytes(body)
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)  # a local folder can be swapped in one rename
    shutil.rmtree(old, ignore_errors=True)
    return str(folder / MARKER)


def read_marker(client: Any, output: str) -> dict[str, Any] | None:
    if output.startswith("s3://"):
        uri = S3Uri.parse(output.rstrip("/") + "/")
        try:
            return json.loads(client.get_object(Bucket=uri.bucket, Key=uri.key + MARKER)["Body"].read())
        except client.exceptions.NoSuchKey:
            return None
    path = Path(output) / MARKER
    return json.loads(path.read_text()) if path.exists() else None


def verify_committed(client: Any, output: str, *, expected_rows: int, run_id: str | None = None) -> dict[str, Any]:
    """Raise unless the partition is committed, its file matches the marker, and rows match the input."""
    import tempfile

    import pyarrow.parquet as pq

    marker = read_marker(client, output)
    if marker is None:
        raise NightshiftError(f"{output}: no {MARKER} marker; the output was never committed")
    problems = []
    if marker["rows"] != expected_rows:
        problems.append(f"marker says {marker['rows']} rows, the input had {expected_rows}")
    if run_id is not None and marker["run_id"] != run_id:
        problems.append(f"marker is from run {marker['run_id']!r}, expected {run_id!r}")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / PART
        if output.startswith("s3://"):
            uri = S3Uri.parse(output.rstrip("/") + "/")
            client.download_file(uri.bucket, uri.key + PART, str(local))
        else:
            shutil.copyfile(Path(output) / PART, local)
        if sha256_file(local) != marker["files"][0]["sha256"]:
            problems.append(f"{PART} does not match the sha256 in {MARKER}")
        if pq.ParquetFile(str(local)).metadata.num_rows != expected_rows:
            problems.append(f"{PART} has {pq.ParquetFile(str(local)).metadata.num_rows} rows, expected {expected_rows}")
    if problems:
        raise NightshiftError(f"{output}: " + "; ".join(problems))
    return marker

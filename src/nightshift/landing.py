"""The raw landing zone: seeding date partitions and staging a run's window as one local CSV.

Rows travel as text through the csv module, never through a DataFrame: a pandas round trip would
turn integer columns with gaps into floats ("8" -> "8.0") and change the schema TFX infers.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nightshift.errors import NightshiftError
from nightshift.s3 import S3Uri, ensure_bucket, list_keys
from nightshift.windows import DataWindow, partition_date, partition_prefix, select_partitions

log = logging.getLogger(__name__)
PART_NAME = "part-00000.csv"


def split_by_date(csv_path: Path, timestamp_column: str) -> tuple[list[str], dict[str, list[list[str]]]]:
    """Header and rows grouped by the UTC date of `timestamp_column` (unix seconds)."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise NightshiftError(f"{csv_path}: empty file, expected a CSV header")
        if timestamp_column not in header:
            raise NightshiftError(
                f"{csv_path}: column {timestamp_column!r} not found; header has {', '.join(header)}"
            )
        idx = header.index(timestamp_column)
        groups: dict[str, list[list[str]]] = defaultdict(list)
        for lineno, row in enumerate(reader, start=2):
            try:
                day = datetime.fromtimestamp(int(float(row[idx])), tz=timezone.utc).date().isoformat()
            except (ValueError, IndexError) as exc:
                raise NightshiftError(
                    f"{csv_path}:{lineno}: column {timestamp_column!r} must be unix seconds, got "
                    f"{row[idx] if idx < len(row) else '<missing>'!r}"
                ) from exc
            groups[day].append(row)
    return header, groups


def _to_csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


@dataclass(frozen=True)
class SeedResult:
    uri: str
    partitions: int
    rows: int
    first_day: str
    last_day: str


def seed(client: Any, csv_path: Path, raw_uri: str, timestamp_column: str, *, workers: int = 8) -> SeedResult:
    """Upload a CSV as one object per trip date. Re-seeding overwrites the same keys (idempotent)."""
    header, groups = split_by_date(csv_path, timestamp_column)
    base = S3Uri.parse(raw_uri)
    ensure_bucket(client, base.bucket)

    def put(day: str) -> None:
        key = partition_prefix(base.key, datetime.fromisoformat(day).date()) + PART_NAME
        client.put_object(Bucket=base.bucket, Key=key, Body=_to_csv(header, groups[day]))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(put, sorted(groups)))
    days = sorted(groups)
    return SeedResult(raw_uri, len(days), sum(len(r) for r in groups.values()), days[0], days[-1])


@dataclass(frozen=True)
class StagedData:
    path: Path
    rows: int
    partitions: int
    first_partition: str
    last_partition: str
    window: DataWindow

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.window.as_dict(),
            "rows": self.rows,
            "partitions": self.partitions,
            "first_partition": self.first_partition,
            "last_partition": self.last_partition,
            "path": str(self.path),
        }


def stage_window(client: Any, raw_uri: str, window: DataWindow, dest: Path, *, workers: int = 8) -> StagedData:
    """Download the window's partitions and concatenate them (one header) into `dest`."""
    base = S3Uri.parse(raw_uri)
    keys = select_partitions(list_keys(client, base.bucket, base.key), window, where=raw_uri)

    def fetch(key: str) -> bytes:
        return client.get_object(Bucket=base.bucket, Key=key)["Body"].read()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        bodies = list(pool.map(fetch, keys))

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".partial")
    header: list[str] | None = None
    rows = 0
    with tmp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        for key, body in zip(keys, bodies, strict=True):
            reader = csv.reader(io.StringIO(body.decode("utf-8")))
            part_header = next(reader, None)
            if part_header is None:
                continue  # an empty object holds no rows; the gate decides whether the total is enough
            if header is None:
                header = part_header
                writer.writerow(header)
            elif part_header != header:
                raise NightshiftError(
                    f"s3://{base.bucket}/{key}: header differs from the window's first partition; "
                    f"expected {','.join(header)}, got {','.join(part_header)}"
                )
            for row in reader:
                writer.writerow(row)
                rows += 1
    tmp.replace(dest)
    first, last = partition_date(keys[0]), partition_date(keys[-1])
    log.info("staged %d rows from %d partitions (%s .. %s) into %s", rows, len(keys), first, last, dest)
    return StagedData(dest, rows, len(keys), str(first), str(last), window)

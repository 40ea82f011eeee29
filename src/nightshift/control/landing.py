"""The raw landing zone: seeding date partitions and staging a run's window as one local CSV.

Rows travel as text through the csv module, never through a DataFrame: a pandas round trip would
turn integer columns with gaps into floats ("8" -> "8.0") and change the schema TFX infers.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timezone
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from nightshift.core.errors import NightshiftError
from nightshift.core.s3 import S3Uri, ensure_bucket, get_bytes, list_etags, list_keys, put_if_absent
from nightshift.core.windows import DataWindow, partition_date, partition_prefix, select_partitions

if TYPE_CHECKING:
    from nightshift.control.partition_cache import PartitionCache

log = logging.getLogger(__name__)
PART_NAME = "part-00000.csv"
T = TypeVar("T")


def _read_header(reader: Iterator[list[str]], csv_path: Path) -> list[str]:
    header = next(reader, None)
    if not header:
        raise NightshiftError(f"{csv_path}: empty file, expected a CSV header")
    return header


def split_by_date(csv_path: Path, timestamp_column: str) -> tuple[list[str], dict[str, list[list[str]]]]:
    """Header and rows grouped by the UTC date of `timestamp_column` (unix seconds)."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = _read_header(reader, csv_path)
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


def read_whole(csv_path: Path, day: date) -> tuple[list[str], dict[str, list[list[str]]]]:
    """Header and every row as one day's partition (for data without a timestamp column)."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        return _read_header(reader, csv_path), {day.isoformat(): list(reader)}


def seed(client: Any, csv_path: Path, raw_uri: str, timestamp_column: str | None, *, workers: int = 8,
         day: date | None = None) -> SeedResult:
    """Upload a CSV as one object per date of `timestamp_column`, or, without one, as a single partition
    dated `day` (default: today, UTC). Re-seeding the same data is a no-op; a partition that already holds
    other data (landed by an ingestion job, or an earlier file) is never overwritten: seeding refuses
    before writing anything, naming up to ten such partitions."""
    if timestamp_column:
        header, groups = split_by_date(csv_path, timestamp_column)
    else:
        header, groups = read_whole(csv_path, day or datetime.now(timezone.utc).date())
    base = S3Uri.parse(raw_uri)
    ensure_bucket(client, base.bucket)
    keys = {day: partition_prefix(base.key, datetime.fromisoformat(day).date()) + PART_NAME for day in groups}
    existing = set(list_keys(client, base.bucket, base.key))

    def differs(day: str) -> bool:
        """The partition holds something but this seed's own file: another file of any name (stage_window would
        train on both), or this name with other bytes."""
        folder = keys[day][: -len(PART_NAME)]
        if any(k.startswith(folder) and k != keys[day] for k in existing):
            return True
        return keys[day] in existing and get_bytes(client, base.bucket, keys[day]) != _to_csv(header, groups[day])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        taken = [day for day, d in zip(sorted(groups), pool.map(differs, sorted(groups)), strict=True) if d]
    if taken:
        raise NightshiftError(f"{raw_uri}: {len(taken)} partition(s) already hold other data and are never "
                              "overwritten: " + ", ".join(f"s3://{base.bucket}/{keys[d]}" for d in taken[:10])
                              + ("" if len(taken) <= 10 else " and more") + "; seed into another prefix or "
                              "remove them yourself")

    def put(day: str) -> None:
        if keys[day] not in existing:  # create-only: a partition landed meanwhile is left as it is
            put_if_absent(client, base.bucket, keys[day], _to_csv(header, groups[day]), "text/csv")

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
    problems: tuple[str, ...] = ()  # partitions left out because they could not be merged; the gate fails on them
    partition_uris: tuple[dict[str, str], ...] = ()  # every partition read, with the ETag it had: lineage
    downloaded: int = 0  # partitions fetched from S3; the others came from the partition cache

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.window.as_dict(),
            "rows": self.rows,
            "partitions": self.partitions,
            "first_partition": self.first_partition,
            "last_partition": self.last_partition,
            "path": str(self.path),
            "problems": list(self.problems),
            "downloaded": self.downloaded,
        }


def _header_problem(where: str, expected: list[str], got: list[str]) -> str | None:
    if got == expected or sorted(got) == sorted(expected):
        return None
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    return (f"{where}: columns differ from the window's first partition: missing {missing or 'none'}, "
            f"unexpected {extra or 'none'}")


def _prefetch(pool: ThreadPoolExecutor, fetch: Callable[[str], T], keys: list[str], depth: int) -> Iterator[T]:
    """fetch(key) for every key, in order, with at most `depth` fetched or in flight at any time."""
    pending: deque[Future[T]] = deque()
    ahead = iter(keys)
    for key in islice(ahead, depth):
        pending.append(pool.submit(fetch, key))
    while pending:
        result = pending.popleft().result()
        for key in islice(ahead, 1):
            pending.append(pool.submit(fetch, key))
        yield result


def stage_window(client: Any, raw_uri: str, window: DataWindow, dest: Path, *, workers: int = 8,
                 cache: PartitionCache | None = None, integer_columns: tuple[str, ...] = ()) -> StagedData:
    """Download the window's partitions and merge them (one header, the first partition's column order)
    into `dest`. A partition that cannot be read or has other columns is left out and reported in
    `problems`, so the contract gate can name it; nothing here decides whether the data is good.
    With `cache`, a partition whose local copy is the object S3 lists is read from there, not downloaded.
    `integer_columns` are written as integers (nightshift.core.csv_integers: "480.0" as 480), so ExampleGen
    infers the type the contract declares whatever tool wrote the file; a fraction there leaves the partition
    out, named with its line and value."""
    from nightshift.control.reading import UnreadableInput, check_delimiter, decode_text

    base = S3Uri.parse(raw_uri)
    listed = list_etags(client, base.bucket, base.key)
    keys = select_partitions(list(listed), window, where=raw_uri)

    def fetch(key: str) -> tuple[bytes, str, bool]:
        if cache is not None and (body := cache.get(base.bucket, key, listed[key])) is not None:
            return body, listed[key], False
        response = client.get_object(Bucket=base.bucket, Key=key)
        body, etag = response["Body"].read(), response.get("ETag", "").strip('"')
        if cache is not None:
            cache.put(base.bucket, key, etag, body)
        return body, etag, True

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".partial")
    header: list[str] | None = None
    rows = 0
    problems: list[str] = []
    etags: list[str] = []
    downloaded = 0
    with tmp.open("w", newline="", encoding="utf-8") as out, ThreadPoolExecutor(max_workers=workers) as pool:
        writer = csv.writer(out, lineterminator="\n")
        # Partitions are written in order as they arrive; at most 2 x workers are held at once, so memory is
        # bounded by the partition size, not by the window.
        for key, (body, etag, was_downloaded) in zip(keys, _prefetch(pool, fetch, keys, depth=2 * workers),
                                                     strict=True):
            etags.append(etag)
            downloaded += was_downloaded
            where = f"s3://{base.bucket}/{key}"
            try:
                text = decode_text(body, where)
            except UnreadableInput as exc:
                problems.append(str(exc))
                continue
            del body
            try:
                check_delimiter(text, where, header)
            except UnreadableInput as exc:
                problems.append(str(exc))
                continue
            reader = csv.reader(io.StringIO(text))
            part_header = next(reader, None) or []
            if header is None:
                header = part_header
                writer.writerow(header)
            elif problem := _header_problem(where, header, part_header):
                problems.append(problem)
                continue
            order = [part_header.index(c) for c in header]
            ints = [(header.index(c), c) for c in integer_columns if c in header]
            kept: list[list[str]] = []
            for row in reader:
                if len(row) != len(part_header):
                    problems.append(f"{where}: line {reader.line_num}: {len(row)} fields, header has "
                                    f"{len(part_header)}")
                    break
                merged = [row[i] for i in order]
                if ints and (problem := _as_integers(merged, ints)):
                    problems.append(f"{where}: line {reader.line_num}: {problem}")
                    break
                kept.append(merged)
            else:
                writer.writerows(kept)  # a partition goes in whole or not at all
                rows += len(kept)
        if header is None:
            writer.writerow([])
    tmp.replace(dest)
    read_as = tuple({"uri": f"s3://{base.bucket}/{key}", "etag": etag} for key, etag in zip(keys, etags, strict=True))
    first, last = partition_date(keys[0]), partition_date(keys[-1])
    if cache is not None:
        pruned = cache.prune(base.bucket, base.key, set(listed))
        log.info("partition cache: %d of %d partitions downloaded, %d read from %s; removed %d copies of objects "
                 "no longer listed and %d unused for %g days", downloaded, len(keys), len(keys) - downloaded,
                 cache.root, pruned.unlisted, pruned.idle, cache.max_idle_seconds / 86400)
    log.info("staged %d rows from %d partitions (%s .. %s) into %s; %d problem(s)", rows, len(keys), first, last,
             dest, len(problems))
    return StagedData(dest, rows, len(keys), str(first), str(last), window, tuple(problems), read_as, downloaded)


def _as_integers(row: list[str], columns: list[tuple[int, str]]) -> str | None:
    """Whole-valued floats in `columns` rewritten as integers in place; the problem with the first that is not
    a whole number, else None. Plain digits need no rule: the taxi data's own integers cost one isdigit()."""
    from nightshift.core.csv_integers import parse_int_text

    for index, name in columns:
        value = row[index]
        if value and not value.isdigit():
            try:
                row[index] = str(parse_int_text(value))
            except ValueError:
                return f"column {name!r}: {value!r} is not a whole number (the contract reads it as integers)"
    return None

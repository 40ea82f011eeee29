"""A corpus of bad and unusual taxi files, made from the real data, each with what the gate must say.

Every file is one day's partition: rows sampled from the real CSV with their start times moved into
that day, so a file fails only for the one thing it breaks.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

SAMPLE_ROWS = 400
NAMES = ("missing_column", "renamed_column", "text_in_numeric", "negative_fares", "out_of_range_durations",
         "mostly_null_required", "unknown_payment_types", "empty_file", "header_only", "truncated_gzip",
         "wrong_delimiter", "stale_partition", "duplicated_rows", "latin1_encoding", "fare_in_cents",
         "durations_in_minutes", "timestamps_in_milliseconds", "latitude_in_microdegrees",
         "fraction_in_integer_column", "columns_reordered", "crlf_line_endings", "quoted_commas_newlines",
         "gzip_compressed", "pandas_round_trip", "arrow_round_trip")


@dataclass(frozen=True)
class CorpusFile:
    name: str
    content: bytes
    exit_code: int  # of `nightshift validate`: 0 ok, 1 contract failure, 3 unreadable
    message: str  # a substring the verdict must contain
    suffix: str = ".csv"
    scope: str | None = None  # `nightshift validate --scope`; None = the command's default for a partition


def _sample(source: Path, day: date, rows: int = SAMPLE_ROWS) -> tuple[list[str], list[list[str]]]:
    with source.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        body = [row for _, row in zip(range(rows), reader, strict=False)]
    ts = header.index("trip_start_timestamp")
    base = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
    for i, row in enumerate(body):
        row[ts] = str(base + (i * 197) % 86_000)  # distinct start times within the day
    return header, body


def _csv(header: list[str], rows: list[list[str]], *, delimiter: str = ",", newline: str = "\n",
         quoting: int = csv.QUOTE_MINIMAL) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=newline, quoting=quoting).writerows([header, *rows])
    return buf.getvalue().encode("utf-8")


def _set(header: list[str], rows: list[list[str]], column: str, value: Callable[[int, str], str],
         every: int = 5) -> list[list[str]]:
    idx = header.index(column)
    out = [list(r) for r in rows]
    for i, row in enumerate(out):
        if i % every == 0:
            row[idx] = value(i, row[idx])
    return out


def _scaled(value: str, factor: float, digits: int = 2) -> str:
    return "" if value == "" else f"{float(value) * factor:.{digits}f}"


def build(source: Path, day: date) -> list[CorpusFile]:
    header, rows = _sample(source, day)
    good = _csv(header, rows)
    files = [
        CorpusFile("missing_column", _csv([h for h in header if h != "tips"],
                                          [[v for h, v in zip(header, r, strict=True) if h != "tips"] for r in rows]),
                   1, "expect_table_columns_to_match_set"),
        CorpusFile("renamed_column", _csv(["tip_amount" if h == "tips" else h for h in header], rows),
                   1, "expect_table_columns_to_match_set"),
        CorpusFile("text_in_numeric", _csv(header, _set(header, rows, "fare", lambda i, v: "twelve dollars")),
                   1, "column fare: expect_column_values_to_be_in_type_list"),
        CorpusFile("negative_fares", _csv(header, _set(header, rows, "fare", lambda i, v: f"-{float(v or 0) + 1}")),
                   1, "column fare: expect_column_values_to_be_between"),
        CorpusFile("out_of_range_durations",
                   _csv(header, _set(header, rows, "trip_seconds", lambda i, v: "200000")),
                   1, "column trip_seconds: expect_column_values_to_be_between"),
        CorpusFile("mostly_null_required",
                   _csv(header, _set(header, rows, "trip_seconds", lambda i, v: "", every=1)),
                   1, "column trip_seconds: expect_column_values_to_not_be_null"),
        CorpusFile("unknown_payment_types",
                   _csv(header, _set(header, rows, "payment_type", lambda i, v: "Bitcoin")),
                   1, "column payment_type: expect_column_values_to_be_in_set"),
        CorpusFile("empty_file", b"", 3, "empty"),
        CorpusFile("header_only", _csv(header, []), 1, "expect_table_row_count_to_be_between"),
        CorpusFile("truncated_gzip", gzip.compress(good)[: len(gzip.compress(good)) // 2], 3, "compression: gzip",
                   suffix=".csv.gz"),
        CorpusFile("wrong_delimiter", _csv(header, rows, delimiter=";"), 3, "delimiter: expected ','"),
        CorpusFile("stale_partition", _csv(*_sample(source, date(2014, 3, 3))), 1,
                   "column trip_start_timestamp: expect_column_values_to_be_between"),
        CorpusFile("duplicated_rows", _csv(header, rows + rows), 1, "expect_compound_columns_to_be_unique"),
        CorpusFile("latin1_encoding", _csv(header, _set(header, rows, "company", lambda i, v: "Café Cab"))
                   .decode().encode("latin-1"), 3, "encoding: not UTF-8"),
        # Right type, wrong unit or scale: only the contract's domains catch these (see docs/adding-a-pipeline.md).
        CorpusFile("fare_in_cents", _csv(header, _set(header, rows, "fare", lambda i, v: _scaled(v, 100), every=1)),
                   1, "column fare: expect_column_values_to_be_between"),
        # Every value is a plausible number of seconds: only the median says "minutes", and a median needs more
        # rows than a one-day partition of the real data holds (about ten), so it is checked on a whole file.
        CorpusFile("durations_in_minutes",
                   _csv(header, _set(header, rows, "trip_seconds", lambda i, v: _scaled(v, 1 / 60, digits=0),
                                     every=1)),
                   1, "column trip_seconds: expect_column_median_to_be_between", scope="window"),
        CorpusFile("timestamps_in_milliseconds",
                   _csv(header, _set(header, rows, "trip_start_timestamp", lambda i, v: v + "000", every=1)),
                   1, "'max_value': 4102444800"),
        CorpusFile("latitude_in_microdegrees",
                   _csv(header, _set(header, rows, "pickup_latitude", lambda i, v: _scaled(v, 1e6, digits=0),
                                     every=1)),
                   1, "column pickup_latitude: expect_column_values_to_be_between"),
        # An integer column (the model reads trip_start_hour as INT) holding a fraction on line 5.
        CorpusFile("fraction_in_integer_column",
                   _csv(header, _set(header, rows, "trip_start_hour", lambda i, v: "13.5" if i == 3 else v, every=1)),
                   3, "column 'trip_start_hour', line 5: '13.5' is not a whole number"),
    ]
    # Valid files in unusual shapes: the gate must pass them.
    order = list(reversed(header))
    files += [
        CorpusFile("columns_reordered", _csv(order, [[r[header.index(c)] for c in order] for r in rows]), 0,
                   "meets contract"),
        CorpusFile("crlf_line_endings", _csv(header, rows, newline="\r\n"), 0, "meets contract"),
        CorpusFile("quoted_commas_newlines",
                   _csv(header, _set(header, rows, "company", lambda i, v: 'Taxi, "North"\nSide Inc.', every=3),
                        quoting=csv.QUOTE_ALL), 0, "meets contract"),
        CorpusFile("gzip_compressed", gzip.compress(good), 0, "meets contract", suffix=".csv.gz"),
        # As common tools write the same rows: pandas writes an integer column with gaps as 17031081000.0;
        # Arrow quotes every string and header.
        CorpusFile("pandas_round_trip", _pandas_round_trip(good), 0, "meets contract"),
        CorpusFile("arrow_round_trip", _arrow_round_trip(good), 0, "meets contract"),
    ]
    return files


def _pandas_round_trip(data: bytes) -> bytes:
    import pandas as pd

    written = pd.read_csv(io.BytesIO(data)).to_csv(index=False).encode("utf-8")
    assert b"17031081000.0" in written or b".0," in written  # the shape that made the scorer refuse such files
    return written


def _arrow_round_trip(data: bytes) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(pacsv.read_csv(pa.BufferReader(data)), sink)
    return sink.getvalue().to_pybytes()


def write(files: list[CorpusFile], folder: Path, day: date) -> dict[str, Path]:
    """Each file as `<folder>/<name>/date=<day>/part-00000<suffix>` (a partition path, as landed)."""
    out = {}
    for f in files:
        path = folder / f.name / f"date={day.isoformat()}" / f"part-00000{f.suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content)
        out[f.name] = path
    return out


def held_out(source: Path, rows: int) -> bytes:
    """The last `rows` trips of the taxi CSV without the label column, as a scoring job gets them."""
    with source.open(newline="") as fh:
        data = list(csv.reader(fh))
    drop = data[0].index("tips")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[v for i, v in enumerate(r) if i != drop]
                                                   for r in [data[0], *data[-rows:]]])
    return buf.getvalue().encode()

"""A scoring input read as the model parses it: Arrow record batches of bounded size from CSV (optionally
gzip'd) or Parquet, each feature typed as the model's feature spec says, turned into the column tensors of
the `serving_columns` signature or the list columns tfx_bsl's Examples encoder takes."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nightshift.core.errors import NightshiftError
from nightshift.core.scoring_input import is_parquet

ARROW_TYPES = {"float": pa.float32(), "int": pa.int64(), "string": pa.binary()}
# Arrow parses CSV a block at a time, several blocks ahead on its own threads; batches are re-cut to chunk_rows
# anyway. 1 MiB blocks: the first batch in 0.03 s (5 MiB blocks: 0.13 s), the same CPU per row.
CSV_BLOCK_BYTES = 1 << 20


class ScoringInputError(NightshiftError):
    """The scoring input cannot be scored (a required column is missing, a value has the wrong type)."""


def iter_batches(path: Path, spec: dict[str, dict[str, Any]], chunk_rows: int,
                 key_column: str | None = None, where: str | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches of exactly chunk_rows rows (the last one fewer), feature columns typed as the model
    parses them. One size matters to TensorFlow: on this machine the first call of a signature on a batch
    size it has not seen yet costs ~0.15 s more than the next, and the model is warmed up on chunk_rows rows."""
    return _exactly(_read_batches(path, spec, chunk_rows, key_column, where), chunk_rows)


def _read_batches(path: Path, spec: dict[str, dict[str, Any]], chunk_rows: int, key_column: str | None,
                  where: str | None) -> Iterator[pa.RecordBatch]:
    """Batches as the reader cuts them: Parquet by row group and batch size, CSV by bytes."""
    if is_parquet(path):
        parquet = pq.ParquetFile(path)
        _require_key(where or str(path), parquet.schema_arrow.names, key_column)
        yield from parquet.iter_batches(batch_size=chunk_rows)
        return
    # Ints read as text, then by the one rule (nightshift.core.csv_integers): exact beyond 2**53, a whole-valued
    # float such as pandas writes ("17031081000.0") accepted, "5.7" refused naming the column, line and value
    # rather than read as a float and cut to 5.
    int_columns = [name for name, info in spec.items() if info["dtype"] == "int"]
    column_types = {name: {"float": pa.float64()}.get(info["dtype"], pa.string()) for name, info in spec.items()}
    if key_column:
        column_types[key_column] = pa.string()
    stream = pa.input_stream(str(path), compression="detect")
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            # Only an empty field is missing, as in CsvExampleGen (tfx_bsl's CSV decoder), which the model was
            # trained from: Arrow's default list would also turn a string "NA", "NULL" or "nan" into missing.
            convert_options=pacsv.ConvertOptions(column_types=column_types, null_values=[""],
                                                 strings_can_be_null=True),
        )
        _require_key(where or str(path), reader.schema.names, key_column)
        line = 2  # the header is line 1
        for batch in reader:
            yield _with_int_columns(batch, int_columns, where or str(path), line)
            line += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise ScoringInputError(f"{path}: {_name_the_column(str(exc), path)}") from exc


def _with_int_columns(batch: pa.RecordBatch, names: list[str], where: str, first_line: int) -> pa.RecordBatch:
    from nightshift.core.csv_integers import NotAnInteger, int_column

    present = [n for n in names if n in batch.schema.names]
    if not present:
        return batch
    arrays, fields = list(batch.columns), list(batch.schema)
    try:
        for name in present:
            i = batch.schema.get_field_index(name)
            arrays[i] = int_column(arrays[i], where=where, column=name, first_line=first_line)
            fields[i] = pa.field(name, pa.int64())
    except NotAnInteger as exc:
        raise ScoringInputError(str(exc)) from exc
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _name_the_column(message: str, path: Path) -> str:
    """Arrow's conversion errors count columns ("In CSV column #3: ..."); a user looks for a name."""
    found = re.search(r"CSV column #(\d+)", message)
    if not found:
        return message
    with pa.input_stream(str(path), compression="detect") as stream:
        header = next(csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")), [])
    index = int(found.group(1))
    return f"column {header[index]!r}: {message}" if index < len(header) else message


def _exactly(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """`batches` re-cut into batches of `rows` rows (the last one fewer). Arrow has no re-batching stream, so
    this slices (zero copy) and concatenates only the pieces that straddle a cut."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - held, batch.num_rows)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == rows:
                yield _concatenated(pending)
                pending, held = [], 0
    if held:
        yield _concatenated(pending)


def _concatenated(pieces: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(pieces) == 1:
        return pieces[0]
    return pa.Table.from_batches(pieces).combine_chunks().to_batches()[0]


def _require_key(where: str, columns: list[str], key_column: str | None) -> None:
    """The key column joins predictions back to their rows: never silently another column."""
    if key_column and key_column not in columns:
        raise ScoringInputError(f"{where}: key column {key_column!r} (the spec's scoring.key_column) is missing; "
                                f"columns found: {', '.join(columns)}")


def _as_list_array(array: pa.Array) -> pa.ListArray:
    valid = np.asarray(array.is_valid())
    offsets = np.zeros(len(array) + 1, dtype=np.int32)
    np.cumsum(valid, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), array.drop_null())


def _feature_column(batch: pa.RecordBatch, name: str, info: dict[str, Any], where: str) -> pa.Array:
    """One raw feature's column, typed as the model parses it; nulls where an optional feature is absent."""
    dtype = ARROW_TYPES[info["dtype"]]
    if name not in batch.schema.names:
        if info["required"]:
            raise ScoringInputError(f"{where}: column {name!r} is missing; the model requires it")
        return pa.nulls(batch.num_rows, dtype)
    column = batch.column(batch.schema.get_field_index(name))
    if info["required"] and column.null_count:
        raise ScoringInputError(f"{where}: column {name!r} has {column.null_count} empty value(s) in a "
                                "chunk; the model requires a value in every row")
    try:
        if column.type != dtype:
            column = column.cast(dtype)  # a safe cast: a float column's whole numbers only (Parquet from pandas)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ScoringInputError(f"{where}: column {name!r}: expected {info['dtype']} values ({exc})") from exc
    return column


def placeholder_batch(spec: dict[str, dict[str, Any]], rows: int) -> pa.RecordBatch:
    """`rows` rows with every feature present and zero (or empty): input for warming a model up, never scored."""
    arrays = [pa.repeat(pa.scalar(b"" if info["dtype"] == "string" else 0, ARROW_TYPES[info["dtype"]]), rows)
              for info in spec.values()]
    return pa.RecordBatch.from_arrays(arrays, list(spec))


def to_examples_batch(batch: pa.RecordBatch, spec: dict[str, dict[str, Any]], where: str) -> pa.RecordBatch:
    """The model's raw features as list columns, ready for tfx_bsl's Examples encoder."""
    arrays = [_as_list_array(_feature_column(batch, name, info, where)) for name, info in spec.items()]
    return pa.RecordBatch.from_arrays(arrays, list(spec))


def to_column_tensors(batch: pa.RecordBatch, spec: dict[str, dict[str, Any]], where: str) -> dict[str, np.ndarray]:
    """The model's raw features as `<name>` values + `<name>__present` masks, for `serving_columns`."""
    out: dict[str, np.ndarray] = {}
    for name, info in spec.items():
        column = _feature_column(batch, name, info, where)
        filler = pa.scalar(b"" if info["dtype"] == "string" else 0, column.type)
        out[name] = column.fill_null(filler).to_numpy(zero_copy_only=False)
        out[name + "__present"] = column.is_valid().to_numpy(zero_copy_only=False)
    return out

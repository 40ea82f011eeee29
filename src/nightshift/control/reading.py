"""Reading a data file for validation or scoring, with a precise reason when it cannot be read at all.

"Cannot be read" (exit 2 in `nightshift validate`) is kept apart from "read, but breaks the contract"
(exit 1): a truncated gzip, a wrong encoding, a wrong delimiter or an empty file are named as such
instead of surfacing as a confusing column-level failure.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightshift.core.errors import NightshiftError
from nightshift.core.prefetch import prefetch

if TYPE_CHECKING:
    import pandas as pd

GZIP_MAGIC = b"\x1f\x8b"


class UnreadableInput(NightshiftError):
    """The input cannot be parsed as a CSV table at all."""


def load_bytes(source: str, client: Any = None) -> bytes:
    if source.startswith("s3://"):
        from nightshift.core.s3 import S3Uri, client_from_env

        uri = S3Uri.parse(source)
        client = client or client_from_env(role="ingestion")  # the raw zone's role, never the admin
        try:
            return client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        except client.exceptions.NoSuchKey as exc:
            raise UnreadableInput(f"{source}: no such object") from exc
    path = Path(source)
    if not path.is_file():
        raise UnreadableInput(f"{source}: no such file")
    return path.read_bytes()


def decompress(data: bytes, where: str) -> bytes:
    """Raw bytes, un-gzipped when they start with gzip's magic number (not judged by the file name)."""
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise UnreadableInput(f"{where}: compression: gzip stream is truncated or corrupt ({exc})") from exc
    if not data.strip():
        raise UnreadableInput(f"{where}: empty: the file has no header and no rows")
    return data


def check_utf8(data: bytes, where: str) -> None:
    """Refuse anything that is not UTF-8, naming the first bad byte and its offset."""
    try:
        codecs.decode(data, "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(
            f"{where}: encoding: not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); "
            "re-export the file as UTF-8"
        ) from exc


def decode_text(data: bytes, where: str) -> str:
    """Raw bytes (gzip detected by its magic number, not the file name) to text."""
    data = decompress(data, where)
    check_utf8(data, where)
    return data.decode("utf-8-sig")


def head_text(data: bytes, limit: int = 64 * 1024) -> str:
    """The first `limit` bytes as text (a multi-byte character cut at the end is dropped), for sniffing."""
    return data[:limit].decode("utf-8-sig", errors="ignore")


def check_delimiter(text: str, where: str, expected_columns: list[str] | None = None) -> None:
    header = next(csv.reader(io.StringIO(text)), [])
    if len(header) > 1:
        return
    sample = text[:64 * 1024]
    try:
        found = csv.Sniffer().sniff(sample, delimiters=";\t|").delimiter
    except csv.Error:
        found = None
    if found or expected_columns is None or len(expected_columns) > 1:
        shown = repr(found) if found else "none found"
        raise UnreadableInput(
            f"{where}: delimiter: expected ',' between columns, found {shown} "
            f"(the header parsed as one column: {header[0][:80] if header else ''!r})"
        )


# The gates see missing values as CsvExampleGen (tfx_bsl's CSV decoder) and the batch scorer do: only an empty
# field. pandas' default list would also read a string "NA", "NULL" or "nan" as missing, so a numeric column
# holding "NA" would pass as having a gap while ExampleGen turned the whole column into strings.
ONLY_EMPTY_IS_MISSING = {"keep_default_na": False, "na_values": [""]}


def whole_numbers(frame: pd.DataFrame, integer_columns: tuple[str, ...], source: str, first_line: int,
                  ) -> pd.DataFrame:
    """`integer_columns` that pandas parsed as floats (an empty field, or "17031081000.0" as pandas writes them)
    as Int64 when whole; UnreadableInput naming the file, column, line and value of the first that is not.
    Text left in such a column stays text, for the contract's type expectation to report."""
    from nightshift.core.csv_integers import NotAnInteger, whole_floats

    for column in integer_columns:
        if column in frame.columns and frame[column].dtype.kind == "f":
            try:
                frame[column] = whole_floats(frame[column], where=source, column=column, first_line=first_line)
            except NotAnInteger as exc:
                raise UnreadableInput(str(exc)) from exc
    return frame


def read_table(source: str, client: Any = None, expected_columns: list[str] | None = None,
               integer_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A DataFrame from a local path or s3:// URI (CSV, optionally gzip'd); UnreadableInput otherwise.

    The checks look at the head only (the delimiter) or run only once the parser has met a problem (the
    exact byte of an encoding error), so they cost a fraction of the parse. A plain local file is parsed
    from its path, without a copy of its bytes in memory."""

    local = Path(source) if not source.startswith("s3://") else None
    if local is not None and local.is_file():
        with local.open("rb") as fh:
            head = fh.read(64 * 1024)
        if head[:2] != GZIP_MAGIC and head.strip():
            check_delimiter(head_text(head), source, expected_columns)
            return whole_numbers(_parse(local, source, lambda: local.read_bytes()), integer_columns, source, 2)
    data = decompress(load_bytes(source, client), source)
    check_delimiter(head_text(data), source, expected_columns)
    return whole_numbers(_parse(io.BytesIO(data), source, lambda: data), integer_columns, source, 2)


def _parse(handle: Any, source: str, raw: Any) -> pd.DataFrame:
    import pandas as pd

    return _named_errors(lambda: pd.read_csv(handle, low_memory=False, encoding="utf-8-sig", **ONLY_EMPTY_IS_MISSING),
                         source, raw)


def read_chunks(path: Path, chunk_rows: int, integer_columns: tuple[str, ...] = ()) -> Iterator[pd.DataFrame]:
    """A local CSV (optionally gzip'd) or Parquet file, `chunk_rows` rows at a time, with the same precise
    UnreadableInput reasons as read_table. The next chunk is parsed on a second thread while the caller works
    on this one (nightshift.core.prefetch), so at most two chunks are held at once."""
    import pandas as pd

    from nightshift.core.scoring_input import is_parquet

    source = str(path)
    if not path.is_file():
        raise UnreadableInput(f"{source}: no such file")
    if is_parquet(path):
        import pyarrow.parquet as pq

        table = pq.ParquetFile(path)
        batches = table.iter_batches(batch_size=chunk_rows) if table.metadata.num_rows else \
            iter([table.schema_arrow.empty_table()])  # no rows: still one (empty) chunk with the columns
        return prefetch(_with_whole_numbers((batch.to_pandas() for batch in batches), integer_columns, source, 1))
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    gzipped = head[:2] == GZIP_MAGIC
    if not gzipped:
        if not head.strip():
            raise UnreadableInput(f"{source}: empty: the file has no header and no rows")
        check_delimiter(head_text(head), source, None)
    raw = lambda: decompress(path.read_bytes(), source)  # noqa: E731 - read only to name a bad byte
    reader = _named_errors(lambda: pd.read_csv(path, chunksize=chunk_rows, low_memory=False, encoding="utf-8-sig",
                                               compression="gzip" if gzipped else None, **ONLY_EMPTY_IS_MISSING),
                           source, raw)

    def chunks() -> Iterator[pd.DataFrame]:
        while (chunk := _named_errors(lambda: next(reader, None), source, raw)) is not None:
            yield chunk

    return prefetch(_with_whole_numbers(chunks(), integer_columns, source, 2))


def _with_whole_numbers(chunks: Iterator[pd.DataFrame], integer_columns: tuple[str, ...], source: str,
                        first_line: int) -> Iterator[pd.DataFrame]:
    """whole_numbers on each chunk, numbered on from `first_line` (a CSV's header is line 1; Parquet's first row
    is row 1)."""
    rows = 0
    for chunk in chunks:
        yield whole_numbers(chunk, integer_columns, source, first_line + rows)
        rows += len(chunk)


def _named_errors(parse: Any, source: str, raw: Any) -> Any:
    """What pandas raises while parsing, as UnreadableInput naming the file and the kind of problem."""
    import pandas as pd

    try:
        return parse()
    except UnicodeDecodeError:
        check_utf8(raw(), source)  # pandas' offset is into its own buffer; this one names the byte in the file
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnreadableInput(f"{source}: not a CSV table: {exc}") from exc
    except (EOFError, OSError, zlib.error) as exc:
        raise UnreadableInput(f"{source}: compression: gzip stream is truncated or corrupt ({exc})") from exc

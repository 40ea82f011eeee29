"""Reading a data file for validation or scoring, with a precise reason when it cannot be read at all.

"Cannot be read" (exit 2 in `nightshift validate`) is kept apart from "read, but breaks the contract"
(exit 1): a truncated gzip, a wrong encoding, a wrong delimiter or an empty file are named as such
instead of surfacing as a confusing column-level failure.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightshift.errors import NightshiftError

if TYPE_CHECKING:
    import pandas as pd

GZIP_MAGIC = b"\x1f\x8b"


class UnreadableInput(NightshiftError):
    """The input cannot be parsed as a CSV table at all."""


def load_bytes(source: str, client: Any = None) -> bytes:
    if source.startswith("s3://"):
        from nightshift.s3 import S3Uri, client_from_env

        uri = S3Uri.parse(source)
        client = client or client_from_env()
        try:
            return client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        except client.exceptions.NoSuchKey as exc:
            raise UnreadableInput(f"{source}: no such object") from exc
    path = Path(source)
    if not path.is_file():
        raise UnreadableInput(f"{source}: no such file")
    return path.read_bytes()


def decode_text(data: bytes, where: str) -> str:
    """Raw bytes (gzip detected by its magic number, not the file name) to text."""
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise UnreadableInput(f"{where}: compression: gzip stream is truncated or corrupt ({exc})") from exc
    if not data.strip():
        raise UnreadableInput(f"{where}: empty: the file has no header and no rows")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(
            f"{where}: encoding: not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); "
            "re-export the file as UTF-8"
        ) from exc
    return text


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


def read_table(source: str, client: Any = None, expected_columns: list[str] | None = None) -> pd.DataFrame:
    """A DataFrame from a local path or s3:// URI (CSV, optionally gzip'd); UnreadableInput otherwise."""
    import pandas as pd

    text = decode_text(load_bytes(source, client), source)
    check_delimiter(text, source, expected_columns)
    try:
        return pd.read_csv(io.StringIO(text), low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnreadableInput(f"{source}: not a CSV table: {exc}") from exc

"""Which object a scoring run reads, and which output partition it writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nightshift.errors import NightshiftError
from nightshift.s3 import S3Uri, list_keys
from nightshift.windows import partition_date


def resolve_input(client: Any, input_uri: str, output_uri: str, *, fallback_partition: str) -> dict[str, str]:
    """A file is scored as is; a prefix means its newest date=YYYY-MM-DD partition (its one file).
    The output partition is the input's date= partition, else the run's date."""
    chosen = input_uri
    if input_uri.startswith("s3://"):
        uri = S3Uri.parse(input_uri)
        keys = [k for k in list_keys(client, uri.bucket, uri.key) if not k.endswith("/")]
        if not keys:
            raise NightshiftError(f"{input_uri}: nothing to score (no object at or under this URI)")
        if not (len(keys) == 1 and keys[0] == uri.key):
            dated = [k for k in keys if partition_date(k)]
            if not dated:
                raise NightshiftError(f"{input_uri}: {len(keys)} objects but no date=YYYY-MM-DD/ partition; "
                                      "name the file to score")
            newest = max(partition_date(k) for k in dated)
            in_newest = sorted(k for k in dated if partition_date(k) == newest)
            if len(in_newest) != 1:
                raise NightshiftError(f"{input_uri}: partition date={newest} holds {len(in_newest)} files; "
                                      "expected one")
            chosen = f"s3://{uri.bucket}/{in_newest[0]}"
    elif not Path(input_uri).is_file():
        raise NightshiftError(f"{input_uri}: no such input file")
    day = partition_date(chosen)
    partition = f"date={day.isoformat() if day else fallback_partition}"
    return {"input": chosen, "output": f"{output_uri.rstrip('/')}/{partition}/", "partition": partition}

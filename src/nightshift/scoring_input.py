"""Which object a scoring run reads, and which output partition it writes; the input pinned between the
gate that checked it and the scorer that scores it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from nightshift.errors import NightshiftError
from nightshift.registry.manifest import sha256_stream
from nightshift.s3 import CHUNK, S3Uri, list_keys, precondition_failed
from nightshift.windows import partition_date


class InputChanged(NightshiftError):
    """The input is not the object the input gate checked (replaced or edited in between)."""


def fetch_input(client: Any, source: str, dest_dir: Path, *, expect: str | None = None) -> tuple[Path, str]:
    """A private local copy of the input and its fingerprint (S3: the ETag; local: "sha256:<hex>").

    The gate records the fingerprint of what it validated; the scorer passes it as `expect`, and a
    different object raises InputChanged naming it. The copy is streamed (bounded memory) and the scorer
    reads the copy, so the file cannot change under it either."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    if not source.startswith("s3://"):
        path = Path(source)
        if not path.is_file():
            raise NightshiftError(f"{source}: no such input file")
        dest = dest_dir / f"{uuid.uuid4().hex[:8]}-{path.name}"
        with path.open("rb") as src, dest.open("wb") as sink:
            fingerprint = "sha256:" + sha256_stream(iter(lambda: src.read(CHUNK), b""), sink)
        if expect is not None and fingerprint != expect:
            dest.unlink()
            raise InputChanged(f"{source}: changed since the input gate checked it ({expect[:19]}… expected, "
                               f"found {fingerprint[:19]}…); score the new file in a run of its own")
        return dest, fingerprint
    uri = S3Uri.parse(source)
    keys = [k for k in list_keys(client, uri.bucket, uri.key) if not k.endswith("/")]
    if not keys:
        raise NightshiftError(f"{source}: no object at or under this URI")
    if len(keys) > 1:
        raise NightshiftError(f"{source}: {len(keys)} objects under this prefix; name one file to score")
    try:
        response = client.get_object(Bucket=uri.bucket, Key=keys[0], **({"IfMatch": expect} if expect else {}))
    except Exception as exc:  # botocore's ClientError; 412 means the object is not the one the gate checked
        if precondition_failed(exc):
            raise InputChanged(f"s3://{uri.bucket}/{keys[0]}: changed since the input gate checked it (ETag "
                               f"{expect} expected); score the new object in a run of its own") from exc
        raise
    dest = dest_dir / Path(keys[0]).name
    partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.partial")
    with partial.open("wb") as sink:
        for block in response["Body"].iter_chunks(CHUNK):
            sink.write(block)
    os.replace(partial, dest)
    return dest, response["ETag"]


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

"""Object reads the registry needs, streamed: a model's variables can be gigabytes, so nothing is read whole
into memory to be hashed; the sha256 is computed while the bytes go to disk (or nowhere)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from nightshift.registry.manifest import sha256_stream

CHUNK = 1 << 20


def get_bytes(client: Any, bucket: str, key: str) -> bytes | None:
    """A small document (manifest, pointer, claim, audit entry), or None when the object does not exist."""
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None


def exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except Exception as exc:  # botocore's ClientError; anything but "not found" keeps raising
        if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise


def hash_object(client: Any, bucket: str, key: str) -> str | None:
    """The object's sha256, streamed; None when it does not exist."""
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except client.exceptions.NoSuchKey:
        return None
    return sha256_stream(body.iter_chunks(CHUNK))


def download_hashed(client: Any, bucket: str, key: str, target: Path) -> str | None:
    """Stream the object into `target` (through a temporary name beside it) and return its sha256;
    None, and nothing written, when it does not exist. The caller decides what a mismatch means."""
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except client.exceptions.NoSuchKey:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with partial.open("wb") as sink:
            digest = sha256_stream(body.iter_chunks(CHUNK), sink)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return digest


def error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def precondition_failed(exc: Exception) -> bool:
    """A conditional write lost its race (412; AWS answers 409 to two writes in flight at once)."""
    return error_code(exc) in {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def put_if_absent(client: Any, bucket: str, key: str, body: bytes) -> bool:
    """Create-only write: True when this call created the object, False when it already existed."""
    try:
        client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json")
        return True
    except Exception as exc:  # botocore's ClientError; only "already there" is an answer
        if not precondition_failed(exc):
            raise
        return False

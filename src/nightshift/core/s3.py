"""S3 access shared by both interpreters: URI parsing, a boto3 client from the environment, and the object
reads and conditional writes the registry, the landing zone and prediction commits share. Reads are
streamed: a model's variables can be gigabytes, so nothing large is read whole into memory to be hashed."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightshift.core.errors import NightshiftError
from nightshift.core.registry.manifest import sha256_stream

if TYPE_CHECKING:
    from collections.abc import Iterator

    from nightshift.core.config import Settings


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not uri.startswith("s3://"):
            raise NightshiftError(f"expected an s3://bucket/prefix URI, got {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise NightshiftError(f"S3 URI {uri!r} has no bucket name")
        return cls(bucket=bucket, key=key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def client_from_env(settings: Settings | None = None, role: str | None = None) -> Any:
    """A boto3 S3 client; credentials come from the environment, never from code: the role's own keys
    when `role` names one this process was given (nightshift.control.s3_roles), else the standard AWS variables."""
    import boto3
    from botocore.config import Config

    from nightshift.control.s3_roles import role_credentials

    if settings is None:
        from nightshift.core.config import load_settings

        settings = load_settings()
    creds = role_credentials(role) if role else None
    keys = {"aws_access_key_id": creds[0], "aws_secret_access_key": creds[1]} if creds else {}
    # A new session per client: boto3's default session caches the credentials it resolved first, so a
    # process whose AWS_* variables change (a test starting a second S3 server) would sign with stale keys.
    return boto3.session.Session().client(
        "s3",
        **keys,
        endpoint_url=settings.s3_endpoint,
        region_name=settings.region,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def ensure_bucket(client: Any, bucket: str) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)


def _iter_objects(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def iter_keys(client: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Every key under a prefix, page by page (the listing is never held whole)."""
    for obj in _iter_objects(client, bucket, prefix):
        yield obj["Key"]


def list_etags(client: Any, bucket: str, prefix: str) -> dict[str, str]:
    """Every key under a prefix with the ETag the listing gives it (unquoted), in key order."""
    return {obj["Key"]: obj.get("ETag", "").strip('"') for obj in _iter_objects(client, bucket, prefix)}


def list_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    return list(iter_keys(client, bucket, prefix))


CHUNK = 1 << 20


def get_bytes(client: Any, bucket: str, key: str) -> bytes | None:
    """A small document (manifest, pointer, claim, audit entry), or None when the object (or its bucket: nothing
    was ever written there) does not exist."""
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (client.exceptions.NoSuchKey, client.exceptions.NoSuchBucket):
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


def put_if_absent(client: Any, bucket: str, key: str, body: bytes, content_type: str = "application/json") -> bool:
    """Create-only write: True when this call created the object, False when it already existed."""
    try:
        client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", ContentType=content_type)
        return True
    except Exception as exc:  # botocore's ClientError; only "already there" is an answer
        if not precondition_failed(exc):
            raise
        return False

"""S3 access shared by both interpreters: URI parsing and a boto3 client from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nightshift.errors import NightshiftError

if TYPE_CHECKING:
    from nightshift.config import Settings


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

    def join(self, *parts: str) -> S3Uri:
        key = "/".join(p.strip("/") for p in (self.key, *parts) if p.strip("/"))
        return S3Uri(self.bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def client_from_env(settings: Settings | None = None) -> Any:
    """A boto3 S3 client; credentials come from the standard AWS variables, never from code."""
    import boto3
    from botocore.config import Config

    if settings is None:
        from nightshift.config import load_settings

        settings = load_settings()
    # A new session per client: boto3's default session caches the credentials it resolved first, so a
    # process whose AWS_* variables change (a test starting a second S3 server) would sign with stale keys.
    return boto3.session.Session().client(
        "s3",
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


def list_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys

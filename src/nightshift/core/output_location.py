"""A prediction partition's storage: an S3 prefix or a local folder, behind the few operations a commit needs.

Both kinds offer the same guarantees to `nightshift.core.predictions`: a file lands under its final name only
when whole (S3 PUTs are atomic; locally a hidden temporary name, then a rename), the marker is replaced in
one step and only if nobody replaced it since it was read (S3: If-Match on its ETag; locally: a lock on
the folder), and every part file nightshift writes carries proof that nightshift wrote it (S3: object
metadata naming its commit token; locally: its name).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nightshift.core.errors import NightshiftError
from nightshift.core.s3 import S3Uri, ensure_bucket, error_code, precondition_failed

OWNER_METADATA = "nightshift-commit"  # x-amz-meta-nightshift-commit: the token of the commit that wrote it
PART_RE = re.compile(r"^part-([0-9a-f]{32})\.parquet$")  # part-<commit token>.parquet


class MarkerChanged(NightshiftError):
    """Another commit replaced the partition's marker while this one was writing; this one backed off."""


class S3Location:
    def __init__(self, client: Any, uri: str):
        parsed = S3Uri.parse(uri.rstrip("/") + "/")
        self.client, self.bucket, self.prefix = client, parsed.bucket, parsed.key

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def where(self, name: str) -> str:
        return f"{self}{name}"

    def names(self) -> Iterator[str]:
        """Every object under the prefix, relative to it (nested ones too: they are not ours either)."""
        from nightshift.core.s3 import iter_keys

        try:
            for key in iter_keys(self.client, self.bucket, self.prefix):
                yield key[len(self.prefix):]
        except Exception as exc:  # botocore's ClientError: a missing bucket is an empty location
            if error_code(exc) != "NoSuchBucket":
                raise

    def owner_token(self, name: str) -> str | None:
        head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)
        return head.get("Metadata", {}).get(OWNER_METADATA)

    def read(self, name: str) -> tuple[bytes, str] | None:
        """(content, version tag) of a small object, or None."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except (self.client.exceptions.NoSuchKey, self.client.exceptions.NoSuchBucket):
            return None
        return response["Body"].read(), response["ETag"]

    def put_file(self, local: Path, name: str, token: str) -> None:
        ensure_bucket(self.client, self.bucket)
        self.client.upload_file(str(local), self.bucket, self.prefix + name,
                                ExtraArgs={"Metadata": {OWNER_METADATA: token}})

    def replace_marker(self, name: str, body: bytes, expected_tag: str | None) -> None:
        condition = {"IfMatch": expected_tag} if expected_tag else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=body,
                                   ContentType="application/json", **condition)
        except Exception as exc:  # botocore's ClientError; a lost race is reported as such
            if precondition_failed(exc):
                raise MarkerChanged(f"{self.where(name)}: replaced by another commit meanwhile") from exc
            raise

    def download(self, name: str, dest: Path) -> None:
        self.client.download_file(self.bucket, self.prefix + name, str(dest))

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        yield  # S3 has no lock: the marker's conditional write decides the race


class LocalLocation:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def __str__(self) -> str:
        return f"{self.folder}/"

    def where(self, name: str) -> str:
        return str(self.folder / name)

    def names(self) -> Iterator[str]:
        if not self.folder.exists():
            return
        if not self.folder.is_dir():
            raise NightshiftError(f"{self.folder}: exists and is not a folder; an output must be a folder")
        for path in sorted(self.folder.rglob("*")):
            if not path.is_dir() or not any(path.iterdir()):
                yield path.relative_to(self.folder).as_posix() + ("/" if path.is_dir() else "")

    def owner_token(self, name: str) -> str | None:
        match = PART_RE.match(name)  # no metadata on a plain file system: the name is the proof
        return match.group(1) if match else None

    def read(self, name: str) -> tuple[bytes, str] | None:
        path = self.folder / name
        if not path.is_file():
            return None
        data = path.read_bytes()
        return data, hashlib.sha256(data).hexdigest()

    def put_file(self, local: Path, name: str, token: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{name}.{uuid.uuid4().hex[:8]}.partial"
        try:
            shutil.copyfile(local, partial)
            os.replace(partial, self.folder / name)
        finally:
            partial.unlink(missing_ok=True)

    def replace_marker(self, name: str, body: bytes, expected_tag: str | None) -> None:
        # Called under `exclusive()`: nobody else can have replaced the marker since it was read.
        current = self.read(name)
        if (current[1] if current else None) != expected_tag:
            raise MarkerChanged(f"{self.where(name)}: replaced by another commit meanwhile")
        partial = self.folder / f".{name}.{uuid.uuid4().hex[:8]}.partial"
        try:
            partial.write_bytes(body)
            os.replace(partial, self.folder / name)  # one rename: readers see the old marker or the new one
        finally:
            partial.unlink(missing_ok=True)

    def download(self, name: str, dest: Path) -> None:
        shutil.copyfile(self.folder / name, dest)

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """An exclusive lock on the output folder itself (no lock file of ours inside it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def location_for(client: Any, output: str) -> S3Location | LocalLocation:
    return S3Location(client, output) if output.startswith("s3://") else LocalLocation(output)

"""The registry's I/O against S3 (boto3 client passed in): publish, read, verify, list.

Publishing order is the contract with every reader: files (saved_model.pb last), verify each
uploaded object's sha256, manifest, and only then the pointer. A reader that follows the pointer
therefore never meets a version that is still being uploaded (tensorflow/serving#1086).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nightshift.errors import ChecksumMismatch, RegistryError
from nightshift.registry.layout import manifest_key, pointer_key, upload_order, version_prefix, versions_in
from nightshift.registry.manifest import FileEntry, Manifest, Pointer, scan_model_dir, sha256_bytes
from nightshift.s3 import S3Uri, ensure_bucket, list_keys

log = logging.getLogger(__name__)


def _get(client: Any, bucket: str, key: str) -> bytes | None:
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None


@dataclass(frozen=True)
class VersionStatus:
    manifest: Manifest
    problems: list[str]  # empty when every file matches its sha256
    serving: bool


class ModelRegistry:
    """One model's folder in the models bucket, e.g. s3://nightshift-models/taxi."""

    def __init__(self, client: Any, uri: str):
        self.client = client
        self.location = S3Uri.parse(uri)
        self.bucket = self.location.bucket
        self.prefix = self.location.key.strip("/")

    # -- reading -------------------------------------------------------------------------------
    def versions(self) -> list[int]:
        with_manifest, _ = versions_in(list_keys(self.client, self.bucket, self.prefix + "/"), self.prefix)
        return sorted(with_manifest)

    def next_version(self) -> int:
        with_manifest, with_files = versions_in(
            list_keys(self.client, self.bucket, self.prefix + "/"), self.prefix
        )
        # Skip numbers used by an interrupted upload too: a version number is never reused.
        return max(with_manifest | with_files, default=0) + 1

    def read_pointer(self) -> Pointer | None:
        key = pointer_key(self.prefix)
        data = _get(self.client, self.bucket, key)
        return None if data is None else Pointer.from_json(data, where=f"s3://{self.bucket}/{key}")

    def read_manifest(self, version: int) -> Manifest:
        key = manifest_key(self.prefix, version)
        data = _get(self.client, self.bucket, key)
        if data is None:
            raise RegistryError(f"s3://{self.bucket}/{key}: manifest of version {version} not found")
        return Manifest.from_json(data, where=f"s3://{self.bucket}/{key}")

    def check_files(self, manifest: Manifest) -> list[str]:
        """One line per file that is missing or whose sha256 differs from the manifest."""
        problems = []
        base = version_prefix(self.prefix, manifest.version)
        for entry in manifest.files:
            key = base + entry.path
            data = _get(self.client, self.bucket, key)
            if data is None:
                problems.append(f"s3://{self.bucket}/{key}: missing (manifest lists {entry.size} bytes)")
            elif (actual := sha256_bytes(data)) != entry.sha256:
                problems.append(
                    f"s3://{self.bucket}/{key}: sha256 {actual[:12]}… does not match the manifest's "
                    f"{entry.sha256[:12]}…"
                )
        return problems

    def status(self) -> list[VersionStatus]:
        pointer = self.read_pointer()
        out = []
        for version in self.versions():
            manifest = self.read_manifest(version)
            out.append(VersionStatus(manifest, self.check_files(manifest),
                                     serving=pointer is not None and pointer.version == version))
        return out

    def download_serving(self, dest: Path, version: int | None = None) -> Manifest:
        """Download a version (default: the pointer's), verifying every file; raises on any mismatch."""
        if version is None:
            pointer = self.read_pointer()
            if pointer is None:
                raise RegistryError(f"s3://{self.bucket}/{pointer_key(self.prefix)}: no model published yet")
            version = pointer.version
            raw = _get(self.client, self.bucket, manifest_key(self.prefix, version)) or b""
            if sha256_bytes(raw) != pointer.manifest_sha256:
                raise ChecksumMismatch(
                    f"s3://{self.bucket}/{manifest_key(self.prefix, version)}: manifest does not match the "
                    "sha256 recorded in the pointer; refusing to load"
                )
        manifest = self.read_manifest(version)
        base = version_prefix(self.prefix, version)
        for entry in manifest.files:
            data = _get(self.client, self.bucket, base + entry.path)
            if data is None or sha256_bytes(data) != entry.sha256:
                raise ChecksumMismatch(
                    f"s3://{self.bucket}/{base}{entry.path}: "
                    + ("missing" if data is None else "content does not match its manifest sha256")
                    + f" (version {version}); refusing to load"
                )
            target = dest / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return manifest

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, model_dir: Path, manifest_fields: dict[str, Any]) -> Manifest:
        """Upload a SavedModel folder as the next version and move the pointer to it."""
        ensure_bucket(self.client, self.bucket)
        files = scan_model_dir(model_dir)
        version = self.next_version()
        base = version_prefix(self.prefix, version)
        by_path = {f.path: f for f in files}
        for rel in upload_order(list(by_path)):
            self.client.upload_file(str(model_dir / rel), self.bucket, base + rel)
        self._verify_uploaded(base, files)
        manifest = Manifest(version=version, files=files, **manifest_fields)
        body = manifest.to_json()
        self.client.put_object(Bucket=self.bucket, Key=manifest_key(self.prefix, version), Body=body,
                               ContentType="application/json")
        pointer = Pointer(version, sha256_bytes(body), manifest.run_id,
                          datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self.client.put_object(Bucket=self.bucket, Key=pointer_key(self.prefix), Body=pointer.to_json(),
                               ContentType="application/json")
        log.info("published s3://%s/%s (version %d, %d files)", self.bucket, base, version, len(files))
        return manifest

    def _verify_uploaded(self, base: str, files: list[FileEntry]) -> None:
        for entry in files:
            data = _get(self.client, self.bucket, base + entry.path)
            if data is None or sha256_bytes(data) != entry.sha256:
                raise ChecksumMismatch(
                    f"s3://{self.bucket}/{base}{entry.path}: uploaded object does not match the local file's "
                    "sha256; the pointer was not moved"
                )

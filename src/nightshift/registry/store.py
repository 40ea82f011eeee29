"""The registry's I/O against S3 (boto3 client passed in): publish, read, verify, list, move the pointer.

Publishing order is the contract with every reader: claim a version number, files (saved_model.pb
last), verify each uploaded object's sha256, manifest, and only then the pointer. A reader that follows
the pointer therefore never meets a version that is still being uploaded (tensorflow/serving#1086).

No database beside the bucket: version numbers are claimed with a create-only write (If-None-Match: *)
and the pointer changes only by compare-and-swap on its ETag (If-Match), both honoured by AWS S3 and
SeaweedFS. Two publishers racing both end with complete versions; the pointer moves forward only and
never names a version that is missing. Every pointer change is appended to the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightshift.errors import ChecksumMismatch, RegistryError
from nightshift.registry.audit import AUDIT_DIR, AuditEntry, now_utc
from nightshift.registry.layout import (
    claim_key,
    manifest_key,
    pointer_key,
    upload_order,
    version_prefix,
    versions_in,
)
from nightshift.registry.manifest import FileEntry, Manifest, Pointer, scan_model_dir, sha256_bytes
from nightshift.s3 import S3Uri, ensure_bucket, list_keys

log = logging.getLogger(__name__)


def _get(client: Any, bucket: str, key: str) -> bytes | None:
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None


def _precondition_failed(exc: Exception) -> bool:
    """A conditional write lost its race (412; AWS answers 409 to two writes in flight at once)."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


class PointerConflict(RegistryError):
    """The pointer kept changing under us; nothing was moved."""


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
        # Skip numbers used by an interrupted upload or claimed by another publisher: never reused.
        return max(with_manifest | with_files, default=0) + 1

    def read_pointer(self) -> Pointer | None:
        return self._read_pointer()[0]

    def _read_pointer(self) -> tuple[Pointer | None, str | None]:
        key = pointer_key(self.prefix)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return None, None
        return Pointer.from_json(response["Body"].read(), where=f"s3://{self.bucket}/{key}"), response["ETag"]

    def audit_log(self) -> list[AuditEntry]:
        keys = sorted(list_keys(self.client, self.bucket, f"{self.prefix}/{AUDIT_DIR}/"))
        return [AuditEntry.from_json(_get(self.client, self.bucket, k) or b"", where=f"s3://{self.bucket}/{k}")
                for k in keys]

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
        """Upload a SavedModel folder as a new version and move the pointer to it (forward only)."""
        ensure_bucket(self.client, self.bucket)
        files = scan_model_dir(model_dir)
        version = self._claim_version(manifest_fields.get("run_id", ""))
        base = version_prefix(self.prefix, version)
        by_path = {f.path: f for f in files}
        for rel in upload_order(list(by_path)):
            self.client.upload_file(str(model_dir / rel), self.bucket, base + rel)
        self._verify_uploaded(base, files)
        manifest = Manifest(version=version, files=files, **manifest_fields)
        self.client.put_object(Bucket=self.bucket, Key=manifest_key(self.prefix, version), Body=manifest.to_json(),
                               ContentType="application/json")
        self.move_pointer(version, action="publish", actor=f"pipeline run {manifest.run_id}",
                          reason="blessed by the evaluator", run_id=manifest.run_id, forward_only=True)
        log.info("published s3://%s/%s (version %d, %d files)", self.bucket, base, version, len(files))
        return manifest

    def _claim_version(self, run_id: str, attempts: int = 20) -> int:
        """The next free version number, taken with a create-only write so no two publishers share one."""
        version = self.next_version()
        for _ in range(attempts):
            try:
                self.client.put_object(Bucket=self.bucket, Key=claim_key(self.prefix, version),
                                       Body=f'{{"run_id": "{run_id}", "at": "{now_utc()}"}}'.encode(),
                                       IfNoneMatch="*", ContentType="application/json")
                return version
            except Exception as exc:  # botocore's ClientError; the check below keeps anything else raising
                if not _precondition_failed(exc):
                    raise
                version = max(version + 1, self.next_version())
        raise RegistryError(f"s3://{self.bucket}/{self.prefix}/: could not claim a version number in "
                            f"{attempts} attempts (too many concurrent publishers?)")

    # -- the pointer ---------------------------------------------------------------------------
    def move_pointer(self, version: int, *, action: str, actor: str, reason: str, run_id: str | None = None,
                     forward_only: bool = False, attempts: int = 10) -> Pointer:
        """Point serving at `version` by compare-and-swap, then append the change to the audit log.

        `forward_only` (publishing): when a newer version is already serving, leave the pointer and
        log that this version was superseded. Otherwise the version's files are verified first: the
        pointer never names a version that is missing or altered."""
        manifest_raw = _get(self.client, self.bucket, manifest_key(self.prefix, version))
        if manifest_raw is None:
            raise RegistryError(f"s3://{self.bucket}/{manifest_key(self.prefix, version)}: version {version} "
                                "has no manifest; the pointer was not moved")
        manifest = Manifest.from_json(manifest_raw, where=manifest_key(self.prefix, version))
        if not forward_only:
            problems = self.check_files(manifest)
            if problems:
                raise ChecksumMismatch(f"version {version} does not verify; the pointer was not moved: "
                                       + "; ".join(problems))
        for _ in range(attempts):
            current, etag = self._read_pointer()
            before = current.version if current else None
            if forward_only and before is not None and before >= version:
                self._append_audit(AuditEntry(now_utc(), action, actor, before, before,
                                              f"{reason}; v{version} published but v{before} is newer and stays "
                                              "serving", run_id))
                return current
            # The pointer names the run that produced the version it serves (after a rollback: that older run).
            pointer = Pointer(version, sha256_bytes(manifest_raw), manifest.run_id, now_utc(), action=action,
                              changed_by=actor, reason=reason)
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            try:
                self.client.put_object(Bucket=self.bucket, Key=pointer_key(self.prefix), Body=pointer.to_json(),
                                       ContentType="application/json", **condition)
            except Exception as exc:  # botocore's ClientError; only a lost race is retried
                if not _precondition_failed(exc):
                    raise
                log.info("pointer changed while moving it to v%d; re-reading", version)
                continue
            self._append_audit(AuditEntry(now_utc(), action, actor, before, version, reason, run_id))
            return pointer
        raise PointerConflict(f"s3://{self.bucket}/{pointer_key(self.prefix)}: changed by others {attempts} times "
                              f"while moving it to v{version}; not moved")

    def _append_audit(self, entry: AuditEntry) -> None:
        self.client.put_object(Bucket=self.bucket, Key=entry.key(self.prefix), Body=entry.to_json(),
                               ContentType="application/json")

    def promote(self, version: int, *, actor: str, reason: str) -> Pointer:
        """Serve a given version (newer or older), after verifying every file of it."""
        if version not in self.versions():
            raise RegistryError(f"s3://{self.bucket}/{self.prefix}/: no version {version}; "
                                f"published: {self.versions()}")
        return self.move_pointer(version, action="promote", actor=actor, reason=reason)

    def rollback(self, *, actor: str, reason: str, to: int | None = None) -> Pointer:
        """Serve an earlier verified version: `to`, or the newest one below the serving version that verifies."""
        current = self.read_pointer()
        if current is None:
            raise RegistryError(f"s3://{self.bucket}/{pointer_key(self.prefix)}: nothing is served; nothing to roll "
                                "back")
        if to is not None:
            if to >= current.version:
                raise RegistryError(f"rollback goes to an earlier version than the serving v{current.version}; "
                                    f"got v{to} (use promote to serve a newer one)")
            return self.move_pointer(to, action="rollback", actor=actor, reason=reason)
        for candidate in sorted((v for v in self.versions() if v < current.version), reverse=True):
            if not self.check_files(self.read_manifest(candidate)):
                return self.move_pointer(candidate, action="rollback", actor=actor, reason=reason)
            log.warning("v%d does not verify; looking further back", candidate)
        raise RegistryError(f"s3://{self.bucket}/{self.prefix}/: no verified version older than the serving "
                            f"v{current.version}")

    def prune(self, keep: int, *, actor: str, reason: str = "retention", dry_run: bool = False) -> list[int]:
        """Delete all but the newest `keep` versions; the serving version is never deleted."""
        if keep < 1:
            raise RegistryError(f"prune keeps at least 1 version, got keep={keep}")
        serving = self.read_pointer()
        versions = self.versions()
        kept = set(versions[-keep:]) | ({serving.version} if serving else set())
        doomed = [v for v in versions if v not in kept]
        if dry_run:
            return doomed
        for version in doomed:
            # Manifest first: from then on the version is no longer listed, and files follow.
            self.client.delete_object(Bucket=self.bucket, Key=manifest_key(self.prefix, version))
            for key in list_keys(self.client, self.bucket, version_prefix(self.prefix, version)):
                self.client.delete_object(Bucket=self.bucket, Key=key)
            self._append_audit(AuditEntry(now_utc(), "prune", actor, serving.version if serving else None, version,
                                          f"{reason} (keep {keep})"))
        return doomed

    def _verify_uploaded(self, base: str, files: list[FileEntry]) -> None:
        for entry in files:
            data = _get(self.client, self.bucket, base + entry.path)
            if data is None or sha256_bytes(data) != entry.sha256:
                raise ChecksumMismatch(
                    f"s3://{self.bucket}/{base}{entry.path}: uploaded object does not match the local file's "
                    "sha256; the pointer was not moved"
                )

"""The registry's I/O against S3 (boto3 client passed in): publish, read, verify, list, move the pointer.

Publishing order is the contract with every reader: claim a version number, files (saved_model.pb
last), verify each uploaded object's sha256, manifest, and only then the pointer. A reader that follows
the pointer therefore never meets a version that is still being uploaded (tensorflow/serving#1086).

No database beside the bucket: version numbers are claimed with a create-only write (If-None-Match: *)
and the pointer changes only by compare-and-swap on its ETag (If-Match), both honoured by AWS S3 and
SeaweedFS. Two publishers racing both end with complete versions; the pointer moves forward only and
never names a version that is missing.

Retries and crashes: a run's model claims at most one version (`claims/runs/`, create-only), so a
retried pusher finishes that version instead of making a second. Moving the pointer, the audit log and
prune's race with promote/rollback are in pointer_moves.py.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightshift.core.errors import ChecksumMismatch, RegistryError
from nightshift.core.registry.audit import AUDIT_DIR, AuditEntry, now_utc
from nightshift.core.registry.layout import (
    claim_key,
    manifest_key,
    pointer_key,
    run_claim_key,
    upload_order,
    version_prefix,
    versions_in,
)
from nightshift.core.registry.manifest import FileEntry, Manifest, Pointer, scan_model_dir, sha256_bytes, sha256_file
from nightshift.core.registry.pointer_moves import UNCHECKED, PointerMoves
from nightshift.core.s3 import (
    S3Uri,
    download_hashed,
    ensure_bucket,
    error_code,
    get_bytes,
    hash_object,
    list_keys,
    put_if_absent,
)

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 10.0


@dataclass(frozen=True)
class VersionStatus:
    manifest: Manifest
    problems: list[str]  # empty when every file matches its sha256
    serving: bool


class _Progress:
    """A log line every PROGRESS_SECONDS while a version downloads, so a large model shows it moves."""

    def __init__(self, what: str, files: int, size: int, report: Callable[[int, int], None] | None = None):
        self.what, self.files, self.size, self.report = what, files, size, report
        self.done_files = self.done_bytes = 0
        self.started = self.last = time.monotonic()

    def done(self, size: int) -> None:
        self.done_files += 1
        self.done_bytes += size
        if self.report is not None:  # a terminal's bar (nightshift.control.cli.progress)
            self.report(self.done_bytes, self.size)
        if (now := time.monotonic()) - self.last >= PROGRESS_SECONDS:
            log.info("downloading %s: %d of %d files, %.0f of %.0f MB (%.0f MB/s)", self.what, self.done_files,
                     self.files, self.done_bytes / 1e6, self.size / 1e6,
                     self.done_bytes / 1e6 / max(now - self.started, 1e-9))
            self.last = now


class ModelRegistry(PointerMoves):
    """One model's folder in the models bucket, e.g. s3://nightshift-models/taxi."""

    def __init__(self, client: Any, uri: str):
        self.client = client
        self.location = S3Uri.parse(uri)
        self.bucket = self.location.bucket
        self.prefix = self.location.key.strip("/")
        self.download_progress: Callable[[int, int], None] | None = None  # (bytes done, bytes in all) per file

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

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
        except (self.client.exceptions.NoSuchKey, self.client.exceptions.NoSuchBucket):
            return None, None
        return Pointer.from_json(response["Body"].read(), where=self._uri(key)), response["ETag"]

    def audit_log(self) -> list[AuditEntry]:
        keys = sorted(list_keys(self.client, self.bucket, f"{self.prefix}/{AUDIT_DIR}/"))
        return [AuditEntry.from_json(get_bytes(self.client, self.bucket, k) or b"", where=self._uri(k))
                for k in keys]

    def read_manifest(self, version: int) -> Manifest:
        key = manifest_key(self.prefix, version)
        data = get_bytes(self.client, self.bucket, key)
        if data is None:
            raise RegistryError(f"{self._uri(key)}: manifest of version {version} not found")
        return Manifest.from_json(data, where=self._uri(key))

    def check_files(self, manifest: Manifest) -> list[str]:
        """One line per file that is missing or whose sha256 differs from the manifest (hashed streaming)."""
        return self._mismatches(version_prefix(self.prefix, manifest.version), manifest.files)

    def _mismatches(self, base: str, files: list[FileEntry]) -> list[str]:
        """Every object under `base` hashed (streaming) against its entry: one line per missing or differing file."""
        problems = []
        for entry in files:
            key = base + entry.path
            actual = hash_object(self.client, self.bucket, key)
            if actual is None:
                problems.append(f"{self._uri(key)}: missing (manifest lists {entry.size} bytes)")
            elif actual != entry.sha256:
                problems.append(f"{self._uri(key)}: sha256 {actual[:12]}… does not match the manifest's "
                                f"{entry.sha256[:12]}…")
        return problems

    def status(self) -> list[VersionStatus]:
        pointer = self.read_pointer()
        out = []
        for version in self.versions():
            manifest = self.read_manifest(version)
            out.append(VersionStatus(manifest, self.check_files(manifest),
                                     serving=pointer is not None and pointer.version == version))
        return out

    def download_serving(self, dest: Path, version: int | None = None,
                         layout: Callable[[Manifest], list[FileEntry]] | None = None) -> Manifest:
        """Download a version (default: the pointer's) into `dest`, hashing every file as it streams to disk;
        raises on any mismatch. Entries are checked to stay inside `dest` (Manifest.from_json refuses
        absolute and `..` paths; the resolved target is checked again here). `layout` picks which files go
        where (nightshift.core.registry.forms.serving_files); by default the whole version as published."""
        if version is None:
            pointer = self.read_pointer()
            if pointer is None:
                raise RegistryError(f"{self._uri(pointer_key(self.prefix))}: no model published yet")
            version = pointer.version
            raw = get_bytes(self.client, self.bucket, manifest_key(self.prefix, version)) or b""
            if sha256_bytes(raw) != pointer.manifest_sha256:
                raise ChecksumMismatch(f"{self._uri(manifest_key(self.prefix, version))}: manifest does not match "
                                       "the sha256 recorded in the pointer; refusing to load")
        manifest = self.read_manifest(version)
        base = version_prefix(self.prefix, version)
        root = dest.resolve()
        stored = {(f.sha256, f.size): f.path for f in manifest.files}
        entries = layout(manifest) if layout else manifest.files
        progress = _Progress(f"{self._uri(base)}", len(entries), sum(e.size for e in entries), self.download_progress)
        for entry in entries:
            target = (dest / entry.path).resolve()
            if not target.is_relative_to(root):
                raise RegistryError(f"{self._uri(manifest_key(self.prefix, version))}: entry {entry.path!r} "
                                    f"resolves outside {dest}; refusing to load")
            source = stored[(entry.sha256, entry.size)]
            digest = download_hashed(self.client, self.bucket, base + source, target)
            if digest != entry.sha256:
                target.unlink(missing_ok=True)
                raise ChecksumMismatch(
                    f"{self._uri(base + source)}: "
                    + ("missing" if digest is None else "content does not match its manifest sha256")
                    + f" (version {version}); refusing to load")
            progress.done(entry.size)
        return manifest

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, model_dir: Path, manifest_fields: dict[str, Any],
                extra_files: dict[str, Path] | None = None, *, measured_against: int | None = UNCHECKED) -> Manifest:
        """Upload a SavedModel folder as a new version and move the pointer to it (forward only).

        `extra_files` (path inside the version -> local file) go into the same version and manifest: the
        optimised forms, built beside the Trainer's folder rather than written into it.
        Idempotent per pipeline run: called again with the same `run_id` (a retried task) it finishes the
        version that run claimed, or returns it if it was complete, and never makes a second one.
        `measured_against`: the served version the model was compared with; the pointer moves only while it
        still serves (ChampionMoved otherwise: the version stays in the registry, unserved, audited)."""
        self._ensure_bucket()
        saved_model = scan_model_dir(model_dir)
        local = {f.path: model_dir / f.path for f in saved_model}
        for rel, path in sorted((extra_files or {}).items()):
            if rel in local:
                raise RegistryError(f"{path}: {rel!r} is already a file of the SavedModel {model_dir}")
            local[rel] = path
        files = saved_model + [FileEntry(rel, sha256_file(path), path.stat().st_size)
                               for rel, path in sorted((extra_files or {}).items())]
        run_id = manifest_fields.get("run_id", "")
        # A retry publishes the same SavedModel; a run cleared and trained again publishes another one, a new
        # version. (The forms are left out: a retry builds them again, and they belong to the model they came from.)
        model_digest = sha256_bytes(json.dumps(sorted((f.path, f.sha256) for f in saved_model)).encode())
        version = self._claim_version(f"{run_id}\n{model_digest}" if run_id else "", run_id)
        base = version_prefix(self.prefix, version)
        existing = get_bytes(self.client, self.bucket, manifest_key(self.prefix, version))
        if existing is not None:  # a retry after the manifest was written: only the pointer may be left
            manifest = Manifest.from_json(existing, where=self._uri(manifest_key(self.prefix, version)))
            if any(e.action == "publish" and e.to_version == version for e in self.audit_log()):
                log.info("run %s already published version %d and moved the pointer; nothing left to do",
                         run_id, version)
                return manifest  # the pointer may have moved on since (a rollback): leave it
            log.info("run %s already published version %d; finishing its pointer move", run_id, version)
        else:
            for rel in upload_order([f.path for f in files]):
                self.client.upload_file(str(local[rel]), self.bucket, base + rel)
            self._verify_uploaded(base, files)
            manifest = Manifest(version=version, files=files, **manifest_fields)
            self.client.put_object(Bucket=self.bucket, Key=manifest_key(self.prefix, version),
                                   Body=manifest.to_json(), ContentType="application/json")
        self.move_pointer(version, action="publish", actor=f"pipeline run {manifest.run_id}",
                          reason="blessed by the evaluator", run_id=manifest.run_id, forward_only=True,
                          measured_against=measured_against)
        log.info("published %s (version %d, %d files)", self._uri(base), version, len(files))
        return manifest

    def _ensure_bucket(self) -> None:
        """Create the bucket on a fresh store; a pipeline's pusher key may neither list nor create buckets
        (nightshift.control.s3_roles), and then the bucket `make up` made is used as it is."""
        from botocore.exceptions import ClientError

        try:
            ensure_bucket(self.client, self.bucket)
        except ClientError as exc:
            if error_code(exc) != "AccessDenied":
                raise

    def _claim_version(self, publication: str, run_id: str, attempts: int = 20) -> int:
        """The version this publication (a run and its model's files) claimed before, else the next free
        number, taken with a create-only write so no two publishers share one."""
        run_key = run_claim_key(self.prefix, publication) if publication else None
        if run_key and (earlier := get_bytes(self.client, self.bucket, run_key)) is not None:
            return int(json.loads(earlier)["version"])
        version = self.next_version()
        for _ in range(attempts):
            body = json.dumps({"run_id": run_id, "at": now_utc(), "version": version}).encode()
            if put_if_absent(self.client, self.bucket, claim_key(self.prefix, version), body):
                break
            version = max(version + 1, self.next_version())
        else:
            raise RegistryError(f"{self._uri(self.prefix)}/: could not claim a version number in {attempts} "
                                "attempts (too many concurrent publishers?)")
        if run_key and not put_if_absent(self.client, self.bucket, run_key, body):
            # The same run is publishing twice at once: the first claim wins, this number stays a gap.
            return int(json.loads(get_bytes(self.client, self.bucket, run_key) or b"{}")["version"])
        return version

    def _verify_uploaded(self, base: str, files: list[FileEntry]) -> None:
        if problems := self._mismatches(base, files):
            raise ChecksumMismatch(f"{problems[0]} (uploaded from the local file); the pointer was not moved")

"""Moving the registry's pointer: publish's last step, promote, rollback, prune, and the audit log.

The pointer changes only by compare-and-swap on its ETag (If-Match), so it never goes backwards on a
publish and never names a version that is missing. The pointer carries the id of the change that wrote it,
and the audit entry's key is derived from that id: the entry is written after the swap, and whoever next
reads the pointer to move it writes a missing entry first, so a process that dies right after the swap
still leaves its change audited. `prune` deletes a version's manifest first and re-reads the pointer
before deleting files; a pointer move re-checks the manifest after its swap and puts the pointer back if
the version was pruned meanwhile, so the pointer never stays on a deleted version.

A mixin of ModelRegistry (it uses the registry's client, reads and checks), kept apart so that reading
and publishing (store.py) and changing what is served (here) each fit in one file.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from nightshift.core.errors import ChecksumMismatch, RegistryError
from nightshift.core.registry.audit import AuditEntry, now_utc
from nightshift.core.registry.layout import manifest_key, pointer_key, version_prefix
from nightshift.core.registry.manifest import Manifest, Pointer, sha256_bytes
from nightshift.core.s3 import exists, get_bytes, list_keys, precondition_failed, put_if_absent

log = logging.getLogger(__name__)


class PointerConflict(RegistryError):
    """The pointer kept changing under us (or its version was pruned meanwhile); nothing was moved."""


class ChampionMoved(RegistryError):
    """A publish measured against one served version found another serving at the swap; not served."""


UNCHECKED: Any = object()  # move_pointer's `measured_against` when the caller compared with nothing


def _served(version: int | None) -> str:
    return "nothing served" if version is None else f"v{version}"


class PointerMoves:
    client: Any
    bucket: str
    prefix: str

    if TYPE_CHECKING:  # provided by ModelRegistry (store.py), which this is a mixin of
        def _uri(self, key: str) -> str: ...
        def versions(self) -> list[int]: ...
        def read_pointer(self) -> Pointer | None: ...
        def _read_pointer(self) -> tuple[Pointer | None, str | None]: ...
        def read_manifest(self, version: int) -> Manifest: ...
        def check_files(self, manifest: Manifest) -> list[str]: ...

    def move_pointer(self, version: int, *, action: str, actor: str, reason: str, run_id: str | None = None,
                     forward_only: bool = False, measured_against: int | None = UNCHECKED,
                     attempts: int = 10) -> Pointer:
        """Point serving at `version` by compare-and-swap, then record the change in the audit log.

        `forward_only` (publishing): when a newer version is already serving, leave the pointer and
        log that this version was superseded. Otherwise the version's files are verified first: the
        pointer never names a version that is missing or altered.
        `measured_against` (publishing): the served version the challenger beat (None: nothing was served).
        The swap is conditional on it still serving, in the same compare-and-swap; a rollback, a promote or
        this run's own earlier model serving instead raises ChampionMoved and leaves the pointer."""
        mkey = manifest_key(self.prefix, version)
        manifest_raw = get_bytes(self.client, self.bucket, mkey)
        if manifest_raw is None:
            raise RegistryError(f"{self._uri(mkey)}: version {version} has no manifest; the pointer was not moved")
        manifest = Manifest.from_json(manifest_raw, where=self._uri(mkey))
        if not forward_only:
            problems = self.check_files(manifest)
            if problems:
                raise ChecksumMismatch(f"version {version} does not verify; the pointer was not moved: "
                                       + "; ".join(problems))
        for _ in range(attempts):
            current, etag = self._read_pointer()
            if current is not None:
                self._record(current)  # a writer that died right after its swap left this one unrecorded
            before = current.version if current else None
            retried = current is not None and current.version == version and current.run_id == manifest.run_id
            if measured_against is not UNCHECKED and before != measured_against and not retried:
                why = (f"v{version} was measured against {_served(measured_against)} but {_served(before)} "
                       "is serving now")
                self._append_audit(AuditEntry(now_utc(), action, actor, before, before, f"{reason}; {why}: not served",
                                              run_id, change_id=f"champion-moved-v{version}"))
                raise ChampionMoved(f"{self._uri(pointer_key(self.prefix))}: {why}; the pointer was not moved (run "
                                    "again to be measured against what is served)")
            if forward_only and current is not None and current.version >= version:
                if current.version == version and current.run_id == manifest.run_id:
                    return current  # a retried publish: this very version already serves
                self._append_audit(AuditEntry(now_utc(), action, actor, before, before,
                                              f"{reason}; v{version} published but v{before} is newer and stays "
                                              "serving", run_id, change_id=f"superseded-v{version}"))
                return current
            # The pointer names the run that produced the version it serves (after a rollback: that older run).
            pointer = Pointer(version, sha256_bytes(manifest_raw), manifest.run_id, now_utc(), action=action,
                              changed_by=actor, reason=reason, change_id=secrets.token_hex(8),
                              previous_version=before)
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            try:
                new_etag = self.client.put_object(Bucket=self.bucket, Key=pointer_key(self.prefix),
                                                  Body=pointer.to_json(), ContentType="application/json",
                                                  **condition)["ETag"]
            except Exception as exc:  # botocore's ClientError; only a lost race is retried
                if not precondition_failed(exc):
                    raise
                log.info("pointer changed while moving it to v%d; re-reading", version)
                continue
            if not exists(self.client, self.bucket, mkey):
                self._put_back(current, new_etag, version)
            self._record(pointer)
            return pointer
        raise PointerConflict(f"{self._uri(pointer_key(self.prefix))}: changed by others {attempts} times while "
                              f"moving it to v{version}; not moved")

    def _put_back(self, previous: Pointer | None, our_etag: str, version: int) -> None:
        """`prune` removed the version between our check and our swap: restore what the pointer said."""
        if previous is not None:  # the same document, change id included: its audit entry already exists
            try:
                self.client.put_object(Bucket=self.bucket, Key=pointer_key(self.prefix), Body=previous.to_json(),
                                       ContentType="application/json", IfMatch=our_etag)
            except Exception as exc:  # botocore's ClientError; someone else has moved it on, which is fine
                if not precondition_failed(exc):
                    raise
        raise PointerConflict(f"{self._uri(version_prefix(self.prefix, version))}: version {version} was pruned "
                              "while the pointer moved to it; the pointer was put back")

    def _record(self, pointer: Pointer) -> None:
        """Write the audit entry of the change that wrote `pointer`, unless it exists (create-only key):
        built from the pointer alone, so whoever writes it writes the same entry."""
        if not pointer.change_id:
            return  # written before change ids existed: its entry was written with it
        run_id = pointer.run_id if pointer.action == "publish" else None
        self._append_audit(AuditEntry(pointer.updated_at, pointer.action, pointer.changed_by,
                                      pointer.previous_version, pointer.version, pointer.reason, run_id,
                                      pointer.change_id))

    def _append_audit(self, entry: AuditEntry) -> None:
        put_if_absent(self.client, self.bucket, entry.key(self.prefix), entry.to_json())

    def promote(self, version: int, *, actor: str, reason: str) -> Pointer:
        """Serve a given version (newer or older), after verifying every file of it."""
        if version not in self.versions():
            raise RegistryError(f"{self._uri(self.prefix)}/: no version {version}; published: {self.versions()}")
        return self.move_pointer(version, action="promote", actor=actor, reason=reason)

    def rollback(self, *, actor: str, reason: str, to: int | None = None) -> Pointer:
        """Serve an earlier verified version: `to`, or the newest one below the serving version that verifies."""
        current = self.read_pointer()
        if current is None:
            raise RegistryError(f"{self._uri(pointer_key(self.prefix))}: nothing is served; nothing to roll back")
        if to is not None:
            if to >= current.version:
                raise RegistryError(f"rollback goes to an earlier version than the serving v{current.version}; "
                                    f"got v{to} (use promote to serve a newer one)")
            return self.move_pointer(to, action="rollback", actor=actor, reason=reason)
        for candidate in sorted((v for v in self.versions() if v < current.version), reverse=True):
            if not self.check_files(self.read_manifest(candidate)):
                return self.move_pointer(candidate, action="rollback", actor=actor, reason=reason)
            log.warning("v%d does not verify; looking further back", candidate)
        raise RegistryError(f"{self._uri(self.prefix)}/: no verified version older than the serving "
                            f"v{current.version}")

    def prune(self, keep: int, *, actor: str, reason: str = "retention", dry_run: bool = False) -> list[int]:
        """Delete all but the newest `keep` versions; the serving version is never deleted, even when a
        promote or rollback moves the pointer to it while this runs."""
        if keep < 1:
            raise RegistryError(f"prune keeps at least 1 version, got keep={keep}")
        serving = self.read_pointer()
        versions = self.versions()
        kept = set(versions[-keep:]) | ({serving.version} if serving else set())
        doomed = [v for v in versions if v not in kept]
        if dry_run:
            return doomed
        pruned = []
        for version in doomed:
            mkey = manifest_key(self.prefix, version)
            raw = get_bytes(self.client, self.bucket, mkey)
            if raw is None:
                continue  # another prune took it
            # Manifest first: from then on the version is no longer listed and no pointer move can keep it.
            self.client.delete_object(Bucket=self.bucket, Key=mkey)
            now = self.read_pointer()
            if now is not None and now.version == version:  # a promote/rollback got there first: keep it
                self.client.put_object(Bucket=self.bucket, Key=mkey, Body=raw, ContentType="application/json")
                log.warning("v%d became the serving version while pruning; kept", version)
                continue
            for key in list_keys(self.client, self.bucket, version_prefix(self.prefix, version)):
                self.client.delete_object(Bucket=self.bucket, Key=key)
            self._append_audit(AuditEntry(now_utc(), "prune", actor, now.version if now else None, version,
                                          f"{reason} (keep {keep})"))
            pruned.append(version)
        return pruned

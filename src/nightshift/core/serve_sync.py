"""Mirror a model's serving version into TF Serving's local layout (or an ONNX form into the
`<model>/<version>/model.onnx` layout of ONNX Runtime servers and Triton's onnxruntime backend), whole
versions only.

TF Serving polls `model_base_path` for numeric folders and loads the highest; it loads folders that are
still being written (tensorflow/serving#1086) and since 2.7 no longer reads S3 itself (#1963). So this
sidecar downloads into a hidden temporary folder on the same file system, verifies every file against
the manifest's sha256 (ModelRegistry.download_serving does), and only then renames it into place: one
atomic rename, so TF Serving only ever sees whole versions.

TF Serving's default policy serves the highest version number, so after a rollback the newer folders are
taken away (renamed out, then deleted): the highest folder is always the pointer's version. Up to
`keep - 1` older versions stay, for a fast local rollback.

Several syncs may share one `model_base_path` (two sidecars, a cron job and a person): each round holds an
exclusive lock on `<base>/.nightshift-sync.lock`, downloads under a name of its own, re-hashes every file
on disk before the rename, and a serving folder whose files no longer match the manifest (a disk error,
an edit) is downloaded again and swapped in, not left in place. Only folders this module names (numeric
version folders and its own temporary names) are ever removed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nightshift.core.errors import ChecksumMismatch
from nightshift.core.registry.forms import serving_files
from nightshift.core.registry.manifest import verify_folder

if TYPE_CHECKING:
    from nightshift.core.registry.store import ModelRegistry

log = logging.getLogger(__name__)
TMP_PREFIX = ".nightshift-tmp-"
LOCK_NAME = ".nightshift-sync.lock"


@dataclass
class SyncResult:
    serving: int | None
    downloaded: bool
    removed: list[int] = field(default_factory=list)
    repaired: bool = False


def version_folders(base: Path) -> list[int]:
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()) if base.exists() else []


def _remove(folder: Path) -> None:
    # Renamed out of TF Serving's sight first (a non-numeric name), then deleted at leisure.
    doomed = folder.with_name(f"{TMP_PREFIX}removed-{folder.name}-{uuid.uuid4().hex[:8]}")
    folder.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders in one step (Linux renameat2 with RENAME_EXCHANGE). Written with ctypes because neither
    the standard library nor a maintained package exposes it; where the kernel or file system refuses it, the
    two renames it replaces (a moment without the version) are the fallback."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    at_fdcwd = -100
    if renameat2 is not None and renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return
    err = ctypes.get_errno() if renameat2 is not None else 0
    log.warning("atomic exchange unavailable (%s); replacing %s in two steps", os.strerror(err) if err else
                "no renameat2", b)
    aside = b.with_name(f"{TMP_PREFIX}aside-{b.name}-{uuid.uuid4().hex[:8]}")
    b.rename(aside)
    a.rename(b)
    aside.rename(a)


@contextmanager
def _exclusive(base: Path) -> Iterator[None]:
    """One sync at a time per folder, across processes; released by the kernel if the process dies."""
    fd = os.open(base / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _download_verified(registry: ModelRegistry, base: Path, form: str) -> tuple[Path, int]:
    """The pointer's version in a temporary folder of this process, every file re-hashed on disk."""
    tmp = base / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        # Follows the pointer itself: checks the manifest against the pointer's sha256, then every file.
        manifest = registry.download_serving(tmp, layout=lambda m: serving_files(m, form))
        problems = verify_folder(tmp, serving_files(manifest, form))
        if problems:
            raise ChecksumMismatch(f"version {manifest.version} changed on disk after download: " + "; ".join(problems))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, manifest.version


def sync_once(registry: ModelRegistry, base: Path, keep: int = 2, form: str = "savedmodel") -> SyncResult:
    """Make `base/<pointer version>` present, verified and the highest version folder; keep `keep` in all.
    `form`: savedmodel (the whole version) or onnx / onnx_fp16 / onnx_int8 (that form as model.onnx)."""
    base.mkdir(parents=True, exist_ok=True)
    with _exclusive(base):
        for stale in base.glob(f"{TMP_PREFIX}*"):  # left by an interrupted round (the lock says none is running)
            shutil.rmtree(stale, ignore_errors=True)
        pointer = registry.read_pointer()
        if pointer is None:
            log.info("%s/%s: nothing published yet", registry.bucket, registry.prefix)
            return SyncResult(None, False)
        serving = pointer.version
        downloaded = repaired = False
        placed = base / str(serving)
        problems = verify_folder(placed, serving_files(registry.read_manifest(serving), form)) \
            if placed.exists() else []
        if problems:
            log.warning("version %d at %s does not match its manifest (%s); replacing it with a verified copy",
                        serving, placed, "; ".join(problems[:3]))
        if problems or not placed.exists():
            tmp, serving = _download_verified(registry, base, form)  # fully verified before anything moves
            placed = base / str(serving)
            if placed.exists() and (problems or verify_folder(placed, serving_files(registry.read_manifest(serving),
                                                                                    form))):
                _exchange(tmp, placed)  # one atomic step: TF Serving never sees the version missing
                shutil.rmtree(tmp, ignore_errors=True)  # now the damaged copy, under a name TF Serving ignores
                repaired = downloaded = True
                log.info("replaced version %d at %s with a verified copy", serving, placed)
            elif placed.exists():  # the pointer moved on to a version already here, intact
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.rename(placed)
                downloaded = True
                log.info("placed version %d at %s", serving, placed)
        removed = [v for v in version_folders(base) if v > serving]
        older = [v for v in version_folders(base) if v < serving]
        removed += older[: max(0, len(older) - (keep - 1))]
        for version in removed:
            _remove(base / str(version))
            log.info("removed version %d from %s", version, base)
        return SyncResult(serving, downloaded, sorted(removed), repaired)


def lag(registry: ModelRegistry, base: Path) -> str | None:
    """Why `base` does not serve the pointer's version (None when it does): a sidecar's health check."""
    pointer = registry.read_pointer()
    if pointer is None:
        return None  # nothing published: nothing to lag behind
    highest = max(version_folders(base), default=None)
    if highest != pointer.version:
        return f"{base} serves {f'v{highest}' if highest else 'nothing'}, the registry pointer names v{pointer.version}"
    return None


def sync_forever(registry: ModelRegistry, base: Path, interval: float, keep: int = 2, form: str = "savedmodel") -> None:
    """The sidecar loop: a failed round (S3 down, a tampered file) is logged and retried next round."""
    while True:
        try:
            sync_once(registry, base, keep, form)
        except Exception:  # a sidecar must outlive one bad round; the error is logged in full
            log.exception("serve-sync round failed; serving folder left as it was")
        time.sleep(interval)

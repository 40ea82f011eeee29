"""Mirror a model's serving version into TF Serving's local layout, whole versions only.

TF Serving polls `model_base_path` for numeric folders and loads the highest; it loads folders that are
still being written (tensorflow/serving#1086) and since 2.7 no longer reads S3 itself (#1963). So this
sidecar downloads into a hidden temporary folder on the same file system, verifies every file against
the manifest's sha256 (ModelRegistry.download_serving does), and only then renames it into place: one
atomic rename, so TF Serving only ever sees whole versions.

TF Serving's default policy serves the highest version number, so after a rollback the newer folders are
taken away (renamed out, then deleted): the highest folder is always the pointer's version. Up to
`keep - 1` older versions stay, for a fast local rollback.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nightshift.registry.store import ModelRegistry

log = logging.getLogger(__name__)
TMP_PREFIX = ".nightshift-tmp-"


@dataclass
class SyncResult:
    serving: int | None
    downloaded: bool
    removed: list[int] = field(default_factory=list)


def version_folders(base: Path) -> list[int]:
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()) if base.exists() else []


def _remove(folder: Path) -> None:
    # Renamed out of TF Serving's sight first (a non-numeric name), then deleted at leisure.
    doomed = folder.with_name(f"{TMP_PREFIX}removed-{folder.name}-{uuid.uuid4().hex[:8]}")
    folder.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def sync_once(registry: ModelRegistry, base: Path, keep: int = 2) -> SyncResult:
    """Make `base/<pointer version>` present and the highest version folder; keep `keep` versions in all."""
    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob(f"{TMP_PREFIX}*"):  # left by an interrupted earlier run
        shutil.rmtree(stale, ignore_errors=True)
    pointer = registry.read_pointer()
    if pointer is None:
        log.info("%s/%s: nothing published yet", registry.bucket, registry.prefix)
        return SyncResult(None, False)
    serving = pointer.version
    downloaded = False
    if not (base / str(serving)).exists():
        tmp = base / f"{TMP_PREFIX}{serving}-{uuid.uuid4().hex[:8]}"
        try:
            # Follows the pointer itself: checks the manifest against the pointer's sha256, then every file.
            serving = registry.download_serving(tmp).version
            if not (base / str(serving)).exists():
                tmp.rename(base / str(serving))
                downloaded = True
                log.info("placed version %d at %s", serving, base / str(serving))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    removed = [v for v in version_folders(base) if v > serving]
    older = [v for v in version_folders(base) if v < serving]
    removed += older[: max(0, len(older) - (keep - 1))]
    for version in removed:
        _remove(base / str(version))
        log.info("removed version %d from %s", version, base)
    return SyncResult(serving, downloaded, sorted(removed))


def sync_forever(registry: ModelRegistry, base: Path, interval: float, keep: int = 2) -> None:
    """The sidecar loop: a failed round (S3 down, a tampered file) is logged and retried next round."""
    while True:
        try:
            sync_once(registry, base, keep)
        except Exception:  # noqa: BLE001 - a sidecar must outlive one bad round; the error is logged in full
            log.exception("serve-sync round failed; serving folder left as it was")
        time.sleep(interval)

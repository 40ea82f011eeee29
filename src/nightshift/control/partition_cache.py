"""A worker-local copy of raw partitions, so a nightly run over a growing window downloads only what changed.

`stage_window` re-reads every partition of its window each run: with `all_until_end`, the whole history,
every night. S3's listing already returns each object's ETag, which for an object written in one PUT is the
MD5 of its bytes, so a copy whose MD5 equals the listed ETag is exactly the object S3 holds now; anything else
(another ETag, a multipart ETag that is no MD5, a damaged or missing copy) is downloaded as before.

The cache lives in its own folder under NIGHTSHIFT_VAR_DIR, which nightshift creates and nothing else writes:
every file in it was written here, so replacing and pruning them deletes nothing it did not create. Each copy
is written to a temporary file and renamed into place, so a reader (another run staging at the same time)
sees the old copy or the new one, never part of one; the temporary file of a process killed while writing is
removed by the next prune on the same host. A copy nobody has read or written for `max_idle_days` (a partition
that slid out of a rolling window, a pipeline removed, a source moved to another prefix) is removed by any
prune of its bucket, so the folder holds what recent runs use, not everything ever staged; reading a copy
marks it used (its mtime).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

log = logging.getLogger(__name__)
_MD5_ETAG = re.compile(r"[0-9a-f]{32}")
# A copy being written: `.<file name>.<host>.<pid>.<thread>.partial`. The host tells whose pid it is: in the
# compose profile every worker container shares this folder, each with its own process numbers.
_PARTIAL = re.compile(r"\.k.*\.(?P<host>[^.]+)\.(?P<pid>\d+)\.\d+\.partial")
DEFAULT_MAX_IDLE_DAYS = 30.0


def _host() -> str:
    return quote(socket.gethostname(), safe="").replace(".", "%2E")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: checks the process exists, sends nothing
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


@dataclass(frozen=True)
class Pruned:
    unlisted: int  # copies of objects under the staged prefix that S3 no longer lists
    idle: int  # copies anywhere in the bucket's folder unused for max_idle_days


class PartitionCache:
    """One flat folder per bucket, one file per object, named by the object's URL-quoted key: no folder per
    partition to create (the first, filling run took 1.5x as long with the keys' folders mirrored) and no key
    that can name a path outside the folder."""

    def __init__(self, root: Path, max_idle_days: float = DEFAULT_MAX_IDLE_DAYS):
        self.root = root
        self.max_idle_seconds = max_idle_days * 86400

    def _path(self, bucket: str, key: str) -> Path:
        return self.root / quote(bucket, safe="") / ("k" + quote(key, safe=""))

    def get(self, bucket: str, key: str, etag: str) -> bytes | None:
        """The object's bytes if the copy here is the object whose ETag S3 listed, else None."""
        if not _MD5_ETAG.fullmatch(etag):
            return None
        path = self._path(bucket, key)
        try:
            body = path.read_bytes()
        except OSError:  # not kept (or a key too long to name a file): downloaded instead
            return None
        if hashlib.md5(body, usedforsecurity=False).hexdigest() != etag:
            return None
        try:
            os.utime(path)  # used now: not idle (atime is not kept on every mount)
        except OSError:  # pruned meanwhile by another run: the bytes read are still the object's
            pass
        return body

    def put(self, bucket: str, key: str, etag: str, body: bytes) -> None:
        """Keep `body` if it is the object `etag` names (single-PUT objects only: their ETag is the MD5)."""
        if not _MD5_ETAG.fullmatch(etag) or hashlib.md5(body, usedforsecurity=False).hexdigest() != etag:
            return
        path = self._path(bucket, key)
        tmp = path.with_name(f".{path.name}.{_host()}.{os.getpid()}.{threading.get_ident()}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(body)
            os.replace(tmp, path)
        except OSError as exc:  # a cache that cannot be written costs a download next time, nothing more
            tmp.unlink(missing_ok=True)
            log.warning("partition cache: cannot keep %s under %s (%s)", key, path.parent, exc)

    def prune(self, bucket: str, prefix: str, listed: set[str]) -> Pruned:
        """Remove the copies of objects under `prefix` that S3 no longer lists, the bucket's copies unused for
        max_idle_days, and the partial copies that a process of this host which has since died left behind."""
        folder = self._path(bucket, prefix).parent
        if not folder.is_dir():
            return Pruned(0, 0)
        unlisted = idle = 0
        host = _host()
        oldest = time.time() - self.max_idle_seconds
        for path in folder.iterdir():
            if not path.name.startswith("k"):
                partial = _PARTIAL.fullmatch(path.name)
                if partial and partial["host"] == host and not _alive(int(partial["pid"])):
                    path.unlink(missing_ok=True)  # killed while writing; a live writer's copy is left alone
                continue
            key = unquote(path.name[1:])
            if key.startswith(prefix) and key not in listed:
                path.unlink(missing_ok=True)
                unlisted += 1
            elif _modified(path) < oldest:  # a copy this run used was just read or written
                path.unlink(missing_ok=True)
                idle += 1
        return Pruned(unlisted, idle)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile
        return float("inf")

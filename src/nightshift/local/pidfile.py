"""PID files that name one process, not a number: the PID and the kernel's start time of that process.

A PID file outlives its process (a crash, a reboot) and the kernel reuses numbers, so `make down` must
never signal whatever process holds that number now. Linux gives every process a start time (field 22
of /proc/<pid>/stat, in clock ticks since boot) that a reused PID does not share.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after "(comm)" start at field 3; field 22 is index 19


def write(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid} {start_time(pid) or '?'}\n")


def running(path: Path) -> int | None:
    """The PID the file names if that very process still runs; else None (and the stale file is removed)."""
    try:
        fields = path.read_text().split()
    except FileNotFoundError:
        return None
    pid = int(fields[0]) if fields and fields[0].isdigit() else 0
    recorded = fields[1] if len(fields) > 1 else None
    if pid and recorded is not None and start_time(pid) == recorded:
        return pid
    if pid and start_time(pid) is not None:
        log.warning("%s names pid %d, but that is another process now (or the file predates start times); "
                    "not touching it", path, pid)
    path.unlink(missing_ok=True)
    return None

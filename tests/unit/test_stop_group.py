"""`make down` ends each service and what it left in its process group (a scheduler's LocalExecutor workers)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from nightshift.local.seaweed import stop_group

pytestmark = pytest.mark.unit


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_the_service_and_the_child_it_left_in_its_group_are_both_ended(tmp_path):
    child_file = tmp_path / "child.pid"
    # The service starts a child that ignores SIGTERM and outlives the service's own exit.
    service = subprocess.Popen(["bash", "-c", f"(trap '' TERM; sleep 300) & echo $! > {child_file}; wait"],
                               start_new_session=True)
    deadline = time.monotonic() + 10
    while not (child_file.exists() and child_file.read_text().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(child_file.read_text())
    assert _alive(child)
    stop_group(service.pid, timeout=5)
    service.wait(5)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)

"""A run's folder name: filesystem-safe, one per run id (two run ids shared a folder and the later run reused
the earlier one's champion.json), never `.` or `..`."""

from __future__ import annotations

import pytest

from nightshift.core.run_config import run_key

pytestmark = pytest.mark.unit


def test_run_ids_that_read_the_same_get_different_folders():
    assert run_key("scheduled__2026-12-07T02:00:00+00:00") != run_key("scheduled__2026-12-07T02_00_00_00_00")


@pytest.mark.parametrize("run_id", [".", "..", "../../etc", "a/b", "", "x" * 400])
def test_a_key_is_one_plain_folder_name(run_id):
    key = run_key(run_id)
    assert key not in (".", "..") and "/" not in key and "." not in key and 0 < len(key) <= 133


def test_the_same_run_id_always_gets_the_same_folder():
    assert run_key("manual__2026-12-07T10:00:00+00:00") == run_key("manual__2026-12-07T10:00:00+00:00")
    assert run_key("manual__2026-12-07T10:00:00+00:00").startswith("manual__2026-12-07T10_00_00_00_00-")

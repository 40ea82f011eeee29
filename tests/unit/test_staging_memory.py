"""Staging holds a bounded number of partitions, whatever the window's length (nightshift.control.landing._prefetch)."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from nightshift.control.landing import _prefetch

pytestmark = pytest.mark.unit


class InlinePool:
    """Runs each submitted call at once, so the order of fetches and yields is deterministic."""

    def submit(self, fn, *args):
        future: Future = Future()
        future.set_result(fn(*args))
        return future


@pytest.mark.parametrize("partitions", [3, 1423, 20000])
def test_partitions_come_in_order_with_at_most_depth_plus_one_held(partitions):
    fetched: list[int] = []
    consumed = 0
    held_at_fetch: list[int] = []

    def fetch(key: int) -> int:
        held_at_fetch.append(len(fetched) - consumed)
        fetched.append(key)
        return key

    out = []
    for value in _prefetch(InlinePool(), fetch, list(range(partitions)), depth=16):
        out.append(value)
        consumed += 1
    assert out == list(range(partitions))
    # 16 fetched ahead plus the one the writer is working on: the same bound for 3 days or 55 years
    assert max(held_at_fetch) == min(16, partitions - 1)
    assert len(fetched) == partitions

"""Reading ahead (nightshift.core.prefetch): order kept, memory bounded by depth, errors raised in the caller."""

from __future__ import annotations

import time

import pytest

from nightshift.core.prefetch import prefetch


def test_items_come_in_order_and_a_producers_error_is_raised_where_its_item_would_be():
    assert list(prefetch(iter(range(100)), depth=2)) == list(range(100))

    def failing():
        yield 1
        raise ValueError("chunk 2 is bad")

    got = []
    with pytest.raises(ValueError, match="chunk 2 is bad"):
        for item in prefetch(failing(), depth=2):
            got.append(item)
    assert got == [1]


@pytest.mark.parametrize("depth", [1, 2])
def test_at_most_depth_items_are_produced_ahead_of_the_one_held(depth):
    produced = []

    def items():
        for i in range(12):
            produced.append(i)
            yield i

    ahead = []
    for i in prefetch(items(), depth=depth):
        time.sleep(0.01)  # time for the worker to run as far ahead as it may
        ahead.append(len(produced) - (i + 1))
    assert 1 <= max(ahead) <= depth and ahead[-1] == 0  # it reads ahead, never further than depth

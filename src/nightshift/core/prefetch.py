"""Reading ahead: the next items of an iterator produced on a second thread while the caller works on this one.

Parsers (pandas' C reader, Arrow) and TensorFlow release the GIL, so on two cores the read of the next chunk
overlaps the work on the current one. Shared by the contract gate (control interpreter) and the batch scorer
(TFX interpreter).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """`items` in order, at most `depth` produced ahead of the one the caller holds (so memory is bounded by
    depth + 1 items); an error raised producing an item is raised here, where that item would have come.
    One worker thread calls next() in turn, so the iterator is never advanced from two threads at once."""
    end = object()
    with ThreadPoolExecutor(1, thread_name_prefix="prefetch") as pool:
        pending = deque(pool.submit(next, items, end) for _ in range(depth))
        while (item := pending.popleft().result()) is not end:
            pending.append(pool.submit(next, items, end))
            yield item  # type: ignore[misc]

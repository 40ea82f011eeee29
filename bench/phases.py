"""One benchmark phase in a fresh process, so its peak RSS and its imports are its own (shared by the benchmarks)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from queue import Empty
from typing import Any


def run_phase(target: Callable[..., None], *args: Any) -> Any:
    """What `target(*args, queue)` puts on its queue, run in a spawned process. A phase that dies without a
    result (an assertion, out of memory, an engine without its form) ends the benchmark naming its exit code,
    instead of leaving it waiting for ever."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    while True:
        try:
            out = queue.get(timeout=1)
            break
        except Empty:
            if not proc.is_alive():
                raise SystemExit(f"{target.__name__} ended with exit code {proc.exitcode} and no result") from None
    proc.join()
    return out

"""Progress a person watches: a bar on a terminal, plain lines otherwise (a log, a pipe, a test), so scripts read
the same text they always did."""

from __future__ import annotations

import sys
from typing import Any, TextIO

FINISHED = {"success", "failed", "skipped", "upstream_failed", "removed"}


class TaskProgress:
    """`trigger --wait`: one line per task state change and, on a terminal, a bar of finished tasks."""

    def __init__(self, label: str, stream: TextIO | None = None, *, bar: bool | None = None):
        self.stream = stream or sys.stderr
        self.states: dict[str, str] = {}
        self._bar: Any = None
        if self.stream.isatty() if bar is None else bar:
            from tqdm import tqdm

            self._bar = tqdm(total=0, desc=label, unit="task", file=self.stream, leave=True,
                             bar_format="{desc}: {n}/{total} tasks finished |{bar}| {elapsed}")

    def __call__(self, task: str, state: str) -> None:
        self.states[task] = state
        line = f"  {task}: {state}"
        if self._bar is None:
            print(line, flush=True)
            return
        self._bar.write(line, file=sys.stdout)
        self._bar.total = len(self.states)
        self._bar.n = sum(s in FINISHED for s in self.states.values())
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

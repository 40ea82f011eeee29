"""Progress a person watches: a bar on a terminal, plain lines otherwise (a log, a pipe, a test), so scripts read
the same text they always did."""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

FINISHED = {"success", "failed", "skipped", "upstream_failed", "removed"}


def _terminal_bar(stream: TextIO, bar: bool | None, **options: Any) -> Any:
    """A tqdm bar on `stream` when it is a terminal (or `bar` says so), else None."""
    if not (stream.isatty() if bar is None else bar):
        return None
    from tqdm import tqdm

    return tqdm(file=stream, leave=True, **options)


class TaskProgress:
    """`trigger --wait`: one line per task state change and, on a terminal, a bar of finished tasks."""

    def __init__(self, label: str, stream: TextIO | None = None, *, bar: bool | None = None):
        self.stream = stream or sys.stderr
        self.states: dict[str, str] = {}
        self._bar = _terminal_bar(self.stream, bar, total=0, desc=label, unit="task",
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


SCORED = re.compile(r"scored (\d+) rows so far")


class ScoreProgress:
    """`nightshift score`: the scorer's log lines as they come and, on a terminal, a bar of rows scored (the
    scorer reports every second then, instead of every ten)."""

    PROGRESS_SECONDS = "1"

    def __init__(self, label: str, log: TextIO, stream: TextIO | None = None, *, bar: bool | None = None):
        self.log = log
        self.stream = stream or sys.stderr
        self._bar = _terminal_bar(self.stream, bar, desc=label, unit=" rows", unit_scale=True)

    @property
    def active(self) -> bool:
        return self._bar is not None

    def __call__(self, line: str) -> None:
        if self._bar is None:
            print(line, file=self.log, flush=True)
            return
        if found := SCORED.search(line):
            self._bar.n = int(found.group(1))
            self._bar.refresh()
            return
        self._bar.write(line, file=self.log)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class DownloadProgress:
    """A version's download (`serve-sync`): on a terminal, a bar of bytes verified so far; nothing otherwise (the
    registry logs a line every 10 s either way)."""

    def __init__(self, label: str, stream: TextIO | None = None, *, bar: bool | None = None):
        self.stream = stream or sys.stderr
        self._bar = _terminal_bar(self.stream, bar, desc=label, unit="B", unit_scale=True)

    def __call__(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

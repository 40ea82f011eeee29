"""Data windows: which raw date partitions a run uses, derived from its Airflow data interval.

The raw landing zone is partitioned `<prefix>/date=YYYY-MM-DD/`. A run's window is a half-open
date range [start, end): `end` is the day its data interval ends (so a run never sees data from
after its interval), `start` is `end - days` for a trailing window or open for "all until end".
The taxi demo has ~10 trips a day over 2013-2016, so windows routinely span months or years.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from nightshift.core.errors import EmptyWindowError

_PARTITION_RE = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})/")


@dataclass(frozen=True)
class DataWindow:
    start: date | None  # inclusive; None = from the first partition
    end: date  # exclusive

    def contains(self, day: date) -> bool:
        return day < self.end and (self.start is None or day >= self.start)

    def as_dict(self) -> dict[str, str | None]:
        return {"start": self.start.isoformat() if self.start else None, "end": self.end.isoformat()}

    def describe(self) -> str:
        return f"[{self.start.isoformat() if self.start else 'beginning'}, {self.end.isoformat()})"


def window_for_interval(interval_end: datetime | date, *, mode: str, days: int = 0) -> DataWindow:
    """Window ending at the run's data-interval end. `days` > 0 with any mode means trailing days."""
    end = interval_end.date() if isinstance(interval_end, datetime) else interval_end
    if isinstance(interval_end, datetime) and (interval_end.hour or interval_end.minute or interval_end.second):
        # A partial day belongs to the interval: include that day's partition.
        end = end + timedelta(days=1)
    if mode == "trailing_days" or days > 0:
        if days < 1:
            raise ValueError(f"a trailing window needs days >= 1, got {days}")
        return DataWindow(start=end - timedelta(days=days), end=end)
    if mode != "all_until_end":
        raise ValueError(f"unknown window mode {mode!r}; expected 'all_until_end' or 'trailing_days'")
    return DataWindow(start=None, end=end)


def partition_prefix(base_prefix: str, day: date) -> str:
    return f"{base_prefix.rstrip('/')}/date={day.isoformat()}/"


def partition_date(key: str) -> date | None:
    match = _PARTITION_RE.search(key)
    return date.fromisoformat(match.group(1)) if match else None


def select_partitions(keys: Iterable[str], window: DataWindow, *, where: str = "") -> list[str]:
    """Keys of the partition files inside the window, in date order. Refuses an empty window."""
    chosen = sorted(
        (k for k in keys if (d := partition_date(k)) is not None and window.contains(d)),
        key=lambda k: (partition_date(k), k),
    )
    if not chosen:
        raise EmptyWindowError(
            f"no raw partition under {where or 'the landing zone'} falls in the data window "
            f"{window.describe()}; expected at least one date=YYYY-MM-DD/ partition in that range "
            "(seed data with `nightshift seed`, or widen the window with the window_days parameter)"
        )
    return chosen

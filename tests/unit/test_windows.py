from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from nightshift.core.errors import EmptyWindowError
from nightshift.core.windows import DataWindow, partition_date, select_partitions, window_for_interval

pytestmark = pytest.mark.unit

KEYS = [f"taxi/date={d}/part-00000.csv" for d in ("2016-12-29", "2016-12-30", "2015-01-01", "2013-01-01")]


def test_all_until_end_excludes_the_interval_end_day():
    window = window_for_interval(datetime(2016, 12, 30, tzinfo=timezone.utc), mode="all_until_end")
    assert window == DataWindow(start=None, end=date(2016, 12, 30))
    assert select_partitions(KEYS, window) == [KEYS[3], KEYS[2], KEYS[0]]


def test_trailing_days_spans_months():
    window = window_for_interval(datetime(2016, 12, 31, tzinfo=timezone.utc), mode="all_until_end", days=730)
    assert window.start == date(2015, 1, 1)
    assert select_partitions(KEYS, window) == [KEYS[2], KEYS[0], KEYS[1]]


def test_partial_day_interval_end_includes_that_day():
    window = window_for_interval(datetime(2016, 12, 30, 2, 0, tzinfo=timezone.utc), mode="trailing_days", days=1)
    assert window == DataWindow(start=date(2016, 12, 30), end=date(2016, 12, 31))


def test_empty_window_is_refused_with_range_and_location():
    window = window_for_interval(date(2012, 1, 1), mode="all_until_end")
    with pytest.raises(EmptyWindowError, match=r"s3://raw/taxi/.*\[beginning, 2012-01-01\)"):
        select_partitions(KEYS, window, where="s3://raw/taxi/")


def test_partition_date_parsing_ignores_other_keys():
    assert partition_date("taxi/date=2014-02-03/part.csv") == date(2014, 2, 3)
    assert partition_date("taxi/_SUCCESS") is None


def test_trailing_window_needs_days():
    with pytest.raises(ValueError):
        window_for_interval(date(2016, 1, 1), mode="trailing_days", days=0)

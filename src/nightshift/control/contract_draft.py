"""Draft a first data contract from a sample file, for a person to edit (`nightshift contract draft`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_SET_SIZE = 30  # string columns with at most this many distinct values get an allowed-values set
MIN_DISTINCT_FOR_SCALE = 10  # columns with fewer distinct values are codes or flags: their range is their domain
UNIX_SECONDS = (946684800, 4102444800)  # 2000-01-01 .. 2100-01-01: milliseconds or a yyyymmdd number fail


def _exp(kind: str, severity: str, why: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"severity": severity, "why": why}}


def _timestamp_expectations(column: str) -> list[dict[str, Any]]:
    """Freshness from the run's window (a fixed range would reject next month's data) and the domain of unix
    seconds (so a wrong unit fails even when a file is validated alone, with the window open)."""
    return [
        _exp("expect_column_values_to_be_between", "error", "inside the run's window: stale or mislabelled rows fail",
             column=column, min_value={"$PARAMETER": "window_start_ts"}, max_value={"$PARAMETER": "window_end_ts"}),
        _exp("expect_column_values_to_be_between", "error", "unix seconds (2000-01-01 to 2100-01-01)",
             column=column, min_value=UNIX_SECONDS[0], max_value=UNIX_SECONDS[1]),
    ]


def _scale_expectation(column: str, values: pd.Series) -> dict[str, Any] | None:
    """The column's median (or mean, where most values are 0) within a factor of 10 of the sample's: a value
    in another unit or scale (cents for dollars, metres for miles) moves it by more than that."""
    for stat, centre in (("median", float(values.median())), ("mean", float(values.mean()))):
        if centre != 0:
            low, high = sorted((centre / 10, centre * 10))
            if stat == "mean" and centre > 0:
                low = 0.0
            exp = _exp(f"expect_column_{stat}_to_be_between", "error",
                       f"sample {stat} {centre:g}: another unit or scale moves it more than tenfold",
                       column=column, min_value=round(low, 6), max_value=round(high, 6))
            exp["meta"]["scope"] = "window"  # a small partition's median is noise; a window's is not
            return exp
    return None


def draft_contract(df: pd.DataFrame, dataset: str, sample_name: str,
                   timestamp_column: str | None = None) -> dict[str, Any]:
    """Expectations that the sample meets, loose enough for ordinary variation (ranges widened by
    half their span, null allowances rounded down) so a first run does not fail on noise. Every numeric
    column is bounded (severity error) to the sample's range widened by half its span, and, unless it is a
    code or flag, its median to a tenfold band around the sample's; the timestamp column gets the run
    window instead (see _timestamp_expectations)."""
    import pandas as pd

    exps: list[dict[str, Any]] = [
        _exp("expect_table_columns_to_match_set", "error", "the model reads these columns",
             column_set=list(df.columns), exact_match=True),
        {**_exp("expect_table_row_count_to_be_between", "error", "enough rows to train on",
                min_value=max(1, len(df) // 10)), "meta": {"severity": "error", "scope": "window",
                                                           "why": "enough rows to train on"}},
    ]
    for column in df.columns:
        series = df[column]
        present = 1.0 - float(series.isna().mean())
        if present == 1.0:
            exps.append(_exp("expect_column_values_to_not_be_null", "error", "never empty in the sample",
                             column=column))
        elif present > 0.05:
            mostly = math.floor((present - 0.05) * 100) / 100
            exps.append(_exp("expect_column_values_to_not_be_null", "warn",
                             f"{present:.0%} filled in the sample", column=column, mostly=max(mostly, 0.01)))
        values = series.dropna()
        if values.empty:
            continue
        if pd.api.types.is_numeric_dtype(series):
            whole = pd.api.types.is_integer_dtype(series) or _whole_valued(values)
            allowed = ["int64", "Int64Dtype"] if whole else ["float64", "int64", "Float64", "Int64"]
            why = ("whole numbers in the sample (pandas writes an integer column with gaps as 17031081000.0): read "
                   "as integers, a fraction is refused; allow float64 here if fractions are valid") if whole and not \
                pd.api.types.is_integer_dtype(series) else f"{'int64' if whole else 'float64'} in the sample"
            exps.append(_exp("expect_column_values_to_be_in_type_list", "error", why,
                             column=column, type_list=allowed))
            if column == timestamp_column:
                exps.extend(_timestamp_expectations(column))
                continue
            low, high = float(values.min()), float(values.max())
            margin = (high - low) / 2 or abs(high) / 2 or 1.0
            lower = 0.0 if low >= 0 else low - margin  # non-negative columns stay non-negative
            exps.append(_exp("expect_column_values_to_be_between", "error",
                             f"sample range [{low:g}, {high:g}], widened: the column's plausible domain",
                             column=column, min_value=lower, max_value=high + margin))
            if values.nunique() >= MIN_DISTINCT_FOR_SCALE and (scale := _scale_expectation(column, values)):
                exps.append(scale)
        else:
            distinct = sorted(map(str, values.unique()))
            if len(distinct) <= MAX_SET_SIZE:
                exps.append(_exp("expect_column_values_to_be_in_set", "error",
                                 f"{len(distinct)} distinct values in the sample", column=column,
                                 value_set=distinct))
    return {
        "name": dataset,
        "meta": {"contract_version": "1", "dataset": dataset,
                 "description": f"Drafted from {sample_name} ({len(df)} rows). Review every expectation: "
                                "severity 'error' stops a run, 'warn' is reported and the run goes on."},
        "expectations": exps,
    }


def _whole_valued(values: pd.Series) -> bool:
    import numpy as np

    array = values.to_numpy(dtype=float)
    return bool(np.isfinite(array).all() and (np.floor(array) == array).all())

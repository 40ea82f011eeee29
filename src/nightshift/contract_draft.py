"""Draft a first data contract from a sample file, for a person to edit (`nightshift contract draft`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_SET_SIZE = 30  # string columns with at most this many distinct values get an allowed-values set


def _exp(kind: str, severity: str, why: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"severity": severity, "why": why}}


def draft_contract(df: pd.DataFrame, dataset: str, sample_name: str) -> dict[str, Any]:
    """Expectations that the sample meets, loose enough for ordinary variation (ranges widened by
    half their span, null allowances rounded down) so a first run does not fail on noise."""
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
            kind = "int64" if pd.api.types.is_integer_dtype(series) else "float64"
            allowed = ["int64", "Int64"] if kind == "int64" else ["float64", "int64", "Float64", "Int64"]
            exps.append(_exp("expect_column_values_to_be_in_type_list", "error", f"{kind} in the sample",
                             column=column, type_list=allowed))
            low, high = float(values.min()), float(values.max())
            margin = (high - low) / 2 or abs(high) / 2 or 1.0
            lower = 0.0 if low >= 0 else low - margin  # non-negative columns stay non-negative
            exps.append(_exp("expect_column_values_to_be_between", "warn",
                             f"sample range [{low:g}, {high:g}], widened", column=column,
                             min_value=lower, max_value=high + margin))
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

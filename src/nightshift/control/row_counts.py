"""Column map expectations (a yes/no per value) counted chunk by chunk with Great Expectations' own condition
functions, and judged once, at the end, by the expectation's own `_validate` on the summed counts.

Why not GX's validator on every chunk: it rebuilds the expectation's metric graph, its pydantic configuration
and its result on every call, about 8 ms per expectation per chunk whatever the chunk holds; on 1M taxi rows
that bookkeeping cost more than reading the file (bench/validate_throughput.py). Here GX's code still decides
what a value is worth (the pandas condition function registered for the expectation's metric) and what the
counts mean (`mostly`, the result's shape and sample); only the graph walk is left out. The types below are
the ones whose verdict is exactly that (tests/integration/test_window_validation.py compares every result with
GX's validator on the whole frame); any other expectation stays on the validator.
"""

from __future__ import annotations

import inspect
import traceback
from typing import TYPE_CHECKING, Any

from nightshift.control.validation import resolve_parameters

if TYPE_CHECKING:
    import pandas as pd

# Expectations judged by ColumnMapExpectation._validate (or not-null's own) on the metrics counted below.
COUNTED_TYPES = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_between", "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set", "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex"})
SAMPLE = 20  # GX's partial_unexpected_count under the SUMMARY result format
RUNTIME = {"result_format": "SUMMARY"}


def countable(expectation: dict[str, Any], columns: list[str], parameters: dict[str, Any]) -> bool:
    kwargs = expectation.get("kwargs", {})
    return (expectation["type"] in COUNTED_TYPES and kwargs.get("column") in columns
            and not kwargs.get("row_condition") and resolve_parameters(kwargs, parameters) is not None)


class ChunkColumns:
    """One chunk's columns with their null masks and non-null values, worked out once for all the
    expectations on a column (a column often has a not-null check and a range)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._missing: dict[str, Any] = {}
        self._present: dict[str, Any] = {}
        self._nulls: dict[str, int] = {}

    def missing(self, column: str) -> Any:
        """A numpy bool array: True where the value is missing."""
        if column not in self._missing:
            self._missing[column] = self.frame[column].isna().to_numpy()
        return self._missing[column]

    def null_count(self, column: str) -> int:
        if column not in self._nulls:
            self._nulls[column] = int(self.missing(column).sum())
        return self._nulls[column]

    def present(self, column: str) -> pd.Series:
        if column not in self._present:
            import numpy

            values = self.frame[column]
            values = values[~self.missing(column)] if self.null_count(column) else values
            if values.dtype.kind in "iu" and not isinstance(values.dtype, numpy.dtype):
                # pandas' nullable integers (an integer column with gaps, as the readers give it): without its
                # gaps, the same values as numpy integers, which GX's conditions compare vectorised (on the
                # extension type they call a Python function per value: 3.5x the whole gate's time on taxi)
                values = values.astype(values.dtype.numpy_dtype)
            self._present[column] = values
        return self._present[column]


class ColumnMapCounts:
    """One column map expectation's counts over the chunks seen so far."""

    def __init__(self, expectation: dict[str, Any], parameters: dict[str, Any]) -> None:
        from great_expectations.execution_engine import PandasExecutionEngine
        from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
        from great_expectations.expectations.registry import get_metric_kwargs, get_metric_provider

        kwargs = resolve_parameters(expectation.get("kwargs", {}), parameters)
        config = ExpectationConfiguration(type=expectation["type"], kwargs=kwargs, meta=expectation.get("meta", {}))
        self.expectation = config.to_domain_obj()
        self.column = config.kwargs["column"]
        self.metric = self.expectation.map_metric
        condition = f"{self.metric}.condition"
        self.provider, partial = get_metric_provider(condition, PandasExecutionEngine())
        self.condition = inspect.unwrap(partial)  # the expectation's own pandas function, before GX's domain plumbing
        self.values = get_metric_kwargs(condition, config, RUNTIME)["metric_value_kwargs"] or {}
        self.skip_nulls = getattr(self.provider, "filter_column_isnull", True)
        self.rows = self.nulls = self.unexpected = 0
        self.sample: list[Any] = []
        self.rows_at: list[int] = []
        self.error: BaseException | None = None

    def add(self, chunk: ChunkColumns) -> None:
        if self.error is not None:
            return
        missing, present = chunk.missing(self.column), chunk.present(self.column)
        values = present if self.skip_nulls else chunk.frame[self.column]
        try:
            meets = self.condition(self.provider, values, **self.values, _metrics={})
        except Exception as exc:  # noqa: BLE001 - GX's validator reports a failing metric in the result, as here
            self.error = exc
            return
        unexpected = (~meets).to_numpy(dtype=bool)
        count = int(unexpected.sum())
        if count and len(self.sample) < SAMPLE:
            import numpy as np

            taken = np.flatnonzero(unexpected)[:SAMPLE - len(self.sample)]
            self.sample.extend(values.iloc[taken])
            positions = np.flatnonzero(~missing)[taken] if self.skip_nulls else taken
            self.rows_at.extend(int(self.rows + p) for p in positions)  # row numbers in the file, as GX's index
        self.rows += len(missing)
        self.nulls += chunk.null_count(self.column)
        self.unexpected += count

    def result(self) -> Any:
        """GX's ExpectationValidationResult for the whole file."""
        from great_expectations.core.expectation_validation_result import ExpectationValidationResult

        if self.error is not None:
            return ExpectationValidationResult(
                success=False, expectation_config=self.expectation.configuration, result={},
                exception_info={"raised_exception": True, "exception_message": f"{type(self.error).__name__}: "
                                f"{self.error}", "exception_traceback": "".join(
                                    traceback.format_exception(self.error))})
        metrics = {"table.row_count": self.rows, "column_values.nonnull.unexpected_count": self.nulls,
                   f"{self.metric}.unexpected_count": self.unexpected,
                   f"{self.metric}.unexpected_values": self.sample,
                   f"{self.metric}.unexpected_index_list": self.rows_at}
        return self.expectation._build_evr(self.expectation._validate(metrics, dict(RUNTIME)))

"""A contract against a file larger than memory should hold: Great Expectations on one chunk at a time, with
the same results as on the whole file.

Every expectation falls in one of three kinds:
- header: the table's shape (columns, their count). Every chunk has the file's header; checked on the first.
- per-row: GX's column map expectations (a yes/no per value: not null, between, in set, type, regex...).
  The common ones are counted on each chunk by GX's own condition functions and judged once by the
  expectation's own `_validate` on the sums (nightshift.control.row_counts); the rest run through GX's
  validator on each chunk and are merged with GX's `mostly` rule and result formatter. Either way the counts,
  percentages, verdict and first 20 unexpected values and row numbers are the whole file's. A type check on a
  typed column is judged on its dtype: once per dtype, not once per chunk.
- window: everything whose answer depends on rows in other chunks (row counts, medians, means, uniqueness,
  order). GX runs them once, at the end, on a frame of only the columns they read, gathered chunk by chunk.
  A compound uniqueness over many columns reads one column instead: a 64-bit hash of each row's values (a
  false duplicate needs a hash collision: about n²/2⁶⁵, 6e-8 at 1.5M rows).
Memory is bounded by two chunks (one parsed ahead) plus the window kind's columns (8 bytes a row each for the
taxi contract), not by the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightshift.control.row_counts import SAMPLE, ChunkColumns, ColumnMapCounts, countable
from nightshift.control.validation import GateResult, assemble, run_parameters, validate_expectations

if TYPE_CHECKING:
    import pandas as pd

    from nightshift.control.contracts import Contract

CHUNK_ROWS = 200_000  # the gate on 1.5M taxi rows peaks at 1.34x its RSS on 150k (bench/validate_throughput.py)
ROW_KEY = "__nightshift_row_key_{}"  # one per compound uniqueness expectation
HEADER_TYPES = frozenset({
    "expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list", "expect_column_to_exist",
    "expect_table_column_count_to_be_between", "expect_table_column_count_to_equal"})
TYPE_JUDGED = frozenset({"expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type"})
# Column map expectations whose answer for one value depends on the other rows.
SPANNING_MAP_TYPES = frozenset({
    "expect_column_values_to_be_unique", "expect_column_values_to_be_increasing",
    "expect_column_values_to_be_decreasing"})


def kind_of(expectation: dict[str, Any]) -> str:
    """header, per-row or window (see the module's docstring)."""
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.registry import get_expectation_impl

    kind = expectation["type"]
    if kind in HEADER_TYPES:
        return "header"
    if kind not in SPANNING_MAP_TYPES and issubclass(get_expectation_impl(kind), ColumnMapExpectation):
        return "per-row"
    return "window"


@dataclass
class _WindowColumns:
    """The columns the window kind reads, gathered chunk by chunk, and the expectations rewritten to them."""

    expectations: list[dict[str, Any]]
    columns: set[str] = field(default_factory=set)
    keys: dict[int, tuple[list[str], str]] = field(default_factory=dict)  # index -> (compound columns, ignore_row_if)
    absent: dict[int, list[str]] = field(default_factory=dict)  # index -> compound columns the data lacks
    parts: list[pd.DataFrame] = field(default_factory=list)
    rewritten: list[dict[str, Any]] = field(default_factory=list)
    condition_text: str = ""  # every row condition: the columns they name are gathered too

    def __post_init__(self) -> None:
        for i, exp in enumerate(self.expectations):
            kwargs = dict(exp.get("kwargs", {}))
            self.condition_text += " " + str(kwargs.get("row_condition") or "")
            if exp["type"] == "expect_compound_columns_to_be_unique":
                self.keys[i] = (list(kwargs.pop("column_list")), kwargs.pop("ignore_row_if", "all_values_are_missing"))
                exp = {**exp, "type": "expect_column_values_to_be_unique",
                       "kwargs": {**kwargs, "column": ROW_KEY.format(i)}}
            for name in ("column", "column_A", "column_B"):
                if name in kwargs:
                    self.columns.add(kwargs[name])
            self.columns.update(kwargs.get("column_list", []))
            self.rewritten.append(exp)

    def add(self, chunk: pd.DataFrame) -> None:
        part = chunk[[c for c in chunk.columns if c in self.columns or c in self.condition_text]].copy()
        for i, (columns, ignore_row_if) in self.keys.items():
            if missing := [c for c in columns if c not in chunk.columns]:
                self.absent[i] = missing
                columns = [c for c in columns if c in chunk.columns]
            part[ROW_KEY.format(i)] = _row_keys(chunk, columns, ignore_row_if)
        self.parts.append(part)  # with no column at all, its index still carries the row count

    def frame(self) -> pd.DataFrame:
        """The gathered columns as one frame, built a column at a time and each column's parts let go as soon
        as it is joined: the peak is the parts plus one column, not twice the window's columns."""
        import pandas as pd

        if not self.parts:
            return pd.DataFrame()
        rows = sum(len(p) for p in self.parts)
        names = list(self.parts[0].columns)
        window = pd.DataFrame(index=pd.RangeIndex(rows))
        for name in names:
            window[name] = pd.concat([p.pop(name) for p in self.parts], ignore_index=True)
        self.parts.clear()
        return window


def _row_keys(chunk: pd.DataFrame, columns: list[str], ignore_row_if: str) -> pd.Series:
    """A 64-bit hash of each row's values in `columns`; missing (excluded, as GX excludes them) per
    ignore_row_if. Numbers are hashed as float64, so 5 in an all-integer chunk and 5.0 in a chunk with a gap
    (pandas parses that column as float there) are the same value, as in a frame read whole."""
    import pandas as pd

    if not columns:
        return pd.Series(pd.NA, index=chunk.index, dtype="UInt64")
    # A frame built from a dict of columns: DataFrame.apply costs more than the hashing itself.
    values = pd.DataFrame({name: column.astype("float64") if pd.api.types.is_numeric_dtype(column) else column
                           for name, column in chunk[columns].items()})
    keys = pd.util.hash_pandas_object(values, index=False).astype("UInt64")
    missing = values.isna()
    if ignore_row_if == "all_values_are_missing":
        keys[missing.all(axis=1)] = pd.NA
    elif ignore_row_if == "any_value_is_missing":
        keys[missing.any(axis=1)] = pd.NA
    return keys


def _type_key(index: int, expectation: dict[str, Any], chunk: pd.DataFrame) -> tuple[int, str] | None:
    """For a type check on a typed column, GX judges the column's dtype, not its values: one result per dtype
    serves every chunk of that dtype. GX's own test for "typed": the dtype's scalar type is not numpy's object_."""
    column = expectation.get("kwargs", {}).get("column")
    if (expectation["type"] not in TYPE_JUDGED or column not in chunk.columns
            or chunk[column].dtype.type.__name__ == "object_"):
        return None
    return index, str(chunk[column].dtype)


def _merge_per_row(results: list[Any]) -> Any:
    """One chunk-summed result per expectation, judged by GX's own rule (`mostly` over the values considered:
    non-null ones, or every row for not-null checks) and written by GX's own formatter."""
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

    # GX's own (private) rule and formatter: the merged result is what GX would compute on the whole frame
    # (tests/integration/test_window_validation.py compares the two); GX has no public merge of results.
    from great_expectations.expectations.expectation import _format_map_output, _mostly_success
    from great_expectations.expectations.expectation_configuration import parse_result_format

    first = results[0]
    raised = [r for r in results if r.exception_info and r.exception_info.get("raised_exception")]
    if raised:
        return raised[0]
    if len(results) == 1 or not all("unexpected_count" in (r.result or {}) for r in results):
        # Judged once per chunk on the column's type (GX's type checks on a typed column): all must pass.
        return next((r for r in results if not r.success), first)
    element = sum(r.result["element_count"] for r in results)
    unexpected = sum(r.result["unexpected_count"] for r in results)
    with_missing = all("missing_count" in r.result for r in results)
    nonnull = element - sum(r.result["missing_count"] for r in results) if with_missing else None
    considered = nonnull if nonnull is not None else element
    mostly = first.expectation_config.kwargs.get("mostly")
    mostly = 1.0 if mostly is None else mostly
    success = considered == 0 or _mostly_success(considered, unexpected, mostly)
    unexpected_list = [v for r in results for v in r.result.get("partial_unexpected_list", [])]
    unexpected_rows = [v for r in results for v in r.result.get("partial_unexpected_index_list", [])]
    merged = _format_map_output(result_format=parse_result_format("SUMMARY"), success=success,
                                element_count=element, nonnull_count=nonnull, unexpected_count=unexpected,
                                unexpected_list=unexpected_list[:SAMPLE],
                                unexpected_index_list=unexpected_rows[:SAMPLE])
    return ExpectationValidationResult(success=success, expectation_config=first.expectation_config,
                                       result=merged["result"], meta=first.meta, exception_info=first.exception_info)


def validate_file(path: Path, contract: Contract, parameters: dict[str, Any] | None = None, *,
                  chunk_rows: int = CHUNK_ROWS, ignore_columns: tuple[str, ...] = ()) -> GateResult:
    """The contract on a local CSV/Parquet file, chunk by chunk (UnreadableInput when it cannot be parsed).
    `ignore_columns` are dropped where present (a scoring input may still carry its label)."""
    import pandas as pd

    from nightshift.control.reading import read_chunks

    params = run_parameters(parameters)
    expectations = contract.expectations
    kinds = [kind_of(e) for e in expectations]
    by_kind = {k: [i for i, kind in enumerate(kinds) if kind == k] for k in ("header", "per-row", "window")}
    window = _WindowColumns([expectations[i] for i in by_kind["window"]])
    counted: dict[int, ColumnMapCounts] = {}  # per-row expectations counted without GX's validator
    per_row: dict[int, list[Any]] = {}  # the others: GX's result on each chunk
    by_type: dict[tuple[int, str], Any] = {}  # (index, dtype) -> a result judged on the column's type alone
    results: list[Any] = [None] * len(expectations)
    first = chunk = None
    rows = 0
    for number, chunk in enumerate(read_chunks(path, chunk_rows, contract.integer_columns())):
        if present := [c for c in ignore_columns if c in chunk.columns]:
            chunk = chunk.drop(columns=present)
        chunk.index = pd.RangeIndex(rows, rows + len(chunk))  # GX reports unexpected rows by the file's numbering
        if number == 0:
            header, first = validate_expectations(chunk, contract.name, [expectations[i] for i in by_kind["header"]],
                                                  params)
            for i, r in zip(by_kind["header"], header, strict=True):
                results[i] = r
            columns = list(chunk.columns)
            for i in by_kind["per-row"]:
                if countable(expectations[i], columns, params):
                    counted[i] = ColumnMapCounts(expectations[i], params)
                else:
                    per_row[i] = []
        columns_of_chunk = ChunkColumns(chunk)
        for counts in counted.values():
            counts.add(columns_of_chunk)
        todo = [i for i in per_row if _type_key(i, expectations[i], chunk) not in by_type]
        if todo or first is None:  # GX's suite outcome heads the report: one is needed even with nothing to do
            done, outcome = validate_expectations(chunk, contract.name, [expectations[i] for i in todo], params)
            first = first or outcome
        else:
            done = []
        for i, r in zip(todo, done, strict=True):
            if (key := _type_key(i, expectations[i], chunk)) is not None:
                by_type[key] = r
            per_row[i].append(r)
        for i in set(per_row) - set(todo):
            per_row[i].append(by_type[_type_key(i, expectations[i], chunk)])
        window.add(chunk)
        rows += len(chunk)
    chunk = None  # the last one: only the window's columns are held from here
    for i, collected in per_row.items():
        results[i] = _merge_per_row(collected)
    for i, counts in counted.items():
        results[i] = counts.result()
    if by_kind["window"]:
        done, outcome = validate_expectations(window.frame(), contract.name, window.rewritten, params)
        first = first or outcome
        for position, (i, r) in enumerate(zip(by_kind["window"], done, strict=True)):
            if position in window.keys:
                r = _restore_compound(r, expectations[i], window.absent.get(position, []))
            results[i] = r
    return assemble(contract, results, first, rows)


def _restore_compound(result: Any, expectation: dict[str, Any], absent: list[str]) -> Any:
    """The row-key uniqueness result shown as the contract's compound expectation (its hashes are no use in a
    report: the counts and verdict stay, the sample of values goes). Columns the data lacks fail it, as GX
    fails a compound expectation on a column it cannot find."""
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    config = ExpectationConfiguration(type=expectation["type"], kwargs=expectation.get("kwargs", {}),
                                      meta=expectation.get("meta", {}))
    shown = {k: v for k, v in (result.result or {}).items() if not k.startswith("partial_unexpected")}
    if absent:
        return ExpectationValidationResult(success=False, expectation_config=config, result={}, meta=result.meta,
                                           exception_info={"raised_exception": True, "exception_traceback": None,
                                                           "exception_message": f"columns not in the data: {absent}"})
    return ExpectationValidationResult(success=result.success, expectation_config=config, result=shown,
                                       meta=result.meta, exception_info=result.exception_info)

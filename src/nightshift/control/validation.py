"""Great Expectations as the engine: one contract against a DataFrame (whole, or a file chunk by chunk),
with one line per failed expectation naming its column, what was expected and what was observed.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightshift.control.contracts import window_parameters

if TYPE_CHECKING:
    import pandas as pd

    from nightshift.control.contracts import Contract

log = logging.getLogger(__name__)


@dataclass
class GateResult:
    contract: Contract
    success: bool
    rows: int
    failures: list[str] = field(default_factory=list)  # severity error
    warnings: list[str] = field(default_factory=list)  # severity warn
    outcome: Any = None  # GX's ExpectationSuiteValidationResult, for Data Docs
    problems: list[str] = field(default_factory=list)  # input that never reached GX (unreadable parts)

    def summary_lines(self) -> list[str]:
        return self.problems + self.failures

    @property
    def raw(self) -> dict[str, Any]:
        """GX's full result as JSON-able data; serialised on demand (it costs as much as a few expectations)."""
        return self.outcome.to_json_dict() if self.outcome is not None else {}


def _describe(exp_type: str, kwargs: dict[str, Any], result: dict[str, Any]) -> str:
    column = kwargs.get("column", "<table>")
    expected = {k: v for k, v in kwargs.items() if k not in ("column", "batch_id")}
    observed: Any = result.get("observed_value")
    if observed is None and "unexpected_count" in result:
        sample = result.get("partial_unexpected_list", [])[:5]
        observed = (f"{result['unexpected_count']} unexpected ({result.get('unexpected_percent', 0):.2f}%), "
                    f"e.g. {sample}")
    return f"column {column}: {exp_type}: observed {observed}; expected {expected}"


@functools.cache


def _gx_context() -> Any:
    """One ephemeral GX context per process: building one (and its datasource) costs ~0.2 s of YAML
    serialisation, paid once instead of on every validation."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every in-memory batch under 1 GB with an md5 over hash_pandas_object of the whole
    # frame: a batch marker we never read, which costs as much as several expectations. There is no
    # setting for it; raising the size floor to zero turns it off (our reports name the data by its source
    # and the run's window instead).
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    # Progress bars are terminal art; in an Airflow task log they are hundreds of noise lines.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.data_sources.add_pandas(name="nightshift")
    return context


def _batch(df: pd.DataFrame, asset_name: str) -> Any:
    source = _gx_context().data_sources.get("nightshift")
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=asset_name)
    try:
        definition = asset.get_batch_definition("whole")
    except KeyError:
        definition = asset.add_batch_definition_whole_dataframe("whole")
    return definition.get_batch(batch_parameters={"dataframe": df})


def _domain_groups(df: pd.DataFrame, expectations: list[dict[str, Any]]) -> dict[str | None, list[int]]:
    """Expectation indexes grouped by the one column they read (None: the whole table).

    Why: GX's pandas engine filters the *whole frame* for every column-domain metric
    (`df[df[column].notnull()]`), so on an 18-column table each column check copies 18 columns, several
    times. Validating a column's expectations against that column alone gives the same results at a
    fraction of the cost. Table-level expectations, row conditions and absent columns (GX reports those
    itself) stay on the full frame."""
    groups: dict[str | None, list[int]] = {}
    for i, exp in enumerate(expectations):
        kwargs = exp.get("kwargs", {})
        column = kwargs.get("column")
        if column not in df.columns or kwargs.get("row_condition"):
            column = None
        groups.setdefault(column, []).append(i)
    return groups


def validate_frame(df: pd.DataFrame, contract: Contract, parameters: dict[str, Any] | None = None) -> GateResult:
    """Run the suite; `parameters` fill `{"$PARAMETER": name}` values (e.g. the run's window bounds)."""
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.validator.validation_statistics import calc_validation_statistics

    params = {**window_parameters(None, None), **(parameters or {})}  # open window unless a run gives one
    ordered: list[Any] = [None] * len(contract.expectations)
    first = None
    for column, indexes in _domain_groups(df, contract.expectations).items():
        expectations = [
            ExpectationConfiguration(type=e["type"], kwargs=e.get("kwargs", {}), meta=e.get("meta", {})).to_domain_obj()
            for e in (contract.expectations[i] for i in indexes)
        ]
        suite = gx.ExpectationSuite(name=contract.name, expectations=expectations)
        frame = df if column is None else df[[column]]
        outcome = _batch(frame, contract.name).validate(suite, result_format="SUMMARY", expectation_parameters=params)
        first = first or outcome
        for i, r in zip(indexes, outcome.results, strict=True):
            ordered[i] = r
    stats = calc_validation_statistics(ordered)
    outcome = ExpectationSuiteValidationResult(
        success=stats.success, results=ordered, suite_name=contract.name, suite_parameters=first.suite_parameters,
        statistics={"evaluated_expectations": stats.evaluated_expectations,
                    "successful_expectations": stats.successful_expectations,
                    "unsuccessful_expectations": stats.unsuccessful_expectations,
                    "success_percent": stats.success_percent},
        meta=first.meta, batch_id=first.batch_id)
    result = GateResult(contract=contract, success=True, rows=len(df), outcome=outcome)
    for r in outcome.results:
        if r.success:
            continue
        config = r.expectation_config
        line = _describe(config.type, dict(config.kwargs), dict(r.result or {}))
        if r.exception_info and r.exception_info.get("raised_exception"):
            line += f" (error: {r.exception_info.get('exception_message')})"
        if (config.meta or {}).get("severity", "error") == "warn":
            result.warnings.append(line)
        else:
            result.failures.append(line)
    result.success = not result.failures
    return result


def read_csv(path: Path) -> pd.DataFrame:
    from nightshift.control.reading import read_table

    return read_table(str(path))


def validate_in_chunks(source: str, contract: Contract, chunk_rows: int = 250_000,
                       ignore_columns: tuple[str, ...] = ()) -> GateResult:
    """Validate a large file chunk by chunk, so memory stays bounded by the chunk, not the file.
    Failures are reported once per expectation, with the first chunk (row offset) where they appear.
    `ignore_columns` are dropped where present (a scoring input may still carry its label)."""
    import pandas as pd

    from nightshift.control.reading import UnreadableInput, check_delimiter, decode_text
    from nightshift.core.scoring_input import is_parquet

    path = Path(source)
    if is_parquet(path):
        import pyarrow.parquet as pq

        frames = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows))
    else:
        with path.open("rb") as fh:
            head = fh.read(1 << 20)
        if head[:2] != b"\x1f\x8b":  # sniff the first MB (up to a line end) for encoding/delimiter problems
            cut = head.rfind(b"\n") + 1 if len(head) == 1 << 20 else len(head)
            check_delimiter(decode_text(head[: cut or len(head)], source), source, None)
        try:
            frames = pd.read_csv(path, chunksize=chunk_rows, low_memory=False, compression="infer")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise UnreadableInput(f"{source}: not a CSV table: {exc}") from exc
    total = GateResult(contract=contract, success=True, rows=0)
    seen: set[str] = set()
    for frame in frames:
        if frame.empty:
            continue  # a header-only input has nothing to check; scoring commits an empty output for it
        present = [c for c in ignore_columns if c in frame.columns]
        if present:
            frame = frame.drop(columns=present)
        part = validate_frame(frame, contract)
        for attr in ("failures", "warnings"):
            for line in getattr(part, attr):
                key = line.split(": observed")[0]
                if key not in seen:
                    seen.add(key)
                    getattr(total, attr).append(f"{line} (first seen in rows {total.rows}..{total.rows + len(frame)})")
        total.rows += len(frame)
    total.success = not total.failures
    return total

"""Great Expectations as the engine: one contract against a DataFrame, with one line per failed expectation
naming its column, what was expected and what was observed. Files too large to hold are validated chunk by
chunk by nightshift.control.window_validation, on the same functions.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
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
        observed = f"{result['unexpected_count']} unexpected ({result.get('unexpected_percent', 0):.2f}%)" + (
            f", e.g. {sample}" if sample else "")
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
    _skip_decimal_scan_of_typed_arrays()
    context = gx.get_context(mode="ephemeral")
    # Progress bars are terminal art; in an Airflow task log they are hundreds of noise lines.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.data_sources.add_pandas(name="nightshift")
    return context


def _skip_decimal_scan_of_typed_arrays() -> None:
    """Before a mean, sum or stdev, GX looks for decimal.Decimal values one Python object at a time, even in a
    float64 or int64 array, where none can be (only an object array holds Python objects): 0.1 s of the
    gate's 0.9 s on 1M rows. The scan is kept, unchanged, for object arrays."""
    import great_expectations.util as gx_util

    scan = gx_util.does_ndarray_contain_decimal_dtype
    if getattr(scan, "nightshift_typed_arrays_skipped", False):
        return

    def scan_object_arrays(data: Any) -> bool:
        dtype = getattr(data, "dtype", None)
        return scan(data) if dtype is None or dtype.kind == "O" else False

    scan_object_arrays.nightshift_typed_arrays_skipped = True  # type: ignore[attr-defined]
    gx_util.does_ndarray_contain_decimal_dtype = scan_object_arrays


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


def validate_expectations(df: pd.DataFrame, name: str, expectations: list[dict[str, Any]],
                          parameters: dict[str, Any]) -> tuple[list[Any], Any]:
    """GX's result for each expectation (in the order given) on this frame, and one of GX's suite outcomes
    (its suite parameters, meta and batch id head the assembled result)."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    ordered: list[Any] = [None] * len(expectations)
    first = None
    for column, indexes in (_domain_groups(df, expectations) or {None: []}).items():
        suite = gx.ExpectationSuite(name=name, expectations=[
            ExpectationConfiguration(type=e["type"], kwargs=e.get("kwargs", {}), meta=e.get("meta", {})).to_domain_obj()
            for e in (expectations[i] for i in indexes)])
        frame = df if column is None else df[[column]]
        outcome = _batch(frame, name).validate(suite, result_format="SUMMARY", expectation_parameters=parameters)
        first = first or outcome
        for i, r in zip(indexes, _in_suite_order(suite, outcome.results, parameters), strict=True):
            ordered[i] = r
    return ordered, first


def _in_suite_order(suite: Any, results: list[Any], parameters: dict[str, Any]) -> list[Any]:
    """GX lists the results of expectations whose metric raised first, ahead of the suite's order: each result
    is matched back to its expectation by type and (resolved) kwargs."""
    def key(config: Any, kwargs: dict[str, Any] | None) -> Any:
        return config.type, {k: v for k, v in (kwargs or {}).items() if k != "batch_id"}

    pending = list(results)
    ordered = []
    for expectation in suite.expectations:
        config = expectation.configuration
        wanted = key(config, resolve_parameters(config.kwargs, parameters))
        match = next((r for r in pending if key(r.expectation_config, r.expectation_config.kwargs) == wanted),
                     pending[0])  # unresolvable parameters: GX reports those in place
        pending.remove(match)
        ordered.append(match)
    return ordered


def resolve_parameters(kwargs: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any] | None:
    """The kwargs with every `{"$PARAMETER": name}` replaced by the run's value; None when one is missing."""
    resolved = {}
    for key, value in kwargs.items():
        if isinstance(value, dict) and "$PARAMETER" in value:
            if value["$PARAMETER"] not in parameters:
                return None
            value = parameters[value["$PARAMETER"]]
        resolved[key] = value
    return resolved


def assemble(contract: Contract, results: list[Any], first: Any, rows: int) -> GateResult:
    """One GX suite result from per-expectation results, and the gate's verdict: a failed `warn` expectation
    is a warning, any other failure fails the gate."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.validator.validation_statistics import calc_validation_statistics

    stats = calc_validation_statistics(results)
    outcome = ExpectationSuiteValidationResult(
        success=stats.success, results=results, suite_name=contract.name, suite_parameters=first.suite_parameters,
        statistics={"evaluated_expectations": stats.evaluated_expectations,
                    "successful_expectations": stats.successful_expectations,
                    "unsuccessful_expectations": stats.unsuccessful_expectations,
                    "success_percent": stats.success_percent},
        meta=first.meta, batch_id=first.batch_id)
    result = GateResult(contract=contract, success=True, rows=rows, outcome=outcome)
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


def run_parameters(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """`{"$PARAMETER": name}` values: the run's (e.g. its window bounds), else an open window."""
    return {**window_parameters(None, None), **(parameters or {})}


def validate_frame(df: pd.DataFrame, contract: Contract, parameters: dict[str, Any] | None = None) -> GateResult:
    """Run the suite on a frame held whole (one file, a partition); the gate streams (window_validation)."""
    results, first = validate_expectations(df, contract.name, contract.expectations, run_parameters(parameters))
    return assemble(contract, results, first, len(df))

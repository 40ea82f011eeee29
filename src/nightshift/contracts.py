"""Data contracts: Great Expectations 1.x suites kept as JSON in data_contracts/<dataset>/.

Control interpreter only (pandas + great_expectations). GX's own loader logs and drops an invalid
expectation; this one refuses the whole file, naming the file and the expectation's index.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightshift.errors import ContractError, DataContractViolation
from nightshift.registry.manifest import sha256_file

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
SEVERITIES = {"error", "warn"}


@dataclass(frozen=True)
class Contract:
    path: Path
    name: str
    version: str
    expectations: list[dict[str, Any]]

    def identity(self) -> dict[str, str]:
        """What a manifest records about the contract a model was trained under."""
        return {"name": self.name, "version": self.version, "path": self.path.name,
                "sha256": sha256_file(self.path)}


def load_contract(path: str | Path) -> Contract:
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ContractError(f"{path}: cannot read contract: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("expectations"), list) or not doc["expectations"]:
        raise ContractError(f"{path}: expected a JSON object with a non-empty 'expectations' list")
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    for i, exp in enumerate(doc["expectations"]):
        where = f"{path}: expectations[{i}]"
        if not isinstance(exp, dict) or "type" not in exp or not isinstance(exp.get("kwargs", {}), dict):
            raise ContractError(f"{where}: expected {{type, kwargs, meta}}, got {exp!r}")
        severity = exp.get("meta", {}).get("severity", "error")
        if severity not in SEVERITIES:
            raise ContractError(f"{where} ({exp['type']}): meta.severity must be 'error' or 'warn', got {severity!r}")
        try:
            ExpectationConfiguration(type=exp["type"], kwargs=exp.get("kwargs", {})).to_domain_obj()
        except Exception as exc:  # noqa: BLE001 - GX raises several unrelated types here
            raise ContractError(f"{where} ({exp['type']}): not a valid Great Expectations expectation: {exc}") from exc
    meta = doc.get("meta", {})
    return Contract(path, str(doc.get("name", path.stem)), str(meta.get("contract_version", "0")),
                    doc["expectations"])


@dataclass
class GateResult:
    contract: Contract
    success: bool
    rows: int
    failures: list[str] = field(default_factory=list)  # severity error
    warnings: list[str] = field(default_factory=list)  # severity warn
    raw: dict[str, Any] = field(default_factory=dict)  # GX's full result, JSON-able


def _describe(exp_type: str, kwargs: dict[str, Any], result: dict[str, Any]) -> str:
    column = kwargs.get("column", "<table>")
    expected = {k: v for k, v in kwargs.items() if k not in ("column", "batch_id")}
    observed: Any = result.get("observed_value")
    if observed is None and "unexpected_count" in result:
        sample = result.get("partial_unexpected_list", [])[:5]
        observed = (f"{result['unexpected_count']} unexpected ({result.get('unexpected_percent', 0):.2f}%), "
                    f"e.g. {sample}")
    return f"column {column}: {exp_type}: observed {observed}; expected {expected}"


def validate_frame(df: pd.DataFrame, contract: Contract) -> GateResult:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = gx.get_context(mode="ephemeral")
    # Progress bars are terminal art; in an Airflow task log they are hundreds of noise lines.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas(name="nightshift").add_dataframe_asset(name=contract.name)
    batch = asset.add_batch_definition_whole_dataframe("window").get_batch(batch_parameters={"dataframe": df})
    expectations = [
        ExpectationConfiguration(type=e["type"], kwargs=e.get("kwargs", {}), meta=e.get("meta", {})).to_domain_obj()
        for e in contract.expectations
    ]
    suite = gx.ExpectationSuite(name=contract.name, expectations=expectations)
    outcome = batch.validate(suite, result_format="SUMMARY")
    result = GateResult(contract=contract, success=True, rows=len(df), raw=outcome.to_json_dict())
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
    import pandas as pd

    return pd.read_csv(path, low_memory=False)


def run_gate(csv_path: Path, contract: Contract, report_path: Path | None = None) -> GateResult:
    """Validate a staged file; write the full result JSON; raise DataContractViolation on errors."""
    result = validate_frame(read_csv(csv_path), contract)
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(
            {"file": str(csv_path), "contract": contract.identity(), "success": result.success, "rows": result.rows,
             "failures": result.failures, "warnings": result.warnings, "great_expectations": result.raw},
            indent=2, default=str))
    for line in result.warnings:
        log.warning("contract %s v%s WARN: %s", contract.name, contract.version, line)
    if not result.success:
        raise DataContractViolation(
            f"{csv_path}: {len(result.failures)} expectation(s) of contract {contract.path.name} "
            f"(v{contract.version}) failed",
            result.failures,
        )
    return result

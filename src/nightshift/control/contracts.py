"""Data contracts: Great Expectations 1.x suites kept as JSON in data_contracts/<dataset>/.

Control interpreter only (pandas + great_expectations). GX's own loader logs and drops an invalid
expectation; this one refuses the whole file, naming the file and the expectation's index.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightshift.core.errors import ContractError
from nightshift.core.registry.manifest import sha256_file

log = logging.getLogger(__name__)
SEVERITIES = {"error", "warn"}
# numpy's names and pandas' nullable ones as Great Expectations names them ("Int64Dtype": an integer column with
# gaps, as the readers below give it).
INTEGER_TYPES = {f"{u}int{bits}" for u in ("", "u") for bits in (8, 16, 32, 64)} | {
    f"{u}Int{bits}{suffix}" for u in ("", "U") for bits in (8, 16, 32, 64) for suffix in ("", "Dtype")}


@dataclass(frozen=True)
class Contract:
    path: Path
    name: str
    version: str
    expectations: list[dict[str, Any]]

    def integer_columns(self) -> tuple[str, ...]:
        return integer_columns(self.expectations)

    def identity(self) -> dict[str, str]:
        """What a manifest records about the contract a model was trained under."""
        return {"name": self.name, "version": self.version, "path": self.path.name,
                "sha256": sha256_file(self.path)}


def integer_columns(expectations: list[dict[str, Any]]) -> tuple[str, ...]:
    """Columns whose type list admits integers only: every reader reads them by nightshift.core.csv_integers
    (a whole-valued float such as "17031081000.0" is that integer; "23.5" is refused, named)."""
    return tuple(e["kwargs"]["column"] for e in expectations
                 if e.get("type") == "expect_column_values_to_be_in_type_list"
                 and e.get("kwargs", {}).get("type_list") and set(e["kwargs"]["type_list"]) <= INTEGER_TYPES)


def contract_integer_columns(path: str | Path) -> tuple[str, ...]:
    """integer_columns of a contract file, read without Great Expectations (staging needs only this)."""
    try:
        return integer_columns(json.loads(Path(path).read_text(encoding="utf-8")).get("expectations", []))
    except (OSError, ValueError, AttributeError) as exc:
        raise ContractError(f"{path}: cannot read contract: {exc}") from exc


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
        except Exception as exc:  # GX raises several unrelated types here
            raise ContractError(f"{where} ({exp['type']}): not a valid Great Expectations expectation: {exc}") from exc
    meta = doc.get("meta", {})
    return Contract(path, str(doc.get("name", path.stem)), str(meta.get("contract_version", "0")),
                    doc["expectations"])


def window_parameters(start: str | None, end: str | None) -> dict[str, int]:
    """Suite parameters for the run's window, as unix seconds: rows outside it are a stale or
    mislabelled partition (a contract refers to them as {"$PARAMETER": "window_start_ts"})."""
    from datetime import date, datetime, timezone

    def ts(day: str) -> int:
        return int(datetime.combine(date.fromisoformat(day), datetime.min.time(), timezone.utc).timestamp())

    return {"window_start_ts": ts(start) if start else 0, "window_end_ts": (ts(end) - 1) if end else 2**62}


def partition_scope(contract: Contract) -> Contract:
    """The contract one partition (or one scoring file) must meet: without the expectations that are properties
    of a whole training window (`meta.scope: window`, e.g. row counts, window medians)."""
    from dataclasses import replace

    return replace(contract, expectations=[e for e in contract.expectations
                                           if e.get("meta", {}).get("scope") != "window"])


def for_scoring(contract: Contract, label_column: str) -> Contract:
    """The contract a scoring input must meet: the features without the label, and nothing that is a
    property of a whole training window (row counts)."""
    from dataclasses import replace

    kept = []
    for e in partition_scope(contract).expectations:
        kwargs = e.get("kwargs", {})
        if kwargs.get("column") == label_column:
            continue
        if "column_set" in kwargs:
            e = {**e, "kwargs": {**kwargs, "column_set": [c for c in kwargs["column_set"] if c != label_column]}}
        if "column_list" in kwargs:
            e = {**e, "kwargs": {**kwargs, "column_list": [c for c in kwargs["column_list"] if c != label_column]}}
        kept.append(e)
    return replace(contract, name=f"{contract.name}_scoring", expectations=kept)

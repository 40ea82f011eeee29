"""The taxi contract run by Great Expectations for real, on the real data and on broken copies of it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nightshift.control.contracts import load_contract
from nightshift.control.gate import run_gate
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.errors import ContractError, DataContractViolation

pytestmark = pytest.mark.integration
CONTRACT = PROJECT_ROOT / "data_contracts" / "taxi" / "taxi.v1.json"


@pytest.fixture(scope="module")
def contract():
    return load_contract(CONTRACT)


def test_real_taxi_data_passes_and_report_is_written(contract, taxi_csv, tmp_path):
    result = run_gate(taxi_csv, contract, tmp_path / "report")
    assert result.success and result.rows == 15002
    doc = json.loads((tmp_path / "report" / "gate_result.json").read_text())
    declared = json.loads(CONTRACT.read_text())["meta"]["contract_version"]
    assert doc["success"] is True and doc["contract"]["version"] == declared
    # Expectations are validated in groups (one column at a time); the report keeps the contract's order.
    results = doc["great_expectations"]["results"]
    assert [(r["expectation_config"]["type"], r["expectation_config"]["kwargs"].get("column")) for r in results] == [
        (e["type"], e["kwargs"].get("column")) for e in contract.expectations]
    assert doc["great_expectations"]["statistics"]["evaluated_expectations"] == len(contract.expectations)
    html = (tmp_path / "report" / "data_docs.html").read_text()
    assert "<html" in html.lower() and "trip_start_timestamp" in html  # GX's rendering of the suite's results


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda df: df.assign(fare=-df["fare"] - 1), "column fare: expect_column_values_to_be_between"),
        (lambda df: df.drop(columns=["tips"]), "expect_table_columns_to_match_set"),
        (lambda df: df.assign(payment_type="Bitcoin"), "column payment_type: expect_column_values_to_be_in_set"),
        (lambda df: df.assign(trip_seconds=df["trip_seconds"].astype(str) + "s"),
         "column trip_seconds: expect_column_values_to_be_in_type_list"),
        (lambda df: df.head(50), "expect_table_row_count_to_be_between"),
    ],
)
def test_broken_files_fail_with_column_expectation_and_observation(contract, taxi_csv, tmp_path, breakage, expected):
    bad = tmp_path / "bad.csv"
    breakage(pd.read_csv(taxi_csv)).to_csv(bad, index=False)
    with pytest.raises(DataContractViolation) as err:
        run_gate(bad, contract)
    assert str(bad) in str(err.value)
    assert any(expected in line and "observed" in line for line in err.value.failures), err.value.failures


def test_an_invalid_contract_is_refused_not_skipped(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"expectations": [
        {"type": "expect_column_to_exist", "kwargs": {"column": "a"}},
        {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "a"}},
    ]}))
    with pytest.raises(ContractError, match=r"expectations\[1\] \(expect_column_values_to_be_purple\)"):
        load_contract(path)
    path.write_text(json.dumps({"expectations": [
        {"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "meta": {"severity": "fatal"}}]}))
    with pytest.raises(ContractError, match="severity must be 'error' or 'warn'"):
        load_contract(path)


def test_scoring_input_may_carry_its_label_but_must_have_every_feature(contract, taxi_csv, tmp_path):
    from nightshift.control.contracts import for_scoring
    from nightshift.control.window_validation import validate_file

    scoring = for_scoring(contract, "tips")
    frame = pd.read_csv(taxi_csv, nrows=500)
    labelled = tmp_path / "labelled.csv"
    frame.to_csv(labelled, index=False)
    assert validate_file(labelled, scoring, ignore_columns=("tips",)).success
    plain = validate_file(labelled, scoring)  # without the allowance the label is an extra column
    assert not plain.success and "expect_table_columns_to_match_set" in plain.failures[0]
    missing = tmp_path / "missing.csv"
    frame.drop(columns=["fare"]).to_csv(missing, index=False)
    result = validate_file(missing, scoring, ignore_columns=("tips",))
    assert not result.success and any("expect_table_columns_to_match_set" in f for f in result.failures)


def test_a_warn_severity_failure_is_reported_and_the_gate_passes(contract, taxi_csv, tmp_path):
    """`meta.severity: warn` is logged and the run goes on: here most companies are unknown (warn: company
    at least 40% filled), while every error-severity expectation still holds."""
    data = pd.read_csv(taxi_csv)
    data.loc[data.index[: int(len(data) * 0.7)], "company"] = None
    path = tmp_path / "unnamed_companies.csv"
    data.to_csv(path, index=False)
    result = run_gate(path, contract, tmp_path / "report")  # no DataContractViolation
    assert result.success and result.failures == [] and result.rows == 15002
    assert len(result.warnings) == 1 and "column company: expect_column_values_to_not_be_null" in result.warnings[0]
    doc = json.loads((tmp_path / "report" / "gate_result.json").read_text())
    assert doc["success"] is True and doc["warnings"] == result.warnings

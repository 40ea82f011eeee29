"""The chunked gate gives the whole file's results: Great Expectations on one chunk at a time, counts summed,
window expectations on the gathered columns. Compared with GX on the whole frame and with counts computed
from the data itself."""

from __future__ import annotations

import gzip
import weakref

import numpy as np
import pandas as pd
import pytest

from nightshift.control import reading
from nightshift.control.contracts import load_contract
from nightshift.control.reading import UnreadableInput
from nightshift.control.validation import validate_frame
from nightshift.control.window_validation import kind_of, validate_file
from nightshift.core.config import PROJECT_ROOT

pytestmark = pytest.mark.integration
TAXI = PROJECT_ROOT / "data_contracts" / "taxi" / "taxi.v1.json"
PENGUINS = PROJECT_ROOT / "data_contracts" / "penguins" / "penguins.v1.json"
COUNTS = ("element_count", "unexpected_count", "missing_count", "unexpected_percent", "missing_percent",
          "unexpected_percent_nonmissing", "observed_value")


@pytest.fixture(scope="module")
def taxi_contract():
    return load_contract(TAXI)


@pytest.fixture(scope="module")
def broken(taxi_csv, tmp_path_factory):
    """The real rows, 300 of them landed twice (far apart, so copies sit in other chunks), with missing,
    out-of-range and unknown values sprinkled over every chunk."""
    rng = np.random.default_rng(5)
    real = pd.read_csv(taxi_csv)
    data = pd.concat([real, real.sample(300, random_state=2)], ignore_index=True)
    data = data.sample(frac=1.0, random_state=3).reset_index(drop=True)
    data.loc[rng.choice(len(data), 60, replace=False), "trip_miles"] = np.nan
    data.loc[rng.choice(len(data), 25, replace=False), "fare"] = -1.0
    data.loc[rng.choice(len(data), 9, replace=False), "payment_type"] = "Bitcoin"
    path = tmp_path_factory.mktemp("window") / "broken.csv"
    data.to_csv(path, index=False)
    return path


def _whole(path, contract) -> pd.DataFrame:
    """The whole file in one frame, read as the gate reads each chunk (integer columns by the one rule)."""
    return reading.read_table(str(path), integer_columns=contract.integer_columns())


def _counts(result) -> dict:
    return {k: v for k, v in (result.result or {}).items() if k in COUNTS}


def test_every_expectation_has_the_whole_files_verdict_and_counts(taxi_contract, broken):
    whole = validate_frame(_whole(broken, taxi_contract), taxi_contract)
    chunked = validate_file(broken, taxi_contract, chunk_rows=997)  # 16 chunks
    assert (chunked.rows, whole.rows) == (15302, 15302)
    for mine, theirs in zip(chunked.outcome.results, whole.outcome.results, strict=True):
        config = theirs.expectation_config
        assert (mine.expectation_config.type, mine.success) == (config.type, theirs.success), config
        assert _counts(mine) == _counts(theirs), config
        if config.type != "expect_compound_columns_to_be_unique":  # its sample is of row hashes (see below)
            assert mine.to_json_dict()["result"] == theirs.to_json_dict()["result"], config  # samples too (NaN as null)
    assert chunked.failures == [line if "compound" not in line else line.split(", e.g.")[0] + line[line.index(";"):]
                                for line in whole.failures]
    assert len(chunked.failures) == 3


def test_duplicates_across_chunks_are_counted_as_the_data_has_them(taxi_contract, broken):
    data = pd.read_csv(broken, low_memory=False)
    columns = next(e for e in taxi_contract.expectations
                   if e["type"] == "expect_compound_columns_to_be_unique")["kwargs"]["column_list"]
    expected = int(data.duplicated(subset=columns, keep=False).sum())  # every copy of a duplicated row
    result = validate_file(broken, taxi_contract, chunk_rows=997)
    compound = next(r for r in result.outcome.results if r.expectation_config.type.startswith("expect_compound"))
    assert compound.result["unexpected_count"] == expected
    assert expected > 0.01 * len(data) and compound.success is False  # 'mostly' 0.99 over the window


def test_a_compound_key_over_a_column_the_data_lacks_fails_naming_it(taxi_csv, taxi_contract):
    expectation = {"type": "expect_compound_columns_to_be_unique",
                   "kwargs": {"column_list": ["fare", "meter_id"]}}
    contract = taxi_contract.__class__(taxi_contract.path, "keys", "1", [expectation])
    result = validate_file(taxi_csv, contract, chunk_rows=5000)
    assert result.success is False
    assert result.failures == ["column <table>: expect_compound_columns_to_be_unique: observed None; expected "
                               "{'column_list': ['fare', 'meter_id']} (error: columns not in the data: ['meter_id'])"]


def test_counted_expectations_of_every_kind_match_gx_on_the_whole_frame(taxi_csv, taxi_contract, tmp_path):
    """The expectations counted without GX's validator (nightshift.control.row_counts), each failing somewhere,
    one with a row condition (left to the validator) and one GX cannot evaluate (a range on text)."""
    data = pd.read_csv(taxi_csv).head(3000)
    data.loc[data.index % 7 == 0, "company"] = "Acme Cabs"
    data.loc[data.index % 11 == 0, "payment_type"] = "Cash "
    text = tmp_path / "text.csv"
    data.to_csv(text, index=False)
    expectations = [
        {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "company", "value_set": ["Acme Cabs"],
                                                                     "mostly": 0.6}},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "payment_type", "regex": r"^\S.*\S$"}},
        {"type": "expect_column_values_to_not_match_regex", "kwargs": {"column": "payment_type", "regex": r"\s$"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "fare", "max_value": 10,
                                                                  "row_condition": 'payment_type=="Cash"',
                                                                  "condition_parser": "pandas"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "payment_type", "min_value": 0}},
    ]
    contract = taxi_contract.__class__(taxi_contract.path, "kinds", "1", expectations)
    whole = validate_frame(pd.read_csv(text, low_memory=False), contract)
    chunked = validate_file(text, contract, chunk_rows=700)
    verdicts = [r.success for r in chunked.outcome.results]
    assert verdicts == [r.success for r in whole.outcome.results] == [True, False, False, False, False]
    for mine, theirs in zip(chunked.outcome.results[:4], whole.outcome.results[:4], strict=True):
        assert mine.to_json_dict()["result"] == theirs.to_json_dict()["result"], theirs.expectation_config
    assert chunked.outcome.results[1].result["unexpected_count"] == int((data.index % 11 == 0).sum())
    raised = chunked.outcome.results[4].exception_info
    assert raised["raised_exception"] is True and "TypeError" in raised["exception_message"]


def test_mostly_is_judged_on_the_window_not_on_a_chunk(taxi_csv, taxi_contract, tmp_path):
    """All of trip_seconds' gaps in one chunk: that chunk alone is under 'mostly' 0.95, the window is not."""
    data = pd.read_csv(taxi_csv)
    data.loc[:1199, "trip_seconds"] = np.nan  # 1,200 of 15,002 = 8 % of the window, all of the first chunk
    gaps = tmp_path / "gaps.csv"
    data.to_csv(gaps, index=False)
    expectation = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "trip_seconds", "mostly": 0.9}}
    contract = taxi_contract.__class__(taxi_contract.path, "gaps", "1", [expectation])
    [result] = validate_file(gaps, contract, chunk_rows=1500).outcome.results
    expected_nulls = int(data["trip_seconds"].isna().sum())
    assert (result.success, result.result["unexpected_count"]) == (True, expected_nulls)
    stricter = taxi_contract.__class__(taxi_contract.path, "gaps", "1", [
        {**expectation, "kwargs": {"column": "trip_seconds", "mostly": 1 - expected_nulls / len(data) + 0.001}}])
    assert validate_file(gaps, stricter, chunk_rows=1500).success is False


def test_a_row_count_is_the_windows_and_a_header_only_file_fails_it(tmp_path):
    contract = load_contract(PENGUINS)
    assert [kind_of(e) for e in contract.expectations[:2]] == ["header", "window"]
    from palmerpenguins import load_penguins

    rows = load_penguins().dropna()
    enough = tmp_path / "enough.csv"
    rows.head(40).to_csv(enough, index=False)
    result = validate_file(enough, contract, chunk_rows=10)  # every chunk is under the minimum of 34
    assert (result.rows, result.outcome.results[1].success) == (40, True)
    few = tmp_path / "few.csv"
    rows.head(20).to_csv(few, index=False)
    result = validate_file(few, contract, chunk_rows=10)
    assert (result.rows, result.outcome.results[1].result["observed_value"]) == (20, 20)
    assert result.failures[0].startswith("column <table>: expect_table_row_count_to_be_between: observed 20")
    header_only = tmp_path / "header.csv"
    rows.head(0).to_csv(header_only, index=False)
    result = validate_file(header_only, contract)
    assert (result.rows, result.outcome.results[0].success, result.outcome.results[1].success) == (0, True, False)


def test_parquet_chunks_are_validated_like_csv(taxi_csv, taxi_contract, tmp_path):
    data = pd.read_csv(taxi_csv)
    parquet = tmp_path / "taxi.parquet"
    data.to_parquet(parquet)
    from_csv = validate_file(taxi_csv, taxi_contract, chunk_rows=4000)
    from_parquet = validate_file(parquet, taxi_contract, chunk_rows=4000)
    assert (from_parquet.rows, from_parquet.success) == (15002, True)
    # Parquet keeps the file's column types (a column with a gap is float in every chunk), so a type check's
    # observed dtype may differ from a CSV chunk's; verdicts and counts may not.
    def verdicts(result):
        return [(r.success, r.result.get("element_count"), r.result.get("unexpected_count"))
                for r in result.outcome.results]

    assert verdicts(from_parquet) == verdicts(from_csv)


def test_at_most_two_chunks_are_alive_at_once(taxi_csv, taxi_contract, monkeypatch):
    """Each chunk is let go once validated: only the window's columns outlive it (one more is parsed ahead)."""
    alive: set[int] = set()
    most = 0
    original = reading.read_chunks

    def watched(path, chunk_rows, *rest):
        nonlocal most
        for chunk in original(path, chunk_rows, *rest):
            alive.add(id(chunk))
            weakref.finalize(chunk, alive.discard, id(chunk))
            most = max(most, len(alive))
            yield chunk

    monkeypatch.setattr(reading, "read_chunks", watched)
    result = validate_file(taxi_csv, taxi_contract, chunk_rows=1000)
    assert (result.rows, result.success) == (15002, True)
    assert most <= 2


def test_unreadable_files_are_named_with_the_reason(taxi_csv, taxi_contract, tmp_path):
    truncated = tmp_path / "window.csv.gz"
    truncated.write_bytes(gzip.compress(taxi_csv.read_bytes())[:20_000])
    with pytest.raises(UnreadableInput, match=rf"{truncated}: compression: gzip stream is truncated or corrupt"):
        validate_file(truncated, taxi_contract, chunk_rows=1000)
    latin = tmp_path / "latin.csv"
    text = taxi_csv.read_bytes()
    offset = len(text) - 50
    latin.write_bytes(text[:offset] + b"\xe9" + text[offset + 1:])
    with pytest.raises(UnreadableInput, match=rf"{latin}: encoding: not UTF-8 \(byte 0xe9 at offset {offset}\)"):
        validate_file(latin, taxi_contract, chunk_rows=1000)


def test_gx_still_finds_decimals_in_object_arrays_and_a_mean_over_floats_is_exact(taxi_contract):
    """GX's scan for decimal.Decimal values is skipped for typed arrays only (validation.py)."""
    from decimal import Decimal

    import great_expectations.util as gx_util

    mean = [{"type": "expect_column_mean_to_be_between", "kwargs": {"column": "tips", "min_value": 1, "max_value": 2}}]
    contract = taxi_contract.__class__(taxi_contract.path, "mean", "1", mean)
    [as_floats] = validate_frame(pd.DataFrame({"tips": [1.25, 2.0, 2.5, 3.25]}), contract).outcome.results
    assert (as_floats.success, as_floats.result["observed_value"]) == (False, 2.25)
    scan = gx_util.does_ndarray_contain_decimal_dtype  # as GX's mean, sum and stdev call it, after the gate's setup
    assert scan(np.array([1.5, Decimal("2.5")], dtype=object)) is True
    assert scan(np.array([1.5, 2.5])) is False


def test_only_an_empty_field_is_missing_as_in_csv_example_gen(taxi_csv, taxi_contract, tmp_path):
    """A string "NA" is a value (tfx_bsl's CSV decoder, which ExampleGen uses, reads it so); in a numeric
    column it is a wrong type, which the gate names, not a gap it forgives."""
    data = pd.read_csv(taxi_csv)
    text = data.to_csv(index=False).splitlines()
    header = text[0].split(",")
    first = text[1].split(",")
    first[header.index("company")] = "NA"
    second = text[2].split(",")
    second[header.index("fare")] = "NA"
    path = tmp_path / "na.csv"
    path.write_text("\n".join([text[0], ",".join(first), ",".join(second), *text[3:]]) + "\n")

    whole = reading.read_table(str(path))
    assert whole.loc[0, "company"] == "NA" and not pd.api.types.is_numeric_dtype(whole["fare"])
    assert int(whole["company"].isna().sum()) == int(data["company"].isna().sum()) - pd.isna(data.loc[0, "company"])
    chunked = pd.concat(reading.read_chunks(path, 5000))
    assert chunked.loc[0, "company"] == "NA" and int(chunked["fare"].isna().sum()) == 0

    results = {(r.expectation_config.type, r.expectation_config.kwargs.get("column")): r
               for r in validate_file(path, taxi_contract, chunk_rows=5000).outcome.results}
    assert results[("expect_column_values_to_be_in_type_list", "fare")].success is False
    assert results[("expect_column_values_to_not_be_null", "fare")].success is True

"""Batch-scoring input conversion: Arrow batches to the model's raw-feature inputs, and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from nightshift_tfx.score_input import ScoringInputError, to_column_tensors, to_examples_batch

pytestmark = pytest.mark.unit
SPEC = {"fare": {"dtype": "float", "required": True}, "trip_start_hour": {"dtype": "int", "required": True},
        "company": {"dtype": "string", "required": False}, "dropoff_latitude": {"dtype": "float", "required": False}}


def _batch(**columns) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(columns)


def test_columns_carry_values_and_presence_with_the_models_types():
    batch = _batch(fare=[1.5, 2.0], trip_start_hour=[3.0, 23.0], company=["A", None])  # no dropoff_latitude
    out = to_column_tensors(batch, SPEC, "in.csv")
    assert out["fare"].dtype == np.float32 and out["trip_start_hour"].dtype == np.int64
    assert out["trip_start_hour"].tolist() == [3, 23]
    assert out["company"].tolist() == [b"A", b""] and out["company__present"].tolist() == [True, False]
    assert out["dropoff_latitude__present"].tolist() == [False, False]  # optional and absent: all missing
    examples = to_examples_batch(batch, SPEC, "in.csv")
    assert examples.column(examples.schema.get_field_index("company")).to_pylist() == [[b"A"], []]


@pytest.mark.parametrize(("columns", "message"), [
    ({"trip_start_hour": [1]}, "column 'fare' is missing; the model requires it"),
    ({"fare": [None, 1.0], "trip_start_hour": [1, 2]}, "column 'fare' has 1 empty value"),
    ({"fare": ["cheap"], "trip_start_hour": [1]}, "column 'fare': expected float values"),
    ({"fare": [1.0, 2.0], "trip_start_hour": [3.0, 23.5]},  # never cut to 23
     r"column 'trip_start_hour': expected int values \(Float value 23.5 was truncated"),
])
def test_bad_input_names_the_file_and_column(columns, message):
    for convert in (to_column_tensors, to_examples_batch):
        with pytest.raises(ScoringInputError, match=f"in.csv: {message}"):
            convert(_batch(**columns), SPEC, "in.csv")


def test_one_output_is_a_binary_probability_and_k_outputs_pick_the_most_probable_class():
    from nightshift_tfx.model_metadata import summarise

    scores, labels = summarise(np.array([[0.2], [0.5], [0.9]], dtype=np.float32))
    assert scores.tolist() == pytest.approx([0.2, 0.5, 0.9]) and labels.tolist() == [0, 1, 1]
    scores, labels = summarise(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=np.float32))
    assert scores.tolist() == pytest.approx([0.7, 0.6]) and labels.tolist() == [0, 2]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_batches_hold_exactly_chunk_rows_in_file_order(tmp_path, suffix):
    from nightshift_tfx.score_input import iter_batches

    rows = 2_500
    table = pa.table({"fare": np.arange(rows, dtype=np.float64), "trip_start_hour": np.arange(rows) % 24,
                      "company": [f"c{i}" for i in range(rows)]})
    path = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        pa.csv.write_csv(table, path)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, path, row_group_size=700)  # the reader's own cuts fall between the chunks'
    batches = list(iter_batches(path, SPEC, 600))
    assert [b.num_rows for b in batches] == [600, 600, 600, 600, 100]
    assert pa.Table.from_batches(batches).column("fare").to_pylist() == list(range(rows))


def test_placeholder_rows_convert_like_real_ones():
    from nightshift_tfx.score_input import placeholder_batch

    out = to_column_tensors(placeholder_batch(SPEC, 3), SPEC, "warm-up")
    assert out["fare"].tolist() == [0.0] * 3 and out["trip_start_hour"].dtype == np.int64
    assert out["company"].tolist() == [b""] * 3
    assert all(out[f"{name}__present"].tolist() == [True] * 3 for name in SPEC)


def test_only_an_empty_csv_field_is_missing_as_in_csv_example_gen(tmp_path):
    from nightshift_tfx.score_input import iter_batches

    path = tmp_path / "in.csv"
    path.write_text("fare,trip_start_hour,company,dropoff_latitude\n"
                    "1.5,3,NA,nan\n2.0,4,NULL,\n2.5,5,,41.9\n")
    [batch] = iter_batches(path, SPEC, 10)
    out = to_column_tensors(batch, SPEC, "in.csv")
    assert out["company"].tolist() == [b"NA", b"NULL", b""]  # strings, as tfx_bsl decodes them for training
    assert out["company__present"].tolist() == [True, True, False]
    assert out["dropoff_latitude__present"].tolist() == [True, False, True]
    assert np.isnan(out["dropoff_latitude"][0]) and out["dropoff_latitude"][2] == pytest.approx(41.9)

    path.write_text("fare,trip_start_hour\nNA,3\n")
    with pytest.raises(ScoringInputError, match="in.csv: column 'fare': In CSV column #0: .* invalid value 'NA'"):
        list(iter_batches(path, SPEC, 10))


def test_csv_ints_are_parsed_as_ints_exactly_and_a_fraction_is_refused_naming_column_line_and_value(tmp_path):
    from nightshift_tfx.score_input import iter_batches

    spec = {"fare": {"dtype": "float", "required": True}, "tract": {"dtype": "int", "required": False}}
    path = tmp_path / "in.csv"
    path.write_text(f"fare,tract\n1.5,{2**53 + 1}\n2.0,\n3.0,{2**53 + 1}.0\n4.0,17031081000.00\n")
    [batch] = iter_batches(path, spec, 10)  # 2**53 + 1 has no float64: the text is cut, never parsed as a float
    out = to_column_tensors(batch, spec, "in.csv")
    assert out["tract"].tolist() == [2**53 + 1, 0, 2**53 + 1, 17031081000]
    assert out["tract__present"].tolist() == [True, False, True, True]

    path.write_text("fare,tract\n1.5,17\n2.0,5.0\n2.5,23.5\n")
    with pytest.raises(ScoringInputError, match=r"in.csv: column 'tract', line 4: '23.5' is not a whole number"):
        list(iter_batches(path, spec, 10))


def test_a_file_pandas_wrote_is_scored_as_the_gate_accepts_it(tmp_path):
    """pandas writes an integer column with a missing value as floats ("17031081000.0"): TFX's own held-out taxi
    file, round-tripped through read_csv/to_csv, reads with every integer exact."""
    import pandas as pd
    from nightshift_tfx.score_input import iter_batches
    from tfx.components import testdata

    source = Path(testdata.__file__).parent / "external" / "csv" / "data2.csv"
    original = pd.read_csv(source)
    written = tmp_path / "pandas.csv"
    original.to_csv(written, index=False)
    assert "17031081000.0" in written.read_text()  # what made the scorer refuse it
    spec = {"dropoff_census_tract": {"dtype": "int", "required": False},
            "trip_start_hour": {"dtype": "int", "required": True}}
    rows = [to_column_tensors(b, spec, "pandas.csv") for b in iter_batches(written, spec, 4096)]
    tract = np.concatenate([r["dropoff_census_tract"] for r in rows])
    present = np.concatenate([r["dropoff_census_tract__present"] for r in rows])
    expected = original["dropoff_census_tract"]
    assert len(tract) == len(original) == 5000
    assert present.tolist() == expected.notna().tolist()
    assert tract[present].tolist() == [int(v) for v in expected.dropna()]

"""Batch-scoring input conversion: Arrow batches to the model's raw-feature inputs, and its errors."""

from __future__ import annotations

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

"""Loading a scoring engine: warmed up before the clock starts, refused when its form was never published."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from nightshift_tfx import batch_score
from nightshift_tfx.model_metadata import FEATURES_FILE

pytestmark = pytest.mark.unit
WARM_UP_SECONDS = 0.05
SPEC = {"fare": {"dtype": "float", "required": True}, "company": {"dtype": "string", "required": False}}


@pytest.fixture
def model_dir(tmp_path):
    (tmp_path / FEATURES_FILE).parent.mkdir(parents=True)
    (tmp_path / FEATURES_FILE).write_text(json.dumps(SPEC))
    return tmp_path


def test_the_engine_is_called_once_on_chunk_rows_placeholder_rows_before_it_is_returned(model_dir, monkeypatch):
    calls = []

    def open_engine(path, engine, spec, where):
        assert (path, engine, spec, where) == (model_dir, "savedmodel", SPEC, "in.csv")
        def run(batch):  # a first call as slow as a fresh TensorFlow function's
            calls.append(batch)
            time.sleep(WARM_UP_SECONDS)
            return np.zeros(batch.num_rows)

        return (lambda batch: batch, run, "fake")

    monkeypatch.setattr(batch_score, "_open_engine", open_engine)
    engine = batch_score.load_engine(model_dir, "savedmodel", "in.csv", warm_rows=1234)
    assert [(b.num_rows, b.schema.names) for b in calls] == [(1234, ["fare", "company"])]
    assert calls[0].column("company").null_count == 0  # every feature present, so no branch is left cold
    # The warm-up counts as loading, so the scoring clock that starts after it never pays for it.
    assert engine.load_seconds >= WARM_UP_SECONDS


def test_an_engine_whose_form_was_never_published_is_refused_naming_the_file(model_dir):
    refusal = r"in\.csv: engine 'onnx' needs the version's .*/model\.onnx, which was not published"
    with pytest.raises(batch_score.EngineUnavailable, match=refusal):
        batch_score.load_engine(model_dir, "onnx", "in.csv")

"""Loading a scoring engine: warmed up before the clock starts, refused when its form was never published."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nightshift_tfx import batch_score
from nightshift_tfx.model_metadata import FEATURES_FILE

pytestmark = pytest.mark.unit
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
        return (lambda batch: batch, lambda batch: calls.append(batch) or np.zeros(batch.num_rows), "fake")

    monkeypatch.setattr(batch_score, "_open_engine", open_engine)
    engine = batch_score.load_engine(model_dir, "savedmodel", "in.csv", warm_rows=1234)
    assert [(b.num_rows, b.schema.names) for b in calls] == [(1234, ["fare", "company"])]
    assert calls[0].column("company").null_count == 0  # every feature present, so no branch is left cold
    assert engine.described == "fake" and engine.load_seconds > 0


def test_an_engine_whose_form_was_never_published_is_refused_naming_the_file(model_dir):
    refusal = r"in\.csv: engine 'onnx' needs the version's .*/model\.onnx, which was not published"
    with pytest.raises(batch_score.EngineUnavailable, match=refusal):
        batch_score.load_engine(model_dir, "onnx", "in.csv")

"""The scorer's command line is written in one place (nightshift.core) and read by the scorer's own parser."""

from __future__ import annotations

import pytest
from nightshift_tfx import batch_score

from nightshift.core.batch_score_command import MODULE, BatchScoreRequest

pytestmark = pytest.mark.unit


def test_every_field_of_a_request_reaches_the_scorer_as_that_value():
    request = BatchScoreRequest(model_uri="s3://m/taxi", input="s3://raw/in.csv", output="s3://m/predictions/d=1/",
                                run_id="scheduled__2026-11-23T00:00:00+00:00", chunk_rows=5000, version=3,
                                key_column="trip_id", input_fingerprint="etag-1", expected_rows=42, engine="onnx")
    args = batch_score.build_parser().parse_args(request.arguments())
    assert (args.model_uri, args.input, args.output, args.run_id) == (
        "s3://m/taxi", "s3://raw/in.csv", "s3://m/predictions/d=1/", "scheduled__2026-11-23T00:00:00+00:00")
    assert (args.chunk_rows, args.version, args.key_column, args.input_fingerprint, args.expected_rows,
            args.engine) == (5000, 3, "trip_id", "etag-1", 42, "onnx")
    assert MODULE == batch_score.__name__


def test_a_request_without_the_optional_fields_leaves_the_scorer_its_defaults():
    request = BatchScoreRequest(model_uri="s3://m/taxi", input="in.csv", output="out/", run_id="manual", chunk_rows=10)
    args = batch_score.build_parser().parse_args(request.arguments())
    assert (args.version, args.key_column, args.input_fingerprint, args.expected_rows, args.engine) == (
        None, None, None, None, "auto")

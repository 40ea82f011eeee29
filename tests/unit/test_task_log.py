"""A TFX task log keeps the component's lines and every warning; per-feature and per-shard echoes go."""

from __future__ import annotations

import io
import logging

import pytest
from nightshift_tfx.task_log import DropRoutineNoise

pytestmark = pytest.mark.unit


def _emit(records: list[tuple[str, int, str]]) -> list[str]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(DropRoutineNoise())
    for name, level, message in records:
        handler.handle(logging.LogRecord(name, level, __file__, 1, message, None, None))
    return stream.getvalue().splitlines()


def test_routine_echoes_go_and_the_component_and_every_warning_stay():
    kept = _emit([
        ("absl", logging.INFO, "Feature fare has a shape dim {\n  size: 1\n}"),
        ("absl", logging.INFO, "Feature company has no shape. Setting to varlen_sparse_tensor."),
        ("absl", logging.INFO, "If the number of unique tokens is smaller than the provided top_k"),
        ("apache_beam.io.filebasedsink", logging.INFO, "Renamed 1 shards in 0.01 seconds."),
        ("apache_beam.runners.direct", logging.INFO, "Running pipeline with DirectRunner."),
        ("apache_beam.io.filebasedsink", logging.WARNING, "Deleting 2 existing files in target path"),
        ("absl", logging.WARNING, "Feature fare has a shape dim but the schema says otherwise"),
        ("nightshift_tfx.runner", logging.INFO, "running TFX node Transform of pipeline taxi, run r1"),
        ("absl", logging.INFO, "Running executor for Transform"),
        ("absl", logging.ERROR, "Feature x has no shape. and the executor failed"),
    ])
    assert kept == [
        "WARNING apache_beam.io.filebasedsink: Deleting 2 existing files in target path",
        "WARNING absl: Feature fare has a shape dim but the schema says otherwise",
        "INFO nightshift_tfx.runner: running TFX node Transform of pipeline taxi, run r1",
        "INFO absl: Running executor for Transform",
        "ERROR absl: Feature x has no shape. and the executor failed",
    ]


def test_a_long_info_dump_keeps_its_first_line_and_a_warning_keeps_every_line():
    dump = "Going to run a new execution 7 with inputs:\n" + "\n".join(f"  field_{i} {{\n  }}" for i in range(40))
    kept = _emit([("absl", logging.INFO, dump), ("absl", logging.INFO, "two\nlines"),
                  ("tf2onnx", logging.WARNING, "Cannot infer shape\nfor x\nor y\nor z")])
    assert kept == ["INFO absl: Going to run a new execution 7 with inputs: [80 more lines of detail left out]",
                    "INFO absl: two", "lines",
                    "WARNING tf2onnx: Cannot infer shape", "for x", "or y", "or z"]

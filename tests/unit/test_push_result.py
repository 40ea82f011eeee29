"""The Pusher's verdict line: what a person reads first in its task log."""

from __future__ import annotations

import json
import os

import pytest

from nightshift.core.push_result import PUSH_RESULT_FILE, latest_result, verdict_line

pytestmark = pytest.mark.unit


def test_a_published_model_names_its_version_destination_and_metrics():
    line = verdict_line({"pushed": True, "version": 7, "destination": "s3://m/taxi/7/",
                         "metrics": {"binary_accuracy": 0.912345, "example_count": 5000}})
    assert line == "VERDICT: published version 7 to s3://m/taxi/7/ (binary_accuracy 0.9123, example_count 5000)"


def test_a_held_back_model_names_every_check_that_failed():
    line = verdict_line({"pushed": False, "reasons": ["binary_accuracy 0.61 < threshold 0.7",
                                                      "binary_accuracy 0.61 does not beat the baseline 0.6 + 0.02"]})
    assert line == ("VERDICT: not published: binary_accuracy 0.61 < threshold 0.7; binary_accuracy 0.61 does not "
                    "beat the baseline 0.6 + 0.02")


def test_the_newest_attempts_result_is_the_one_read(tmp_path):
    assert latest_result(tmp_path) is None
    for attempt, (pushed, stamp) in enumerate(((False, 1_000), (True, 2_000))):
        folder = tmp_path / "tfx" / "taxi" / "Pusher" / "pushed_model" / str(10 + attempt)
        folder.mkdir(parents=True)
        (folder / PUSH_RESULT_FILE).write_text(json.dumps({"pushed": pushed, "version": attempt}))
        os.utime(folder / PUSH_RESULT_FILE, (stamp, stamp))
    assert latest_result(tmp_path) == {"pushed": True, "version": 1}

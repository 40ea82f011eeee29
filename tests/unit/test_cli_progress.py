"""`trigger --wait` progress: a bar only on a terminal; the same plain lines as before everywhere else."""

from __future__ import annotations

import io

import pytest

from nightshift.control.cli.progress import TaskProgress

pytestmark = pytest.mark.unit


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _feed(progress: TaskProgress) -> None:
    for task, state in (("stage_window", "running"), ("stage_window", "success"), ("data_contract_gate", "running"),
                        ("data_contract_gate", "failed"), ("trainer", "upstream_failed"), ("pusher", "none")):
        progress(task, state)
    progress.close()


def test_not_a_terminal_gets_plain_lines_and_no_bar(capsys):
    stream = io.StringIO()
    _feed(TaskProgress("taxi_nightly r1", stream))
    assert stream.getvalue() == ""
    assert capsys.readouterr().out.splitlines() == [
        "  stage_window: running", "  stage_window: success", "  data_contract_gate: running",
        "  data_contract_gate: failed", "  trainer: upstream_failed", "  pusher: none"]


def test_a_terminal_gets_a_bar_of_finished_tasks_beside_the_lines(capsys):
    stream = _Terminal()
    _feed(TaskProgress("taxi_nightly r1", stream))
    assert "taxi_nightly r1: 3/4 tasks finished" in stream.getvalue()
    assert capsys.readouterr().out.splitlines()[-1] == "  pusher: none"


def test_scoring_lines_pass_through_when_not_a_terminal_and_feed_a_rows_bar_on_one():
    from nightshift.control.cli.progress import ScoreProgress

    lines = ["engine auto: onnx (faster at publish)", "scored 32768 rows so far (30000 rows/s)",
             "scored 65536 rows so far (31000 rows/s)", "scored 70000 rows in 3 chunks, 2.1 s"]
    plain, log = io.StringIO(), io.StringIO()
    progress = ScoreProgress("taxi in.csv", log, plain)
    assert not progress.active
    for line in lines:
        progress(line)
    progress.close()
    assert (log.getvalue().splitlines(), plain.getvalue()) == (lines, "")

    terminal, log = _Terminal(), io.StringIO()
    progress = ScoreProgress("taxi in.csv", log, terminal)
    assert progress.active
    for line in lines:
        progress(line)
    progress.close()
    assert log.getvalue().splitlines() == [lines[0], lines[3]]  # the progress lines became the bar
    assert "65.5k rows" in terminal.getvalue()


def test_a_download_feeds_a_bytes_bar_on_a_terminal_only():
    from nightshift.control.cli.progress import DownloadProgress
    from nightshift.core.registry.store import _Progress

    terminal, plain = _Terminal(), io.StringIO()
    for stream in (terminal, plain):
        bar = DownloadProgress("taxi -> /srv/models/taxi", stream)
        progress = _Progress("s3://m/taxi/3/", 3, 3_000_000, bar)  # what download_serving makes per version
        for size in (1_000_000, 1_500_000, 500_000):
            progress.done(size)
        bar.close()
    assert "100%|##########| 3.00M/3.00M" in terminal.getvalue() and plain.getvalue() == ""

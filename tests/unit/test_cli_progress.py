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

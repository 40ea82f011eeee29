"""`nightshift trigger <dag> --unpause`: the run unpausing starts is followed, not doubled by a triggered one.

Seen on three datasets before: the unpause started the schedule's run and the command triggered a second, so
every new pipeline trained twice on its first day. Airflow's REST API is faked here (what it answers is the
subject: which runs exist); tests/e2e/test_walkthrough.py runs the command against a real Airflow."""

from __future__ import annotations

import argparse

import pytest

from nightshift.control.cli import runs

pytestmark = pytest.mark.unit


class FakeAirflow:
    def __init__(self, *, scheduler_starts: bool):
        self.scheduler_starts = scheduler_starts
        self.paused = True
        self.triggered: list[dict] = []

    def wait_for_dag(self, dag_id, timeout):
        return {"dag_id": dag_id, "is_paused": self.paused, "timetable_summary": "0 2 * * *"}

    def unpause(self, dag_id):
        self.paused = False

    def started_run(self, dag_id, within):
        return "scheduled__2026-12-07T02:00:00+00:00" if self.scheduler_starts and not self.paused else None

    def trigger(self, dag_id, conf, run_id=None):
        self.triggered.append(conf)
        return {"dag_run_id": run_id or "manual__2026-12-07T10:00:00+00:00"}


def _args(**kw) -> argparse.Namespace:
    base = {"dag_id": "orders_nightly", "conf": "{}", "run_id": None, "wait": False, "timeout": 60,
            "parse_timeout": 5, "user": "admin", "unpause": True}
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture()
def airflow(monkeypatch):
    def make(**kw) -> FakeAirflow:
        fake = FakeAirflow(**kw)
        monkeypatch.setattr("nightshift.control.airflow_api.AirflowClient.from_env", lambda *a, **k: fake)
        return fake
    return make


def test_unpausing_follows_the_run_the_schedule_started_and_triggers_none(airflow, capsys):
    fake = airflow(scheduler_starts=True)
    assert runs.cmd_trigger(_args()) == 0
    assert fake.triggered == []
    assert "following the run its schedule (0 2 * * *) started, scheduled__2026-12-07T02:00:00+00:00" in \
        capsys.readouterr().out


def test_without_a_started_run_one_is_triggered(airflow, capsys):
    fake = airflow(scheduler_starts=False)
    assert runs.cmd_trigger(_args()) == 0
    assert fake.triggered == [{}] and "triggered orders_nightly run manual__" in capsys.readouterr().out


def test_a_run_with_its_own_conf_is_triggered_beside_the_scheduled_one(airflow):
    fake = airflow(scheduler_starts=True)
    assert runs.cmd_trigger(_args(conf='{"train_steps": 5}')) == 0
    assert fake.triggered == [{"train_steps": 5}]


def test_without_unpause_a_paused_dag_is_left_paused(airflow, capsys):
    fake = airflow(scheduler_starts=True)
    assert runs.cmd_trigger(_args(unpause=False)) == 7
    assert fake.paused and fake.triggered == [] and "--unpause" in capsys.readouterr().err

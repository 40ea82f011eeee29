"""Re-training for past nights is Airflow's own backfill, run with the command in docs/operations.md: every
backfilled run stages exactly the partitions of its own data interval's window.

The partitions landed for March 2025 are bad on purpose, so each run stops at the contract gate in seconds
instead of training for minutes; what this test checks is the window each run read, which `stage_window`
records in `<reports>/taxi/<run id>/stage_window/partitions.json` before the gate runs.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta

import pytest
import taxi_corpus

from nightshift.core.s3 import client_from_env, ensure_bucket, list_keys
from nightshift.core.windows import window_for_interval

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
DAG_ID = "taxi_nightly"
DAYS = [date(2025, 3, 1) + timedelta(days=i) for i in range(2)]  # two nights: two windows, told apart


def _ticks(start: date, end: date) -> list[datetime]:
    from croniter import croniter

    from nightshift.core.config import PROJECT_ROOT
    from nightshift.core.spec_loading import load_spec

    schedule = load_spec(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml", PROJECT_ROOT).airflow.schedule
    first, last = datetime(start.year, start.month, start.day), datetime(end.year, end.month, end.day)
    ticks, it = [], croniter(schedule, first - timedelta(seconds=1))
    while (tick := it.get_next(datetime)) <= last:
        ticks.append(tick)
    return ticks


def _backfill_runs(api) -> list[dict]:
    data = api.request("GET", f"/dags/{DAG_ID}/dagRuns", "list backfill runs",
                       params={"run_type": "backfill", "limit": 50})
    return data["dag_runs"]


def test_backfill_runs_each_read_their_own_interval(api, stack, seeded, taxi_csv):
    s3 = client_from_env()
    ensure_bucket(s3, "nightshift-models")
    models_before = set(list_keys(s3, "nightshift-models", "taxi/"))  # versions and pointer, if any
    landed = {}
    for day in DAYS:
        bad = next(f for f in taxi_corpus.build(taxi_csv, day) if f.exit_code != 0)
        key = f"taxi/date={day.isoformat()}/part-00000{bad.suffix}"
        s3.put_object(Bucket="nightshift-raw", Key=key, Body=bad.content)
        landed[day] = key
    try:
        # docs/operations.md's command, for March 2025 (see "Backfill: re-training on a past data interval").
        command = ("backfill", "create", "--dag-id", DAG_ID, "--from-date", DAYS[0].isoformat(),
                   "--to-date", DAYS[-1].isoformat(), "--max-active-runs", "1", "--reprocess-behavior", "none",
                   "--dag-run-conf", json.dumps({"window_days": 1}))
        out = stack.airflow(*command, capture=True, check=False)
        for _ in range(2):  # SQLite's writer lock held by the scheduler past the busy timeout: infrastructure
            if out.returncode == 0 or "database is locked" not in out.stderr:
                break
            time.sleep(5)
            out = stack.airflow(*command, capture=True, check=False)
        assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
        deadline = time.monotonic() + 1200
        runs = _backfill_runs(api)
        while time.monotonic() < deadline and (not runs or any(r["state"] not in ("success", "failed") for r in runs)):
            time.sleep(5)
            runs = _backfill_runs(api)
        assert runs and all(r["state"] in ("success", "failed") for r in runs), runs
        # One run per tick of the spec's cron schedule between the two dates (Airflow's backfill semantics).
        assert len(runs) == len(_ticks(DAYS[0], DAYS[-1])), runs

        windows = set()
        for run in runs:
            states = {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, run["dag_run_id"])}
            # Bad data: the gate failed the run, and nothing after it ran.
            assert (states["stage_window"], states["data_contract_gate"]) == ("success", "failed"), states
            assert states["trainer"] == states["pusher"] == "upstream_failed", states
            assert run["conf"] == {"window_days": 1}, run  # the command's --dag-run-conf reached every run
            body = s3.get_object(Bucket="nightshift-models",
                                 Key=f"reports/taxi/{run['dag_run_id']}/stage_window/partitions.json")["Body"]
            recorded = json.loads(body.read())
            interval_end = datetime.fromisoformat(run["data_interval_end"].replace("Z", "+00:00"))
            expected = window_for_interval(interval_end, mode="trailing_days", days=1)
            assert recorded["window"] == expected.as_dict(), (run["dag_run_id"], recorded)
            wanted = [f"s3://nightshift-raw/{landed[d]}" for d in DAYS if expected.contains(d)]
            assert [p["uri"] for p in recorded["partitions"]] == wanted, (run["dag_run_id"], recorded)
            windows.add(recorded["window"]["start"])
        assert len(windows) == len(runs), "each backfilled night has its own window"
    finally:
        for key in landed.values():
            s3.delete_object(Bucket="nightshift-raw", Key=key)
    assert set(list_keys(s3, "nightshift-models", "taxi/")) == models_before  # no key written or removed

"""Data that passes the contract but not the served version's standard stops `taxi_nightly` at the DataCheck
node, before anything trains, without a retry: a column whose type changed, and a window that drifted.

Each run reads one landed partition (a one-day window in June 2025): the first 4,000 rows of the real dataset
re-dated into that day, with one thing changed, so the contract gate passes and only the DataCheck can object.
The baseline is the statistics and schema of the run that trained the served version.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
import taxi_corpus

from nightshift.core.registry.layout import pointer_key
from nightshift.core.s3 import client_from_env, put_if_absent

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]
DAG_ID = "taxi_nightly"
BEFORE_TRAINING = ("stage_window", "data_contract_gate", "compile_tfx_pipeline", "example_gen", "statistics_gen",
                   "schema_gen", "example_validator")
ROWS = 4000  # of the real data, re-dated into the partition's day: enough for every statistic, a third of the cost
NOT_RUN = ("trainer", "evaluator", "pusher")  # Transform needs only the schema: it runs beside the check


def _partition(taxi_csv, day: date, change) -> bytes:
    header, rows = taxi_corpus._sample(taxi_csv, day, rows=ROWS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for i, row in enumerate(rows):
        writer.writerow(change(dict(zip(header, row, strict=True)), i).values())
    return out.getvalue().encode()


def _company_as_code(row: dict, i: int) -> dict:
    return {**row, "company": str(1000 + i % 40)}  # a text column arrives as integer codes


def _all_cash(row: dict, i: int) -> dict:
    return {**row, "payment_type": "Cash"}  # a real value: only its share moved


CASES = {
    "type_change": (date(2025, 6, 1), _company_as_code, "unlike the served version's data: split train: "
                                                        "feature 'company'"),
    "drift": (date(2025, 6, 3), _all_cash, "drift: feature 'payment_type'"),
}


def test_a_changed_type_and_a_drifted_window_stop_before_training_without_retry(api, served_taxi_model, taxi_csv,
                                                                                 alerts):
    s3 = client_from_env()
    pointer_before = s3.get_object(Bucket="nightshift-models", Key=pointer_key("taxi"))["Body"].read()
    landed, runs = [], {}
    try:
        for name, (day, change, _) in CASES.items():
            key = f"taxi/date={day.isoformat()}/part-00000.csv"
            # Create-only, so the cleanup below deletes only partitions this test wrote.
            if not put_if_absent(s3, "nightshift-raw", key, _partition(taxi_csv, day, change), "text/csv"):
                pytest.fail(f"s3://nightshift-raw/{key} exists; this test lands and removes its own partition there")
            landed.append(key)
            runs[name] = f"e2e_stop_{name}"
            api.trigger(DAG_ID, conf={"window_days": 1}, run_id=runs[name],
                        logical_date=f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z")
        for name, run_id in runs.items():
            run = api.wait_for_run(DAG_ID, run_id, timeout=1500, poll=5)
            tis = {ti["task_id"]: ti for ti in api.task_instances(DAG_ID, run_id)}
            states = {t: ti["state"] for t, ti in tis.items()}
            assert run["state"] == "failed", (name, states)
            assert all(states[t] == "success" for t in BEFORE_TRAINING), (name, states)
            assert states["data_check"] == "failed" and tis["data_check"]["try_number"] == 1, (name, tis["data_check"])
            assert all(states[t] == "upstream_failed" for t in NOT_RUN), (name, states)
            log = api.task_log(DAG_ID, run_id, "data_check")
            assert CASES[name][2] in log, (name, log[-4000:])
            assert f"baseline: run {served_taxi_model.run_id}, which trained the served version " \
                   f"{served_taxi_model.version}" in log, (name, log[-4000:])
            assert "exit 3: the data was rejected (no retry)" in log, (name, log[-2000:])
            sent = alerts.wait_for(run_id)
            assert [(a["task_id"], a["try_number"]) for a in sent] == [("data_check", 1)], (name, sent)
    finally:
        for key in landed:
            s3.delete_object(Bucket="nightshift-raw", Key=key)
    assert s3.get_object(Bucket="nightshift-models", Key=pointer_key("taxi"))["Body"].read() == pointer_before

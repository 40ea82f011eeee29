"""Bad partitions stop `taxi_nightly` at the contract gate: no TFX task runs, the report lands in S3,
and the published model, its manifest and the pointer stay byte-identical.

Each file is landed as its own day's partition in January 2025 and run with a one-day window, so each run
sees exactly one bad file (in the full suite it runs after test_taxi_nightly.py, which publishes the model
to protect; alone, it protects an empty registry). Three representative files, one per way a partition
fails (an expectation on values, an unreadable file, another period's data against the window's freshness
bound), run concurrently; every file of the corpus gets its verdict and message through the same
validation code in tests/integration/test_validate_corpus.py, without an Airflow run each.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import taxi_corpus

from nightshift.core.registry.layout import pointer_key
from nightshift.core.s3 import client_from_env, list_keys

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]
DAG_ID = "taxi_nightly"
FIRST_DAY = date(2025, 1, 1)  # in the past: Airflow holds a run whose logical date is in the future
REPRESENTATIVE = ("negative_fares", "truncated_gzip", "stale_partition")
TFX_TASKS = ("compile_tfx_pipeline", "example_gen", "statistics_gen", "schema_gen", "example_validator",
             "transform", "trainer", "served_model", "evaluator", "pusher")


def _snapshot(s3) -> dict[str, bytes]:
    return {k: s3.get_object(Bucket="nightshift-models", Key=k)["Body"].read()
            for k in list_keys(s3, "nightshift-models", "taxi/")}


def test_every_bad_partition_fails_at_the_gate_and_publishes_nothing(api, seeded, taxi_csv, alerts,
                                                                     served_taxi_model):
    s3 = client_from_env()
    before = _snapshot(s3)  # a served version (the session's, run alone): what the failed runs must not touch
    assert pointer_key("taxi") in before and len(before) > 3, sorted(before)
    verdicts = {n: f.exit_code for n, f in zip(taxi_corpus.NAMES, taxi_corpus.build(taxi_csv, FIRST_DAY), strict=True)}
    bad = [n for n in REPRESENTATIVE if verdicts[n] != 0]
    assert bad == list(REPRESENTATIVE)  # each of them is a file the contract refuses
    runs = {}
    landed = []
    for i, name in enumerate(bad):
        day = FIRST_DAY + timedelta(days=i)
        corpus_file = next(f for f in taxi_corpus.build(taxi_csv, day) if f.name == name)
        key = f"taxi/date={day.isoformat()}/part-00000{corpus_file.suffix}"
        s3.put_object(Bucket="nightshift-raw", Key=key, Body=corpus_file.content)
        landed.append(key)
        run_id = f"e2e_bad_{name}"
        api.trigger(DAG_ID, conf={"window_days": 1}, run_id=run_id,
                    logical_date=f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z")
        runs[name] = (run_id, corpus_file)
    try:
        for name, (run_id, corpus_file) in runs.items():
            run = api.wait_for_run(DAG_ID, run_id, timeout=900, poll=3)
            states = {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, run_id)}
            assert run["state"] == "failed", (name, states)
            assert states["stage_window"] == "success", (name, states)
            assert states["data_contract_gate"] == "failed", (name, states)
            assert all(states[t] == "upstream_failed" for t in TFX_TASKS), (name, states)
            log = api.task_log(DAG_ID, run_id, "data_contract_gate")
            assert "GATE FAILED" in log and corpus_file.message in log, (name, log[-3000:])
            # The failed night was announced at the webhook: DAG, task, run, reason and a link to the log.
            sent = alerts.wait_for(run_id)
            assert len(sent) == 1, (name, alerts.received)
            alert = sent[0]
            assert alert["dag_id"] == DAG_ID and alert["task_id"] == "data_contract_gate", alert
            assert alert["try_number"] == 1, alert  # bad data fails at once: a retry cannot make it pass
            assert alert["log_url"].endswith(f"/dags/{DAG_ID}/runs/{run_id}/tasks/data_contract_gate?try_number="
                                             f"{alert['try_number']}"), alert
            assert alert["log_url"].startswith(api.base_url) and alert["reason"], alert
            assert f"{DAG_ID}: task data_contract_gate failed in run {run_id}" in alert["text"], alert
            report = f"reports/taxi/{run_id}/contract_gate/"
            assert {report + "data_docs.html", report + "gate_result.json"} <= set(
                list_keys(s3, "nightshift-models", report)), name
    finally:
        for key in landed:
            s3.delete_object(Bucket="nightshift-raw", Key=key)
    assert _snapshot(s3) == before  # model files, manifests and pointer untouched

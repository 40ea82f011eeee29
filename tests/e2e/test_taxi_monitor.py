"""Monitoring through the stack: held-out trips scored by taxi_batch_score, their tips landed later with
`nightshift labels land`, taxi_monitor's realized accuracy checked against the one computed here from the
predictions and the labels; a feed with every label flipped breaches the bound, alerts, and starts a
taxi_nightly run whose conf and note name the reason."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
import requests

from nightshift.control.monitoring import read_history
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.predictions import committed_part, read_marker
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.s3 import client_from_env
from nightshift.core.spec_loading import load_spec

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
SCORE_DAG, MONITOR_DAG, NIGHTLY_DAG = "taxi_batch_score", "taxi_monitor", "taxi_nightly"
DAY = "2030-03-01"
OUTPUT = f"s3://nightshift-models/predictions/taxi/date={DAY}/"
ROWS = 5000


def _held_out(taxi_csv) -> pd.DataFrame:
    """The last 5,000 trips of the taxi CSV, every column as text exactly as the file has it."""
    with taxi_csv.open(newline="") as fh:
        rows = list(csv.reader(fh))
    return pd.DataFrame(rows[-ROWS:], columns=rows[0])


def _csv(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode()


def _run(api, dag_id: str, run_id: str, conf: dict) -> tuple[str, dict[str, str]]:
    """The run's state and its tasks' states; the log of any failed task is printed (pytest shows it)."""
    api.trigger(dag_id, conf=conf, run_id=run_id)
    run = api.wait_for_run(dag_id, run_id, timeout=900, poll=3)
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(dag_id, run_id)}
    for task, task_state in states.items():
        if task_state == "failed":
            print(f"--- {dag_id}/{run_id}/{task}:\n{api.task_log(dag_id, run_id, task)[-6000:]}")
    return run["state"], states


def _cli(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nightshift.control.cli", *args], env=stack.env, capture_output=True,
                          text=True, timeout=300)


def _truth(frame: pd.DataFrame) -> np.ndarray:
    """model.py's label: the tip is more than 20 % of the fare (a missing fare or tip: no)."""
    tips, fare = pd.to_numeric(frame["tips"], errors="coerce"), pd.to_numeric(frame["fare"], errors="coerce")
    return (tips > 0.2 * fare).to_numpy().astype(int)


def test_the_monitor_measures_realized_accuracy_and_a_flipped_feed_retrains(api, stack, served_taxi_model, taxi_csv,
                                                                             alerts, tmp_path):
    s3 = client_from_env()
    held = _held_out(taxi_csv)
    s3.put_object(Bucket="nightshift-raw", Key=f"e2e-monitor/date={DAY}/part-00000.csv",
                  Body=_csv(held.drop(columns=["tips"])))
    for dag_id in (SCORE_DAG, MONITOR_DAG):
        api.wait_for_dag(dag_id, timeout=240)
        api.unpause(dag_id)
    state, states = _run(api, SCORE_DAG, "e2e_monitor_score",
                         {"input_uri": f"s3://nightshift-raw/e2e-monitor/date={DAY}/part-00000.csv"})
    assert state == "success", states
    marker = read_marker(s3, OUTPUT)
    local = tmp_path / "predictions.parquet"
    s3.download_file("nightshift-models", f"predictions/taxi/date={DAY}/{committed_part(marker)}", str(local))
    predicted = pd.read_parquet(local).sort_values("row_number")["predicted_label"].to_numpy()
    truth = _truth(held)
    expected = float((predicted == truth).mean())
    # Skew against the statistics of the run that trained the version: measured, within the spec's bounds.
    skew = marker["skew"]
    assert skew["baseline"] == f"run {served_taxi_model.run_id}'s training split", skew
    assert skew["rows_sampled"] == ROWS and sum(skew["score_histogram"]["counts"]) == ROWS
    assert skew["features"]["payment_type"]["measure"] == "linf" and skew["features"]["fare"]["measure"] == "js"
    assert skew["features"]["payment_type"]["value"] <= 0.3, skew
    # ... and its outputs against the evaluation split's, whose score histogram the version's manifest holds.
    manifest = ModelRegistry(s3, "s3://nightshift-models/taxi").read_manifest(marker["model_version"])
    evaluation = manifest.extra["eval_outputs"]["score_histogram"]
    assert round(sum(evaluation["counts"])) == manifest.metrics["overall"]["example_count"]
    assert skew["outputs_vs_evaluation"]["evaluation"] == evaluation
    assert skew["outputs_vs_evaluation"]["measure"] == "js" and 0.0 <= skew["outputs_vs_evaluation"]["value"] <= 1.0

    # Every trip paid in cash: scoring still commits, and the output gate alerts naming the feature.
    s3.put_object(Bucket="nightshift-raw", Key="e2e-monitor/date=2030-03-02/part-00000.csv",
                  Body=_csv(held.drop(columns=["tips"]).assign(payment_type="Cash")))
    state, states = _run(api, SCORE_DAG, "e2e_monitor_skewed",
                         {"input_uri": "s3://nightshift-raw/e2e-monitor/date=2030-03-02/part-00000.csv"})
    assert state == "success", states
    skewed = read_marker(s3, "s3://nightshift-models/predictions/taxi/date=2030-03-02/")["skew"]
    assert [b.split(" ")[0] for b in skewed["breaches"]] == ["payment_type"], skewed
    [alert] = alerts.wait_for("e2e_monitor_skewed", "input_skew")
    assert alert["task_id"] == "output_gate" and alert["reason"] == \
        f"s3://nightshift-raw/e2e-monitor/date=2030-03-02/part-00000.csv: {skewed['status']}"

    # The tips arrive later: the same trips, shuffled, with the label column.
    labels = tmp_path / "tips.csv"
    labels.write_bytes(_csv(held.sample(frac=1.0, random_state=7)))
    out = _cli(stack, "labels", "land", "taxi", str(labels), "--date", DAY)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"landed s3://nightshift-raw/taxi-labels/date={DAY}/tips.csv",
                                       "taxi_monitor notified (asset s3://nightshift-raw/taxi-labels)"], out.stderr
    assert _cli(stack, "labels", "land", "taxi", str(labels), "--date", DAY).returncode == 7  # refused: never replaced
    events = api.request("GET", "/assets/events", "asset events", params={"limit": 100})["asset_events"]
    assert [(e.get("extra") or {}).get("object") for e in events if e["uri"].rstrip("/") == "s3://nightshift-raw/taxi-labels"
            ] == [f"s3://nightshift-raw/taxi-labels/date={DAY}/tips.csv"]

    out = _cli(stack, "models", "report", "taxi")  # the report the monitor's task links to
    assert out.returncode == 0, out.stderr
    state, states = _run(api, MONITOR_DAG, "e2e_monitor_1", {})
    assert (state, states) == ("success", {"realized_metrics": "success", "check_bounds": "skipped",
                                           "trigger_retrain": "skipped"})
    spec = load_spec(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml", PROJECT_ROOT)
    [record] = [r for r in read_history(s3, spec) if r["partition"] == f"date={DAY}"]
    assert (record["rows_scored"], record["rows_labelled"], record["model_version"]) == (ROWS, ROWS,
                                                                                         marker["model_version"])
    assert record["metrics"]["binary_accuracy"] == pytest.approx(expected, abs=1e-12)
    assert record["metrics"]["majority_baseline"] == pytest.approx(max(truth.mean(), 1 - truth.mean()), abs=1e-12)
    assert record["breaches"] == []
    out = _cli(stack, "monitor", "taxi")  # the same from the command line, one line per scored partition
    print(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    [line] = [ln for ln in out.stdout.splitlines() if ln.startswith(f"date={DAY} ")]
    assert line.startswith(f"date={DAY} v{marker['model_version']} scored={ROWS} labelled={ROWS} "
                           f"binary_accuracy={expected:.4f} ") and line.endswith(" ok"), line

    # The task page links to the model report (with each run's cost) and to the served version's manifest.
    links = api.request("GET", f"/dags/{MONITOR_DAG}/dagRuns/e2e_monitor_1/taskInstances/realized_metrics/links",
                        "extra links")["extra_links"]
    assert all("X-Amz-Signature=" in url and stack.env["AWS_SECRET_ACCESS_KEY"] not in url for url in links.values())
    report = requests.get(links["Model report"], timeout=30)
    assert report.status_code == 200 and "<h2>What each run cost</h2>" in report.text
    assert f"<td>v{served_taxi_model.version}</td><td><code>{served_taxi_model.run_id}</code></td>" in report.text
    manifest = requests.get(links["Served manifest"], timeout=30)
    assert manifest.status_code == 200 and manifest.json()["version"] == served_taxi_model.version

    # Every label flipped: the model is wrong where it was right. The retraining run it starts is held
    # (the nightly DAG paused) so that it does not train in the middle of the other tests.
    flipped = held.assign(tips=np.where(truth == 1, "0", held["fare"]))
    flipped_accuracy = float((predicted == _truth(flipped)).mean())  # a trip without a fare stays "no"
    # A prefix of partitions: only this test's partition has flipped labels.
    s3.put_object(Bucket="nightshift-raw", Key=f"e2e-monitor-flipped/date={DAY}/tips.csv", Body=_csv(flipped))
    before = {r["dag_run_id"] for r in api.request("GET", f"/dags/{NIGHTLY_DAG}/dagRuns", "runs",
                                                   params={"limit": 100})["dag_runs"]}
    api.request("PATCH", f"/dags/{NIGHTLY_DAG}", "pause", json={"is_paused": True})
    try:
        state, states = _run(api, MONITOR_DAG, "e2e_monitor_flipped",
                             {"labels_uri": "s3://nightshift-raw/e2e-monitor-flipped/"})
        assert (state, states) == ("success", {"realized_metrics": "success", "check_bounds": "success",
                                               "trigger_retrain": "success"})
        summary = api.xcom(MONITOR_DAG, "e2e_monitor_flipped", "realized_metrics", key="summary")
        assert summary["reason"] == (f"taxi v{marker['model_version']} on date={DAY}: realized binary_accuracy "
                                     f"{flipped_accuracy:.4f} < 0.7 on {ROWS} labelled rows")
        [alert] = alerts.wait_for("e2e_monitor_flipped", "model_degraded")
        assert alert["dag_id"] == MONITOR_DAG and alert["task_id"] == "check_bounds"
        assert alert["reason"] == summary["reason"] + "; a retraining run is triggered"
        runs = api.request("GET", f"/dags/{NIGHTLY_DAG}/dagRuns", "runs", params={"limit": 100})["dag_runs"]
        [retrain] = [r for r in runs if r["dag_run_id"] not in before]
        assert retrain["conf"] == {"retrain_reason": summary["reason"]}
        assert retrain["note"] == summary["reason"]  # shown on the run's page in the UI
        api.request("DELETE", f"/dags/{NIGHTLY_DAG}/dagRuns/{quote(retrain['dag_run_id'], safe='')}",
                    "delete the held run")
    finally:
        api.unpause(NIGHTLY_DAG)

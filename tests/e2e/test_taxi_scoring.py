"""Batch scoring through Airflow with the model the nightly run published (runs after test_taxi_nightly*)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from taxi_corpus import held_out

from nightshift.core.config import load_settings
from nightshift.core.predictions import MARKER, committed_part, read_marker
from nightshift.core.registry.forms import choose_engine
from nightshift.core.registry.layout import version_prefix
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.s3 import client_from_env, list_keys

REFERENCE_SCORER = Path(__file__).parents[1] / "reference_scorer.py"  # serving_default, row by row

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]
DAG_ID = "taxi_batch_score"
MODEL_URI = "s3://nightshift-models/taxi"
OUT_BUCKET, OUT_PREFIX = "nightshift-models", "predictions/taxi/"


def _run(api, run_id: str, conf: dict) -> tuple[str, dict[str, str]]:
    api.trigger(DAG_ID, conf=conf, run_id=run_id)
    run = api.wait_for_run(DAG_ID, run_id, timeout=900, poll=3)
    return run["state"], {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, run_id)}


@pytest.fixture()
def scoring_api(api, served_taxi_model):
    api.wait_for_dag(DAG_ID, timeout=240)
    api.unpause(DAG_ID)
    return api


def test_publish_updates_the_model_asset(api, served_taxi_model):
    events = api.request("GET", "/assets/events", "asset events", params={"limit": 100})["asset_events"]
    assert any(e.get("source_dag_id") == "taxi_nightly" and e.get("source_task_id") == "pusher" for e in events)


def test_scoring_uses_the_published_model_and_a_rerun_replaces_the_output(scoring_api, taxi_csv, tmp_path):
    s3 = client_from_env()
    s3.put_object(Bucket="nightshift-raw", Key="e2e-score/date=2030-02-01/part-00000.csv",
                  Body=held_out(taxi_csv, 5000))
    conf = {"input_uri": "s3://nightshift-raw/e2e-score/date=2030-02-01/part-00000.csv"}
    version = ModelRegistry(s3, MODEL_URI).read_pointer().version

    state, states = _run(scoring_api, "e2e_score_1", conf)
    assert state == "success", states
    out = f"s3://{OUT_BUCKET}/{OUT_PREFIX}date=2030-02-01/"
    marker = read_marker(s3, out)
    assert marker["rows"] == 5000 and marker["model_version"] == version and marker["run_id"] == "e2e_score_1"
    # The spec leaves scoring.engine to `auto`: the form the version's recorded speeds pick.
    assert marker["engine"] == choose_engine(ModelRegistry(s3, MODEL_URI).read_manifest(version))[0]
    local = tmp_path / "predictions.parquet"
    first_part = committed_part(marker)
    s3.download_file(OUT_BUCKET, f"{OUT_PREFIX}date=2030-02-01/{first_part}", str(local))
    table = pq.read_table(local)
    assert table.num_rows == 5000
    assert set(table.column("model_version").to_pylist()) == {version}
    assert table.column("row_number").to_pylist() == list(range(5000))
    scores = table.column("score").to_pylist()
    assert all(0.0 <= s <= 1.0 for s in scores) and len({round(s, 3) for s in scores}) > 50

    # What the DAG scored, with whichever engine, is what TF Serving's serving_default gives on tf.Examples.
    local_rows = tmp_path / "held_out.csv"
    local_rows.write_bytes(held_out(taxi_csv, 5000))
    signature_run = subprocess.run([str(load_settings().runtime_python), str(REFERENCE_SCORER),
                                    "--model-uri", MODEL_URI, "--csv", str(local_rows), "--limit", "300"],
                                   capture_output=True, text=True, timeout=600, check=False)
    assert signature_run.returncode == 0, signature_run.stderr[-3000:]
    reference = json.loads(signature_run.stdout.strip().splitlines()[-1])["scores"]
    assert max(abs(a - b) for a, b in zip(reference, scores[:300], strict=True)) < 1e-5

    state, states = _run(scoring_api, "e2e_score_2", conf)
    assert state == "success", states
    keys = sorted(list_keys(s3, OUT_BUCKET, f"{OUT_PREFIX}date=2030-02-01/"))
    second = read_marker(s3, out)
    assert second["run_id"] == "e2e_score_2" and committed_part(second) != first_part  # a new part, the old gone
    partition = f"{OUT_PREFIX}date=2030-02-01/"
    assert keys == sorted([partition + MARKER, partition + committed_part(second)])


def test_a_corrupted_variables_file_makes_scoring_refuse_and_name_it(scoring_api, taxi_csv):
    s3 = client_from_env()
    version = ModelRegistry(s3, MODEL_URI).read_pointer().version
    key = version_prefix("taxi", version) + "variables/variables.data-00000-of-00001"
    original = s3.get_object(Bucket="nightshift-models", Key=key)["Body"].read()
    s3.put_object(Bucket="nightshift-raw", Key="e2e-score/date=2030-02-03/part-00000.csv",
                  Body=held_out(taxi_csv, 100))
    corrupted = bytearray(original)
    corrupted[len(corrupted) // 2] ^= 0xFF
    s3.put_object(Bucket="nightshift-models", Key=key, Body=bytes(corrupted))
    try:
        state, states = _run(scoring_api, "e2e_score_corrupt",
                             {"input_uri": "s3://nightshift-raw/e2e-score/date=2030-02-03/part-00000.csv"})
    finally:
        s3.put_object(Bucket="nightshift-models", Key=key, Body=original)
    assert state == "failed" and states["score"] == "failed", states
    tries = {ti["task_id"]: ti["try_number"] for ti in scoring_api.task_instances(DAG_ID, "e2e_score_corrupt")}
    assert tries["score"] == 1  # the stored bytes stay wrong: no retry, the alert goes out at once
    log = scoring_api.task_log(DAG_ID, "e2e_score_corrupt", "score")
    assert "variables/variables.data-00000-of-00001" in log and "refusing to load" in log
    assert "exit 3: the data was rejected (no retry)" in log
    assert read_marker(s3, f"s3://{OUT_BUCKET}/{OUT_PREFIX}date=2030-02-03/") is None  # nothing written


def test_an_empty_partition_commits_an_empty_output(scoring_api, taxi_csv):
    s3 = client_from_env()
    header_only = held_out(taxi_csv, 1).split(b"\n")[0] + b"\n"
    s3.put_object(Bucket="nightshift-raw", Key="e2e-score/date=2030-02-04/part-00000.csv", Body=header_only)
    state, states = _run(scoring_api, "e2e_score_empty",
                         {"input_uri": "s3://nightshift-raw/e2e-score/date=2030-02-04/part-00000.csv"})
    assert state == "success", states
    marker = read_marker(s3, f"s3://{OUT_BUCKET}/{OUT_PREFIX}date=2030-02-04/")
    assert marker["rows"] == 0 and marker["run_id"] == "e2e_score_empty"

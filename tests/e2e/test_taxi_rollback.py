"""Rollback from the command line and from the Airflow form; the next scoring run follows the pointer.

Each test needs a served version (the session's publishing run, if none is served yet) and makes the second
version it needs by publishing the served version's own verified files again, so there is something to roll back
from without a second training run, and any one of them runs alone. Its scoring outputs are on dates (April
2030) no other test writes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from taxi_corpus import held_out

from nightshift.core.predictions import read_marker
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.s3 import client_from_env
from nightshift.core.serve_sync import LOCK_NAME

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
MODEL_URI = "s3://nightshift-models/taxi"
SCORE_DAG = "taxi_batch_score"
ROLLBACK_DAG = "model_rollback"


def _cli(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nightshift.control.cli", *args], env=stack.env, capture_output=True,
                          text=True, timeout=300, check=False)


def _republish_serving_version(registry: ModelRegistry, tmp_path: Path) -> int:
    pointer = registry.read_pointer()
    manifest = registry.download_serving(tmp_path / "model")
    fields = {k: getattr(manifest, k) for k in ("model", "pipeline", "metrics", "data_window", "contract", "blessing")}
    return registry.publish(tmp_path / "model", {**fields, "run_id": f"e2e_republish_of_v{pointer.version}"}).version


def _another_version(registry: ModelRegistry, tmp_path: Path) -> int:
    """A published version that the pointer does not serve: an older one if there is one, else a new one
    republished from the served files (which moves the pointer to it, so the old one is the other)."""
    serving = registry.read_pointer().version
    others = [v for v in registry.versions() if v != serving]
    if others:
        return max(others)
    _republish_serving_version(registry, tmp_path)
    return serving


def _score(api, run_id: str, taxi_csv: Path, day: str, rows: int = 300, **params) -> dict:
    s3 = client_from_env()
    s3.put_object(Bucket="nightshift-raw", Key=f"e2e-rollback/date={day}/part-00000.csv",
                  Body=held_out(taxi_csv, rows))
    api.trigger(SCORE_DAG, conf={"input_uri": f"s3://nightshift-raw/e2e-rollback/date={day}/part-00000.csv",
                                 **params}, run_id=run_id)
    run = api.wait_for_run(SCORE_DAG, run_id, timeout=900, poll=3)
    assert run["state"] == "success", {t["task_id"]: t["state"] for t in api.task_instances(SCORE_DAG, run_id)}
    return read_marker(s3, f"s3://nightshift-models/predictions/taxi/date={day}/")


def test_rollback_from_the_form_and_the_cli_and_scoring_follows(api, stack, taxi_csv, tmp_path, served_taxi_model):
    registry = ModelRegistry(client_from_env(), MODEL_URI)
    first = registry.read_pointer().version
    second = _republish_serving_version(registry, tmp_path)
    assert second > first and registry.read_pointer().version == second

    # The Airflow form: model + reason; empty version = the newest older version that verifies.
    api.wait_for_dag(ROLLBACK_DAG, timeout=240)
    api.unpause(ROLLBACK_DAG)
    api.trigger(ROLLBACK_DAG, conf={"model": "taxi", "reason": "e2e: challenger misbehaves"},
                run_id="e2e_rollback_form")
    run = api.wait_for_run(ROLLBACK_DAG, "e2e_rollback_form", timeout=600, poll=3)
    assert run["state"] == "success"
    pointer = registry.read_pointer()
    assert (pointer.version, pointer.action, pointer.reason) == (first, "rollback", "e2e: challenger misbehaves")
    entry = registry.audit_log()[-1]
    assert (entry.action, entry.from_version, entry.to_version) == ("rollback", second, first)
    assert "e2e_rollback_form" in entry.actor and entry.actor.startswith("airflow:")

    api.wait_for_dag(SCORE_DAG, timeout=240)
    api.unpause(SCORE_DAG)
    marker = _score(api, "e2e_rollback_score_1", taxi_csv, "2030-04-01")
    assert marker["model_version"] == first and marker["rows"] == 300

    # The command line: promote the newer one again, then roll back to an explicit version.
    promoted = _cli(stack, "models", "promote", "taxi", str(second), "--reason", "e2e: fixed")
    assert promoted.returncode == 0, promoted.stderr
    assert registry.read_pointer().version == second
    rolled = _cli(stack, "models", "rollback", "taxi", "--to", str(first), "--reason", "e2e: again")
    assert rolled.returncode == 0, rolled.stderr
    assert f"to v{first}" in rolled.stdout and registry.read_pointer().version == first
    audit = _cli(stack, "models", "audit", "taxi")
    assert audit.returncode == 0 and "e2e: again" in audit.stdout and "cli:" in audit.stdout

    marker = _score(api, "e2e_rollback_score_2", taxi_csv, "2030-04-02")
    assert marker["model_version"] == first

    # A form without a reason is refused by Airflow itself, before anything runs.
    from nightshift.control.airflow_api import AirflowApiError

    with pytest.raises(AirflowApiError) as err:
        api.trigger(ROLLBACK_DAG, conf={"model": "taxi", "reason": ""}, run_id="e2e_rollback_no_reason")
    assert err.value.status == 400 and "reason" in err.value.body  # the param named, nothing started
    assert registry.read_pointer().version == first


def test_a_version_that_is_not_served_scores_from_the_form_and_the_command_line(api, stack, taxi_csv, tmp_path,
                                                                                 served_taxi_model):
    """`model_version` in the scoring form and `nightshift score --version` pick a published version that the
    pointer does not serve."""
    registry = ModelRegistry(client_from_env(), MODEL_URI)
    other = _another_version(registry, tmp_path)
    serving = registry.read_pointer().version
    assert other != serving

    api.wait_for_dag(SCORE_DAG, timeout=240)
    api.unpause(SCORE_DAG)
    marker = _score(api, "e2e_score_pinned_version", taxi_csv, "2030-04-05", rows=120, model_version=other)
    assert (marker["model_version"], marker["rows"]) == (other, 120)

    local_input = tmp_path / "held_out.csv"
    local_input.write_bytes(held_out(taxi_csv, 120))
    out = _cli(stack, "score", "taxi", str(local_input), str(tmp_path / "predictions"), "--version", str(other),
               "--run-id", "e2e_cli_score")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    local = read_marker(None, str(tmp_path / "predictions"))
    assert (local["model_version"], local["rows"], local["run_id"]) == (other, 120, "e2e_cli_score")
    assert registry.read_pointer().version == serving  # scoring never moves the pointer


def test_serve_sync_places_the_rolled_back_version(stack, tmp_path, served_taxi_model):
    registry = ModelRegistry(client_from_env(), MODEL_URI)
    _another_version(registry, tmp_path)
    older, newest = min(registry.versions()), max(registry.versions())
    if registry.read_pointer().version != newest:  # serve the newest, so that there is something to roll back
        promoted = _cli(stack, "models", "promote", "taxi", str(newest), "--reason", "e2e: serve the newest")
        assert promoted.returncode == 0, promoted.stderr
    rolled = _cli(stack, "models", "rollback", "taxi", "--to", str(older), "--reason", "e2e: serve the older")
    assert rolled.returncode == 0, rolled.stderr
    serving = registry.read_pointer().version
    assert serving == older and max(registry.versions()) > older  # a newer version exists and is not served
    out = _cli(stack, "serve-sync", "taxi", str(tmp_path / "models" / "taxi"))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "models" / "taxi").iterdir()) == [LOCK_NAME, str(serving)]
    assert (tmp_path / "models" / "taxi" / str(serving) / "saved_model.pb").is_file()

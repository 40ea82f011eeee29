"""The REST API (and so the UI) needs a login; a viewer reads but cannot trigger, roll back or edit variables."""

from __future__ import annotations

import pytest
import requests

from nightshift.control.airflow_api import AirflowApiError, AirflowClient

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def viewer(api, stack) -> AirflowClient:
    return AirflowClient.from_env(stack.env, username="viewer")


def test_no_token_no_data(api):
    resp = requests.get(f"{api.base_url}/api/v2/dags", timeout=30)
    assert resp.status_code == 401


def test_a_wrong_password_gets_no_token(api):
    resp = requests.post(f"{api.base_url}/auth/token", json={"username": "admin", "password": "guess"}, timeout=30)
    assert resp.status_code == 401


def test_viewer_reads_dags_runs_and_logs(viewer, api):
    dag_ids = {d["dag_id"] for d in viewer.request("GET", "/dags", "list DAGs", params={"limit": 100})["dags"]}
    assert {"taxi_nightly", "taxi_batch_score", "model_rollback"} <= dag_ids
    # An admin's run that fails at once (an input outside the allowed roots): the viewer sees it and its log.
    api.wait_for_dag("taxi_batch_score", timeout=240)
    api.unpause("taxi_batch_score")
    api.trigger("taxi_batch_score", conf={"input_uri": "/etc/passwd"}, run_id="e2e_viewer_reads_this")
    run = api.wait_for_run("taxi_batch_score", "e2e_viewer_reads_this", timeout=300, poll=2)
    assert run["state"] == "failed"
    seen = viewer.run("taxi_batch_score", "e2e_viewer_reads_this")
    assert seen["state"] == "failed" and seen["conf"] == {"input_uri": "/etc/passwd"}
    states = {ti["task_id"]: ti["state"] for ti in viewer.task_instances("taxi_batch_score", "e2e_viewer_reads_this")}
    assert states["resolve_input"] == "failed", states
    log = viewer.task_log("taxi_batch_score", "e2e_viewer_reads_this", "resolve_input")
    assert "/etc/passwd: scoring reads local files only under" in log, log[-2000:]


@pytest.mark.parametrize(("method", "path", "body", "what"), [
    ("POST", "/dags/taxi_nightly/dagRuns", {"conf": {}, "logical_date": None}, "trigger a nightly run"),
    ("POST", "/dags/model_rollback/dagRuns", {"conf": {"model": "taxi", "reason": "test"}, "logical_date": None},
     "roll a model back"),
    ("PATCH", "/dags/taxi_nightly", {"is_paused": True}, "pause a DAG"),
    ("POST", "/variables", {"key": "nightshift_probe", "value": "x"}, "create a variable"),
])
def test_viewer_cannot_change_anything(viewer, api, method, path, body, what):
    with pytest.raises(AirflowApiError) as err:
        viewer.request(method, path, what, json=body)
    assert err.value.status == 403, (what, err.value.body)


def test_admin_can_create_a_variable(api):
    api.request("POST", "/variables", "create a variable", json={"key": "nightshift_probe", "value": "x"})
    try:
        assert api.request("GET", "/variables/nightshift_probe", "read it")["value"] == "x"
    finally:
        api.request("DELETE", "/variables/nightshift_probe", "delete it")

"""One Airflow + SeaweedFS stack for all end-to-end tests of the session."""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nightshift.control.airflow_api import AirflowClient
from nightshift.core.config import PROJECT_ROOT
from nightshift.local.stack import Stack

DAG_ID = "taxi_nightly"


class AlertReceiver(BaseHTTPRequestHandler):
    """A webhook target on 127.0.0.1: keeps every JSON body it is sent, on its server."""

    def do_POST(self):  # http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(json.loads(body or b"{}"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class AlertServer(ThreadingHTTPServer):
    """The alerts of the whole session; each test picks its own by run id, none clears another's."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), AlertReceiver)
        self.received: list[dict] = []

    def wait_for(self, run_id: str, kind: str | None = None, timeout: float = 60) -> list[dict]:
        """The alerts of `run_id` (and `kind`), once there is one: a task's failure callback runs after the
        task's state is written, so the run can end before its alert is sent."""
        deadline = time.monotonic() + timeout
        while True:
            found = [a for a in self.received if a.get("run_id") == run_id and kind in (None, a.get("kind"))]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


@pytest.fixture(scope="session")
def alerts():
    """Alerts the stack's failed tasks sent (through the `nightshift_alerts` connection) during the session."""
    server = AlertServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def mail():
    """An SMTP server on 127.0.0.1 that the stack knows as connection `nightshift_smtp_e2e`; keeps each mail."""
    from smtp_sink import start_sink

    server, sink = start_sink()
    yield server, sink
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def stack(s3_server, test_env, alerts, mail) -> Stack:
    from smtp_sink import connection_json

    env = dict(test_env)
    # The session's own copy of the repo's pipelines and contracts: what tests add (the walk-through's
    # scaffold, the mail test's spec) goes there, never into the checkout, where a running dev stack would
    # pick it up.
    var = Path(env["NIGHTSHIFT_VAR_DIR"])
    for name, folder in (("NIGHTSHIFT_PIPELINES_DIR", "pipelines"), ("NIGHTSHIFT_CONTRACTS_DIR", "data_contracts")):
        env[name] = str(shutil.copytree(PROJECT_ROOT / folder, var / folder))
    env["AIRFLOW_CONN_NIGHTSHIFT_ALERTS"] = json.dumps(
        {"conn_type": "http", "host": f"http://127.0.0.1:{alerts.server_port}/alerts"})
    env["AIRFLOW_CONN_NIGHTSHIFT_SMTP_E2E"] = connection_json(mail[0])
    # Only runs we trigger: the scheduler must not add the nightly interval's own run beside them.
    env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    stack = Stack(env)
    stack.up(timeout=240)
    yield stack
    stack.down(include_s3=False)  # SeaweedFS belongs to the session's s3_server fixture


@pytest.fixture(scope="session")
def api(stack) -> AirflowClient:
    client = AirflowClient.from_env(stack.env)
    client.wait_for_dag(DAG_ID, timeout=240)
    client.unpause(DAG_ID)
    return client


@pytest.fixture(scope="session")
def seeded(stack, taxi_csv):
    from nightshift.control.landing import seed
    from nightshift.core.s3 import client_from_env

    return seed(client_from_env(), taxi_csv, "s3://nightshift-raw/taxi/", "trip_start_timestamp")




@pytest.fixture(scope="session")
def procfs() -> type:
    from procfs import ProcFs

    return ProcFs


@pytest.fixture(scope="session")
def taxi_published(api, seeded) -> dict:
    """One publishing run of taxi_nightly per session, triggered through the REST API with the form's params:
    its run id, final state, the version served before it and the one it published. Every test that needs
    "the model the nightly published" asks for this, so any e2e file passes on its own."""
    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.s3 import client_from_env

    registry = ModelRegistry(client_from_env(), "s3://nightshift-models/taxi")
    before = registry.read_pointer()
    run_id = "e2e_publish"
    api.trigger(DAG_ID, conf={"train_steps": 900, "gate_threshold": 0.6, "window_days": 0, "publish": True},
                run_id=run_id)
    run = api.wait_for_run(DAG_ID, run_id, timeout=3000)
    after = registry.read_pointer()
    return {"run_id": run_id, "state": run["state"], "served_before": before,
            "version": after.version if after is not None and after.run_id == run_id else None}


@pytest.fixture()
def served_taxi_model(api, seeded, request):
    """The taxi version served when the test starts (read afresh for each test: rollback tests move the
    pointer): whatever an earlier test published, else the session's publishing run's."""
    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.s3 import client_from_env

    registry = ModelRegistry(client_from_env(), "s3://nightshift-models/taxi")
    if registry.read_pointer() is None:
        published = request.getfixturevalue("taxi_published")
        assert published["state"] == "success", f"the session's publishing run ended {published['state']}"
    pointer = registry.read_pointer()
    assert pointer is not None
    return pointer

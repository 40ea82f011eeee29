"""One Airflow + SeaweedFS stack for all end-to-end tests of the session."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nightshift.airflow_api import AirflowClient
from nightshift.services.stack import Stack

DAG_ID = "taxi_nightly"


class AlertReceiver(BaseHTTPRequestHandler):
    """A webhook target on 127.0.0.1: keeps every JSON body it is sent."""

    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append(json.loads(body or b"{}"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def alerts():
    """Alerts the stack's failed tasks sent (through the `nightshift_alerts` connection) during the session."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), AlertReceiver)
    server.received = AlertReceiver.received
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def stack(s3_server, test_env, alerts) -> Stack:
    env = dict(test_env)
    env["AIRFLOW_CONN_NIGHTSHIFT_ALERTS"] = json.dumps(
        {"conn_type": "http", "host": f"http://127.0.0.1:{alerts.server_port}/alerts"})
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
    from nightshift.landing import seed
    from nightshift.s3 import client_from_env

    return seed(client_from_env(), taxi_csv, "s3://nightshift-raw/taxi/", "trip_start_timestamp")



"""The failure notifier Airflow calls: posts through the `nightshift_alerts` connection when it exists, and
without one only logs the alert (a task's failure is never made worse by its alert)."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.integration


def _context() -> dict:
    ti = SimpleNamespace(dag_id="taxi_nightly", run_id="manual__x", task_id="data_contract_gate", try_number=1,
                         log_url="http://127.0.0.1:8080/dags/taxi_nightly/runs/manual__x/tasks/data_contract_gate")
    return {"ti": ti, "dag_run": SimpleNamespace(logical_date=datetime(2026, 11, 22, tzinfo=timezone.utc)),
            "exception": RuntimeError("GATE FAILED: column fare")}


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # http.server's name
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def logged():
    """The notifier module's log records, from a handler on its own logger (Airflow reconfigures the root
    logging once imported, so pytest's caplog does not reliably see them)."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("nightshift_airflow.notifiers")
    handler, level = Keep(level=logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_without_a_connection_the_alert_is_only_logged(monkeypatch, logged):
    from nightshift_airflow.notifiers import WebhookNotifier

    monkeypatch.delenv("AIRFLOW_CONN_NIGHTSHIFT_ALERTS_NONE", raising=False)
    WebhookNotifier(conn_id="nightshift_alerts_none").notify(_context())  # returns: nothing raised
    lines = logged
    assert len(lines) == 2, lines  # the alert itself, and why it went nowhere; nothing sent
    assert "ALERT [nightshift] taxi_nightly: task data_contract_gate failed in run manual__x" in lines[0]
    assert "alert connection 'nightshift_alerts_none' not defined" in lines[1] and "only logged" in lines[1]


def test_with_a_connection_the_alert_is_posted_to_it(monkeypatch, logged):
    from nightshift_airflow.notifiers import WebhookNotifier

    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_NIGHTSHIFT_ALERTS_TEST", json.dumps(
            {"conn_type": "http", "host": f"http://127.0.0.1:{server.server_port}/hook/T0KEN"}))
        WebhookNotifier(conn_id="nightshift_alerts_test").notify(_context())
    finally:
        server.shutdown()
        server.server_close()
    assert [a["task_id"] for a in _Receiver.received] == ["data_contract_gate"]
    lines = logged
    assert any("sent to connection nightshift_alerts_test" in line for line in lines), lines
    assert not any("T0KEN" in line for line in lines)

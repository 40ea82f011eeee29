"""The alert message and its delivery to a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

from nightshift.control.alerts import AlertDeliveryError, degraded_alert, failure_alert, post

pytestmark = pytest.mark.unit


def _context(**ti):
    ti = SimpleNamespace(dag_id="taxi_nightly", run_id="manual__2026", task_id="data_contract_gate", try_number=2,
                         log_url="http://127.0.0.1:8080/dags/taxi_nightly/runs/manual__2026/tasks/data_contract_gate",
                         **ti)
    run = SimpleNamespace(logical_date=datetime(2026, 11, 22, 2, tzinfo=timezone.utc))
    return {"ti": ti, "dag_run": run,
            "exception": RuntimeError("GATE FAILED: column fare: expect_column_values_to_be_between\nmore")}


def test_failure_alert_names_dag_task_run_log_and_reason():
    alert = failure_alert(_context())
    assert alert.text.splitlines() == [
        "[nightshift] taxi_nightly: task data_contract_gate failed in run manual__2026",
        "reason: GATE FAILED: column fare: expect_column_values_to_be_between",
        "log: http://127.0.0.1:8080/dags/taxi_nightly/runs/manual__2026/tasks/data_contract_gate",
    ]
    payload = alert.payload()
    assert payload["logical_date"] == "2026-11-22T02:00:00+00:00" and payload["try_number"] == 2


def test_a_degraded_model_alert_says_what_breached_and_whether_it_retrains():
    ti = SimpleNamespace(dag_id="taxi_monitor", run_id="scheduled__2026", task_id="check_bounds", try_number=1,
                         log_url=None)
    reason = "taxi v7 on date=2026-11-20: realized binary_accuracy 0.2100 < 0.7 on 5000 labelled rows"
    assert degraded_alert(ti, reason, retrain=True).text.splitlines() == [
        "[nightshift] taxi_monitor: the served model fell below a realized bound in run scheduled__2026",
        f"reason: {reason}; a retraining run is triggered",
    ]
    alert = degraded_alert(ti, reason, retrain=False)
    assert alert.kind == "model_degraded" and alert.reason.endswith("retraining is off (monitoring.retrain)")


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def receiver():
    _Receiver.received, _Receiver.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver
    server.shutdown()
    server.server_close()


def test_post_delivers_the_payload(receiver):
    url, handler = receiver
    post(url, failure_alert(_context()), target="nightshift_alerts")
    assert len(handler.received) == 1
    assert handler.received[0]["task_id"] == "data_contract_gate" and "text" in handler.received[0]


def test_a_refusing_target_is_an_error_naming_the_connection_not_the_url(receiver):
    url, handler = receiver
    handler.status = 500
    with pytest.raises(AlertDeliveryError, match="connection 'nightshift_alerts' answered 500$") as caught:
        post(url + "/T0KEN-s3cret", failure_alert(_context()), target="nightshift_alerts")
    assert "T0KEN-s3cret" not in str(caught.value) and "127.0.0.1" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_an_unreachable_target_is_an_error_naming_the_connection_not_the_url():
    with pytest.raises(AlertDeliveryError, match="not delivered through connection 'hook': ConnectionError$") as caught:
        post("http://127.0.0.1:9/T0KEN-s3cret", failure_alert(_context()), target="hook", timeout=2)
    assert "T0KEN-s3cret" not in str(caught.value) and caught.value.__cause__ is None


def test_late_alert_names_the_run_its_page_and_the_deadline():
    from nightshift.control.alerts import late_alert

    context = {"dag_run": {"dag_id": "taxi_nightly", "dag_run_id": "scheduled__2026-11-22T02:00:00+00:00",
                           "logical_date": "2026-11-22T02:00:00Z", "queued_at": "2026-11-22T02:00:05Z",
                           "state": "running"}}
    alert = late_alert(context, 120, "http://127.0.0.1:8080/")
    assert alert.kind == "run_late" and alert.task_id is None
    assert alert.log_url == "http://127.0.0.1:8080/dags/taxi_nightly/runs/scheduled__2026-11-22T02%3A00%3A00%2B00%3A00"
    assert alert.text.splitlines()[0] == ("[nightshift] taxi_nightly: run is late (deadline missed) in run "
                                          "scheduled__2026-11-22T02:00:00+00:00")
    assert "not finished 120 min after it was queued (2026-11-22T02:00:05Z); state running" in alert.text

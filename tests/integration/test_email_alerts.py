"""Failure alerts by e-mail: the smtp provider's notifier, fed nightshift's message, delivers to an SMTP
server on 127.0.0.1 (a minimal sink written here: Python 3.12 no longer ships `smtpd`)."""

from __future__ import annotations

import email
import json
import socketserver
import threading
from datetime import datetime, timezone
from email.policy import default as default_policy
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.integration


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT. Keeps each message."""

    messages: list[dict] = []

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 127.0.0.1 sink")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            verb = line.decode().strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 127.0.0.1")
            elif verb == "MAIL":
                sender = line.decode().split(":", 1)[1].strip()
                self._say("250 ok")
            elif verb == "RCPT":
                rcpts.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 end with .")
                data = []
                while (chunk := self.rfile.readline(65536)) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                type(self).messages.append({"from": sender, "to": rcpts, "data": b"".join(data)})
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture()
def smtp_sink(monkeypatch):
    _SmtpSink.messages = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": server.server_address[1],
            "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "nightshift@example.org",
                      "timeout": 10, "retry_limit": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_NIGHTSHIFT_SMTP_TEST", json.dumps(conn))
    yield _SmtpSink
    server.shutdown()
    server.server_close()


def _context():
    ti = SimpleNamespace(dag_id="taxi_nightly", run_id="manual__2026", task_id="data_contract_gate", try_number=1,
                         log_url="http://127.0.0.1:8080/dags/taxi_nightly/runs/manual__2026/tasks/data_contract_gate")
    run = SimpleNamespace(logical_date=datetime(2026, 11, 22, 2, tzinfo=timezone.utc))
    return {"ti": ti, "dag_run": run, "exception": RuntimeError("GATE FAILED: column fare: out of range")}


def test_the_email_names_dag_task_run_reason_and_log_link(smtp_sink):
    from nightshift_airflow.notifiers import EmailNotifier

    EmailNotifier(to=["oncall@example.org", "ml@example.org"], smtp_conn_id="nightshift_smtp_test").notify(_context())
    assert len(smtp_sink.messages) == 1
    sent = smtp_sink.messages[0]
    assert sorted(sent["to"]) == ["ml@example.org", "oncall@example.org"]
    msg = email.message_from_bytes(sent["data"], policy=default_policy)
    assert msg["Subject"] == "[nightshift] taxi_nightly: task data_contract_gate failed in run manual__2026"
    body = "".join(part.get_content() for part in msg.walk() if part.get_content_type() == "text/html")
    assert "reason: GATE FAILED: column fare: out of range" in body
    assert "http://127.0.0.1:8080/dags/taxi_nightly/runs/manual__2026/tasks/data_contract_gate" in body


def test_a_spec_with_alert_emails_gives_every_task_both_notifiers(tmp_path):
    import yaml
    from nightshift_airflow.factory import build_nightly_dag, build_scoring_dag
    from nightshift_airflow.notifiers import EmailNotifier, WebhookNotifier

    from nightshift.config import PROJECT_ROOT
    from nightshift.spec import load_spec

    doc = yaml.safe_load((PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml").read_text())
    doc["alerts"] = {**doc.get("alerts", {}), "email": ["oncall@example.org"], "email_conn": "smtp_ops"}
    spec_file = tmp_path / "pipelines" / "taxi" / "pipeline.yaml"
    spec_file.parent.mkdir(parents=True)
    spec_file.write_text(yaml.safe_dump(doc))
    spec = load_spec(spec_file, PROJECT_ROOT)
    for dag in (build_nightly_dag(spec), build_scoring_dag(spec)):
        for task in dag.tasks:
            kinds = [type(n) for n in task.on_failure_callback]
            assert kinds == [WebhookNotifier, EmailNotifier], (dag.dag_id, task.task_id)
            email = task.on_failure_callback[1]
            assert email.to == ["oncall@example.org"] and email.smtp_conn_id == "smtp_ops"
    plain = load_spec(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml", PROJECT_ROOT)
    assert [type(n) for n in build_nightly_dag(plain).tasks[0].on_failure_callback] == [WebhookNotifier]

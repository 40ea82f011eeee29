"""Failure alerts by e-mail: the smtp provider's notifier, fed nightshift's message, delivers to an SMTP
server on 127.0.0.1 (tests/smtp_sink.py: Python 3.12 no longer ships `smtpd`)."""

from __future__ import annotations

import email
from datetime import datetime, timezone
from email.policy import default as default_policy
from types import SimpleNamespace

import pytest
from smtp_sink import connection_json, start_sink

pytestmark = pytest.mark.integration


@pytest.fixture()
def smtp_sink(monkeypatch):
    server, sink = start_sink()
    monkeypatch.setenv("AIRFLOW_CONN_NIGHTSHIFT_SMTP_TEST", connection_json(server))
    yield sink
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

    from nightshift.core.config import PROJECT_ROOT
    from nightshift.core.spec_loading import load_spec

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

"""`alerts.email` in a spec: a task that really fails in Airflow sends one mail, through the smtp provider's
notifier and the connection the spec names, to an SMTP server on 127.0.0.1 (beside the webhook alert).

The pipeline is the penguins spec under another name with `alerts.email` set, written into the session
stack's pipelines folder while the test runs (the DAG processor picks it up like any new spec). Its scoring
DAG is asked to read a file outside the allowed roots, which fails at once and for good.
"""

from __future__ import annotations

import email
import shutil
import time
from email.policy import default as default_policy
from pathlib import Path

import pytest
import yaml

from nightshift.core.config import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
NAME = "mailcheck"
DAG_ID = f"{NAME}_batch_score"


@pytest.fixture()
def mailing_pipeline(stack):
    folder = Path(stack.env["NIGHTSHIFT_PIPELINES_DIR"]) / NAME
    if folder.exists():  # someone's own pipeline by that name: neither overwrite nor remove it
        pytest.fail(f"{folder} exists; this test writes and removes a pipeline of that name")
    doc = yaml.safe_load((PROJECT_ROOT / "pipelines" / "penguins" / "pipeline.yaml").read_text())
    doc.update(name=NAME, description="penguins, with failure mail")
    doc["source"] = {**doc["source"], "dataset": NAME, "uri": f"s3://nightshift-raw/{NAME}/"}
    doc["push"] = {"uri": f"s3://nightshift-models/{NAME}", "model_name": NAME}
    doc["scoring"] = {**doc["scoring"], "input_uri": f"s3://nightshift-raw/{NAME}-score/",
                      "output_uri": f"s3://nightshift-models/predictions/{NAME}"}
    doc["alerts"] = {"email": ["oncall@example.org"], "email_conn": "nightshift_smtp_e2e"}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    yield
    shutil.rmtree(folder, ignore_errors=True)


def _mails(sink, run_id: str) -> list[dict]:
    return [m for m in sink.messages if run_id in m["data"].decode(errors="replace")]


def test_a_failing_task_mails_the_specs_addresses(api, mail, alerts, mailing_pipeline):
    _, sink = mail
    api.wait_for_dag(DAG_ID, timeout=240)
    api.unpause(DAG_ID)
    run_id = "e2e_mail_on_failure"
    api.trigger(DAG_ID, conf={"input_uri": "/etc/passwd"}, run_id=run_id)
    run = api.wait_for_run(DAG_ID, run_id, timeout=300, poll=2)
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, run_id)}
    assert run["state"] == "failed" and states["resolve_input"] == "failed", states

    deadline = time.monotonic() + 60  # the failure callback sends while the task process finishes
    while time.monotonic() < deadline and not _mails(sink, run_id):
        time.sleep(1)
    # One callback per failed try: the webhook, then the mail. The task failed on its first try with nothing
    # left to retry, so once the mail is in, no other callback will run and the count is final.
    tis = {ti["task_id"]: ti for ti in api.task_instances(DAG_ID, run_id)}
    assert (tis["resolve_input"]["state"], tis["resolve_input"]["try_number"]) == ("failed", 1), tis
    mails = _mails(sink, run_id)
    assert len(mails) == 1, sink.messages
    assert mails[0]["to"] == ["oncall@example.org"]
    msg = email.message_from_bytes(mails[0]["data"], policy=default_policy)
    assert msg["Subject"] == f"[nightshift] {DAG_ID}: task resolve_input failed in run {run_id}"
    body = "".join(part.get_content() for part in msg.walk() if part.get_content_type() == "text/html")
    assert "/etc/passwd: scoring reads local files only under" in body, body
    assert f"/dags/{DAG_ID}/runs/{run_id}/tasks/resolve_input" in body, body
    webhook = alerts.wait_for(run_id)
    assert [(a["task_id"], a["try_number"]) for a in webhook] == [("resolve_input", 1)], webhook

"""Alerts for failed and late runs: the message (plain data) and its delivery to a webhook.

Airflow's notifier (nightshift_airflow.notifiers) builds the message from a task's context and posts it;
the payload is shaped so a Slack-compatible webhook shows `text` as is, and a program reads the fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nightshift.core.errors import NightshiftError


class AlertDeliveryError(NightshiftError):
    """The alert target refused the message or could not be reached."""


@dataclass(frozen=True)
class Alert:
    kind: str  # "task_failed", "run_late", "model_degraded" or "input_skew"
    dag_id: str
    run_id: str
    task_id: str | None
    logical_date: str | None
    try_number: int | None
    log_url: str | None
    reason: str

    @property
    def text(self) -> str:
        what = {"task_failed": f"task {self.task_id} failed",
                "model_degraded": "the served model fell below a realized bound",
                "input_skew": "the scored input is skewed from the training data"}.get(
            self.kind, "run is late (deadline missed)")
        lines = [f"[nightshift] {self.dag_id}: {what} in run {self.run_id}"]
        if self.reason:
            lines.append(f"reason: {self.reason}")
        if self.log_url:
            lines.append(f"log: {self.log_url}")
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, **asdict(self)}


def _first_line(error: Any, limit: int = 500) -> str:
    text = str(error or "").strip()
    first = text.splitlines()[0] if text else ""
    return first[:limit]


def failure_alert(context: dict[str, Any]) -> Alert:
    """From an Airflow task-failure callback's context (ti, dag_run, exception)."""
    ti = context["ti"]
    run = context.get("dag_run")
    logical = getattr(run, "logical_date", None) if run is not None else None
    return Alert(kind="task_failed", dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id,
                 logical_date=logical.isoformat() if logical else None, try_number=getattr(ti, "try_number", None),
                 log_url=getattr(ti, "log_url", None), reason=_first_line(context.get("exception")))


def late_alert(context: dict[str, Any], deadline_minutes: float, base_url: str) -> Alert:
    """From an Airflow deadline callback's context (the run as the REST API shows it)."""
    run = context.get("dag_run") or {}
    dag_id, run_id = run.get("dag_id", "?"), run.get("dag_run_id", "?")
    from urllib.parse import quote

    return Alert(kind="run_late", dag_id=dag_id, run_id=run_id, task_id=None,
                 logical_date=run.get("logical_date"), try_number=None,
                 log_url=f"{base_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}",
                 reason=f"not finished {deadline_minutes:g} min after it was queued ({run.get('queued_at')}); "
                        f"state {run.get('state')}")


def degraded_alert(ti: Any, reason: str, *, retrain: bool) -> Alert:
    """From the monitor's decision task: what breached, and whether a retraining run follows."""
    action = "a retraining run is triggered" if retrain else "retraining is off (monitoring.retrain)"
    return Alert(kind="model_degraded", dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, logical_date=None,
                 try_number=getattr(ti, "try_number", None), log_url=getattr(ti, "log_url", None),
                 reason=f"{reason}; {action}")


def skew_alert(ti: Any, source: str, status: str) -> Alert:
    """From the scoring DAG's output gate: which input, which features, how far (the scores were committed)."""
    return Alert(kind="input_skew", dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, logical_date=None,
                 try_number=getattr(ti, "try_number", None), log_url=getattr(ti, "log_url", None),
                 reason=f"{source}: {status}")


def post(url: str, alert: Alert, *, target: str, timeout: float = 10.0) -> None:
    """Deliver to a webhook. Errors name `target` (the Airflow connection id), never the URL: webhook URLs
    carry their token in the path (Slack, Teams), and these errors land in task logs anyone may read."""
    import requests

    try:
        resp = requests.post(url, json=alert.payload(), timeout=timeout)
    except requests.RequestException as exc:
        # The exception's text repeats the URL: only its kind is reported.
        raise AlertDeliveryError(f"alert for {alert.dag_id}/{alert.run_id} not delivered through connection "
                                 f"{target!r}: {type(exc).__name__}") from None
    if resp.status_code >= 300:
        raise AlertDeliveryError(f"alert for {alert.dag_id}/{alert.run_id}: connection {target!r} answered "
                                 f"{resp.status_code}")

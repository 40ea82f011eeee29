"""Airflow notifiers: a failed task of a nightshift DAG tells someone, through Airflow's notifier mechanism.

`WebhookNotifier` posts nightshift.control.alerts' message (DAG, task, run, log link, reason) to the URL of an Airflow
connection, `nightshift_alerts` by default (set AIRFLOW_CONN_NIGHTSHIFT_ALERTS, e.g.
'{"conn_type": "http", "host": "https://hooks.example/T000/B000"}'). Slack's incoming webhooks accept the
payload as is (`text`). `EmailNotifier` sends the same message by e-mail (the spec's `alerts.email`) through
the smtp provider's SmtpNotifier and an Airflow SMTP connection. Without the connection, alerts are logged only.

Why not the Slack or Apprise providers' notifiers for the webhook: each posts its own channel's format only,
while this payload is Slack's (`text`) and machine-readable fields at once (kind, DAG, run, task, reason), which
a program behind the webhook (an incident tool, the tests' receiver) reads; and each brings its provider and
SDK into both the scheduler and the workers. A team that wants one adds that provider's notifier to
`failure_notifiers` beside these.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from nightshift.core.spec import AlertSpec

log = logging.getLogger(__name__)
DEFAULT_CONN_ID = "nightshift_alerts"


def webhook_url(conn_id: str) -> str | None:
    """The connection's URL; None when the connection is not defined."""
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # not found comes as several types, by secrets backend
        log.warning("alert connection %r not defined (%s); the alert is only logged", conn_id, exc)
        return None
    return connection_url(conn.conn_type, conn.host, conn.port, conn.schema)


def connection_url(conn_type: str | None, host: str | None, port: int | None, schema: str | None) -> str:
    """The webhook's URL from a connection's parts, keeping its scheme: a URI connection `https://host/path`
    arrives as conn_type "https" (the token in its path must not travel in clear)."""
    host = host or ""
    if "://" in host:
        return host
    scheme = "https" if (conn_type or "").lower() == "https" else "http"
    port_part = f":{port}" if port else ""
    path = (schema or "").lstrip("/")
    return f"{scheme}://{host}{port_part}/{path}"


def post_alert(conn_id: str, alert: Any) -> None:
    """Log an alert and deliver it through the webhook connection, when there is one."""
    from nightshift.control.alerts import post

    log.error("ALERT %s", alert.text.replace("\n", " | "))
    if url := webhook_url(conn_id):
        post(url, alert, target=conn_id)
        log.info("alert for %s/%s sent to connection %s", alert.dag_id, alert.run_id, conn_id)


async def notify_late_run(conn_id: str, deadline_minutes: float, context: dict | None = None) -> None:
    """Deadline-alert callback (runs in the triggerer): the nightly run is still going past its deadline."""
    import asyncio

    from airflow.configuration import conf

    from nightshift.control.alerts import late_alert, post

    alert = late_alert(context or {}, deadline_minutes, conf.get("api", "base_url", fallback="http://localhost:8080"))
    log.error("ALERT %s", alert.text.replace("\n", " | "))
    url = await asyncio.to_thread(webhook_url, conn_id)
    if url:
        await asyncio.to_thread(lambda: post(url, alert, target=conn_id))


class WebhookNotifier(BaseNotifier):
    template_fields = ("conn_id",)

    def __init__(self, conn_id: str = DEFAULT_CONN_ID):
        super().__init__()
        self.conn_id = conn_id

    def notify(self, context: Any) -> None:
        from nightshift.control.alerts import failure_alert

        post_alert(self.conn_id, failure_alert(context))


class EmailNotifier(SmtpNotifier):
    """The webhook's message by e-mail: subject is its first line, body its text (DAG, task, run, reason,
    log link), so both channels say the same. Delivery is the smtp provider's; the connection
    (`alerts.email_conn`) holds host, port, login and `extra.from_email`."""

    def __init__(self, to: list[str] | tuple[str, ...], smtp_conn_id: str = "smtp_default"):
        super().__init__(to=list(to), smtp_conn_id=smtp_conn_id)

    def notify(self, context: Any) -> None:
        from html import escape

        from nightshift.control.alerts import failure_alert

        alert = failure_alert(context)
        self.subject = alert.text.splitlines()[0]
        self.html_content = f"<pre>{escape(alert.text)}</pre>"
        super().notify(context)
        log.info("alert for %s/%s e-mailed to %s", alert.dag_id, alert.run_id, ", ".join(self.to))


def failure_notifiers(alerts: AlertSpec) -> list[BaseNotifier]:
    """The `on_failure_callback` list of a generated DAG's tasks: the webhook always, e-mail when configured."""
    notifiers: list[BaseNotifier] = [WebhookNotifier(conn_id=alerts.webhook_conn)]
    if alerts.email:
        notifiers.append(EmailNotifier(to=alerts.email, smtp_conn_id=alerts.email_conn))
    return notifiers

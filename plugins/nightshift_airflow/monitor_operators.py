"""Operators of the monitor DAG: realized metrics per scored partition, the alert on a breach, the retrain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from nightshift_airflow.cost import RecordsCost
from nightshift_airflow.hooks import S3_CONN_ID, S3ConnectionAccess
from nightshift_airflow.links import ModelReportLink, ServedManifestLink

if TYPE_CHECKING:
    from airflow.sdk import Context

SUMMARY_KEY = "summary"


class RealizedMetricsOperator(RecordsCost, BaseOperator):
    """Joins the labels that landed to the predictions they judge and records realized metrics in S3.

    A label feed that cannot be read or matched is a data problem: the task fails without retry, after the
    partitions it could judge are recorded and summarised (XCom `summary`), so a breach elsewhere still alerts."""

    template_fields = ("labels_uri",)
    operator_extra_links = (ModelReportLink(), ServedManifestLink())

    def __init__(self, *, spec_path: str, registry_uri: str, labels_uri: str | None = None,
                 aws_conn_id: str = S3_CONN_ID, **kwargs: Any):
        super().__init__(**kwargs)
        self.spec_path = spec_path
        self.registry_uri = registry_uri  # the links' registry
        self.labels_uri = labels_uri
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.control.monitoring import monitor, retrain_reason
        from nightshift.core.config import load_settings
        from nightshift.core.registry.store import ModelRegistry
        from nightshift.core.scoring_input import InputNotAllowed, allowed_inputs, check_input_allowed
        from nightshift.core.spec_loading import load_spec

        if self.labels_uri:  # a form field: confined like a scoring input, before anything is read
            try:
                check_input_allowed(self.labels_uri, *allowed_inputs(load_settings()))
            except InputNotAllowed as exc:
                raise AirflowFailException(str(exc)) from exc
        spec = load_spec(self.spec_path)
        client = S3ConnectionAccess(self.aws_conn_id).get_client()
        reports = monitor(client, spec, labels_uri=self.labels_uri or None, record=True)
        for report in reports:
            (self.log.error if report.breaches or report.problem else self.log.info)("%s", report.line())
        pointer = ModelRegistry(client, spec.push.uri).read_pointer()
        served = pointer.version if pointer is not None else None
        summary = {"partitions": len(reports), "labelled": sum(1 for r in reports if r.rows_labelled),
                   "served_version": served, "reason": retrain_reason(spec, reports, served),
                   "problems": [f"{r.partition}: {r.problem}" for r in reports if r.problem]}
        context["ti"].xcom_push(key=SUMMARY_KEY, value=summary)
        if summary["problems"]:
            raise AirflowFailException(f"{len(summary['problems'])} label feed(s) could not be judged: "
                                       + " | ".join(summary["problems"]))
        return summary


class RetrainDecisionOperator(RecordsCost, BaseOperator):
    """A bound breached by the served version: alert (the spec's channels) and hand the reason to the retrain.
    Nothing breached: skipped, and so is the retrain."""

    def __init__(self, *, realized_task_id: str, webhook_conn: str, retrain: bool, pipeline: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.realized_task_id = realized_task_id
        self.webhook_conn = webhook_conn
        self.retrain = retrain
        self.pipeline = pipeline

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.control.alerts import degraded_alert
        from nightshift_airflow.notifiers import post_alert

        summary = context["ti"].xcom_pull(task_ids=self.realized_task_id, key=SUMMARY_KEY)
        reason = (summary or {}).get("reason")
        if not reason:
            raise AirflowSkipException("the served version breached no realized bound")
        post_alert(self.webhook_conn, degraded_alert(context["ti"], reason, retrain=self.retrain))
        if not self.retrain:
            raise AirflowSkipException("monitoring.retrain is off: alerted only")
        return {"retrain_reason": reason}


class RetrainOperator(TriggerDagRunOperator):
    """Airflow's TriggerDagRunOperator, with the run's note templated too: the triggered run shows why it
    was started in the UI (its note) and in its conf (`retrain_reason`)."""

    template_fields = (*TriggerDagRunOperator.template_fields, "note")

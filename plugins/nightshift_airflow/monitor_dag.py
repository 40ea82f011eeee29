"""The monitor DAG of a pipeline spec: realized metrics once labels land, an alert and a retrain on a breach."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import DAG, Asset, Param

if TYPE_CHECKING:
    from nightshift.core.spec import PipelineSpec


def labels_asset(spec: PipelineSpec) -> Asset:
    return Asset(uri=spec.labels_asset_uri, name=f"{spec.name}_labels")


MONITOR_TASKS = ("realized_metrics", "check_bounds", "trigger_retrain")


def build_monitor_dag(spec: PipelineSpec) -> DAG:
    """Realized performance of the served model, daily and whenever labels land; a breach retrains."""
    from nightshift_airflow.factory import cron_or_asset, spec_dag  # the factory imports this module
    from nightshift_airflow.monitor_operators import RealizedMetricsOperator, RetrainDecisionOperator, RetrainOperator

    mon = spec.monitoring
    assert mon is not None
    realized_id, decide_id, trigger_id = MONITOR_TASKS
    dag = spec_dag(  # native rendering: the decision's XCom reaches the trigger as a dict
        spec, dag_id=spec.monitor_dag_id, kind="monitoring",
        description=f"Realized performance of the served {spec.push.model_name} model once labels land",
        schedule=cron_or_asset(mon.schedule, labels_asset(spec)),
        params={"labels_uri": Param(None, type=["null", "string"], title="Labels",
                                    description=f"Empty = {mon.labels_uri}<partition>/ for each scored partition; "
                                                "a file = these labels for every partition; a prefix ending in "
                                                "/ = <prefix><partition>/.")},
        doc_md=f"Generated from `{spec.path.name}` of pipeline `{spec.name}` by nightshift's DAG factory.",
    )
    with dag:
        realized = RealizedMetricsOperator(task_id=realized_id, spec_path=str(spec.path), registry_uri=spec.push.uri,
                                           labels_uri="{{ params.labels_uri }}")
        # all_done: a label feed that failed to join must not hide a breach found in another partition.
        decide = RetrainDecisionOperator(task_id=decide_id, realized_task_id=realized_id, pipeline=spec.name,
                                         webhook_conn=spec.alerts.webhook_conn, retrain=mon.retrain,
                                         trigger_rule="all_done")
        reason = f"ti.xcom_pull(task_ids='{decide_id}')"
        retrain = RetrainOperator(task_id=trigger_id, trigger_dag_id=spec.nightly_dag_id,
                                  conf="{{ " + reason + " }}", note="{{ " + reason + "['retrain_reason'] }}")
        realized >> decide >> retrain
    return dag

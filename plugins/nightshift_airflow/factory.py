"""DAG factory: one nightly training DAG per pipeline spec. Adding a pipeline adds files, not code."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from nightshift.core.config import load_settings
from nightshift.core.errors import SpecError
from nightshift.core.registry.forms import AUTO_MIN_SPEEDUP
from nightshift.core.spec import SCORING_ENGINES
from nightshift.core.spec_loading import discover_specs, load_spec
from nightshift.core.topology import CHAMPION_ID, PUSHER_ID, TRAINING_NODES
from nightshift_airflow.hooks import SCORING_CONN_ID
from nightshift_airflow.monitor_dag import build_monitor_dag
from nightshift_airflow.notifiers import failure_notifiers
from nightshift_airflow.operators import (
    CompileTfxPipelineOperator,
    DataContractGateOperator,
    PusherNodeOperator,
    StageWindowOperator,
    TfxNodeOperator,
)
from nightshift_airflow.scoring_operators import (
    BatchScoreOperator,
    PredictionOutputGateOperator,
    ResolveScoringInputOperator,
    ScoringInputGateOperator,
)

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from nightshift.core.spec import PipelineSpec

log = logging.getLogger(__name__)
STAGE_TASK = "stage_window"
GATE_TASK = "data_contract_gate"
COMPILE_TASK = "compile_tfx_pipeline"


def trigger_params(spec: PipelineSpec) -> dict[str, Param]:
    """The manual trigger form. Airflow validates these against their JSON schema and refuses bad values."""
    bound = spec.evaluation.thresholds[spec.evaluation.gate_metric]
    return {
        "window_days": Param(
            spec.window.days, type="integer", minimum=0, maximum=36500, title="Data window (days)",
            description="Trailing days of raw partitions ending at the data interval's end; "
                        "0 = the spec's window (" + spec.window.mode + ").",
        ),
        "gate_threshold": Param(
            bound, type="number", minimum=bound, maximum=1.0,
            title=f"Minimum {spec.evaluation.gate_metric}",
            description=f"Lower bound the challenger must reach to be blessed: the spec's {bound:g} or higher.",
        ),
        "experiment_gate_threshold": Param(
            None, type=["null", "number"], minimum=0.0, maximum=1.0,
            title=f"Experiment: minimum {spec.evaluation.gate_metric} below the spec's",
            description="Only with Publish off: a lower bar for a model that is evaluated but never published.",
        ),
        "train_steps": Param(
            spec.training.train_steps, type="integer", minimum=1, maximum=1_000_000, title="Training steps",
        ),
        "publish": Param(
            True, type="boolean", title="Publish",
            description="false = train and evaluate, but never push to object storage.",
        ),
        "retrain_reason": Param(  # optional: the form treats a non-null type as required, even with a default ""
            None, type=["null", "string"], title="Reason",
            description=f"Why this run was started; {spec.monitor_dag_id} fills it in when the served model "
                        "falls below a realized bound.",
        ),
    }


def late_run_deadline(spec: PipelineSpec) -> DeadlineAlert | None:
    """Airflow's deadline alert: a run not finished `alerts.deadline_minutes` after it was queued is late;
    the triggerer then posts to the same webhook as failures."""
    minutes = spec.alerts.deadline_minutes
    if not minutes:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=timedelta(minutes=minutes),
        callback=AsyncCallback("nightshift_airflow.notifiers.notify_late_run",
                               kwargs={"conn_id": spec.alerts.webhook_conn, "deadline_minutes": minutes}))


def _shown(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path


def cron_or_asset(cron: str | None, asset: Asset) -> object:
    """A DAG schedule: the cron (UTC) and every update of the asset; only the asset when there is no cron."""
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=asset) if cron else [asset]


def start_date(spec: PipelineSpec) -> datetime:
    return datetime.fromisoformat(spec.airflow.start_date).replace(tzinfo=timezone.utc)


def spec_dag(spec: PipelineSpec, *, dag_id: str, kind: str | None, **kwargs: object) -> DAG:
    """A DAG of one pipeline: params as native values, from the spec's start date, no catch-up, one run at a
    time, the spec's task defaults, tagged with the pipeline's tags (and `kind`)."""
    return DAG(dag_id=dag_id, render_template_as_native_obj=True,  # params reach operators as numbers, booleans
               start_date=start_date(spec), catchup=False, max_active_runs=1, default_args=task_defaults(spec),
               tags=list(dict.fromkeys(["nightshift", *([kind] if kind else []), *spec.airflow.tags])), **kwargs)


def task_defaults(spec: PipelineSpec) -> dict[str, object]:
    """Every task of a pipeline's DAGs: its owner, retries, timeout and alert channels, from the spec."""
    return {
        "on_failure_callback": failure_notifiers(spec.alerts),
        "owner": spec.airflow.owner,
        "retries": spec.airflow.retries,
        "retry_delay": timedelta(minutes=spec.airflow.retry_delay_minutes),
        "execution_timeout": timedelta(minutes=spec.airflow.task_timeout_minutes),
    }


def build_nightly_dag(spec: PipelineSpec, max_active_tasks: int = 2) -> DAG:
    settings = load_settings()
    dag = spec_dag(
        spec, dag_id=spec.nightly_dag_id, kind=None,
        description=spec.description or f"Nightly retraining of {spec.name}",
        schedule=spec.airflow.schedule,
        max_active_tasks=max_active_tasks,
        params=trigger_params(spec),
        deadline=late_run_deadline(spec),
        doc_md=f"Generated from `{_shown(spec.path, settings.project_root)}` by nightshift's DAG factory.",
    )
    with dag:
        stage = StageWindowOperator(
            task_id=STAGE_TASK, pipeline=spec.name, raw_uri=spec.source.uri, window_mode=spec.window.mode,
            window_days="{{ params.window_days }}", reports_uri=spec.reports_uri, contract_path=str(spec.contract),
        )
        gate = DataContractGateOperator(
            task_id=GATE_TASK, pipeline=spec.name, contract_path=str(spec.contract), staged_task_id=STAGE_TASK,
            reports_uri=spec.reports_uri,
        )
        compile_task = CompileTfxPipelineOperator(
            task_id=COMPILE_TASK, pipeline=spec.name, spec_path=str(spec.path), staged_task_id=STAGE_TASK,
            gate_task_id=GATE_TASK, train_steps="{{ params.train_steps }}", eval_steps=spec.training.eval_steps,
            gate_threshold="{{ params.gate_threshold }}", publish="{{ params.publish }}",
            experiment_gate_threshold="{{ params.experiment_gate_threshold }}",
            spec_bound=spec.evaluation.thresholds[spec.evaluation.gate_metric],
        )
        stage >> gate >> compile_task
        tasks: dict[str, BaseOperator] = {}
        for node in TRAINING_NODES:
            # A successful push updates the model's Asset, which triggers the batch-scoring DAG.
            outlets = [model_asset(spec)] if node.node_id == PUSHER_ID else []
            # The champion's task is skipped while nothing is served; the Evaluator then runs without one.
            trigger_rule = "none_failed" if CHAMPION_ID in node.upstream else "all_success"
            tasks[node.node_id] = node_operator(spec, node.node_id, task_id=node.task_id, outlets=outlets,
                                                trigger_rule=trigger_rule)
        for node in TRAINING_NODES:
            upstream = [tasks[u] for u in node.upstream] or [compile_task]
            for u in upstream:
                u >> tasks[node.node_id]
    return dag


def node_operator(spec: PipelineSpec, node_id: str, **kwargs: object) -> BaseOperator:
    """The spec's execution backend for one TFX node: a local subprocess, or a Kubernetes pod."""
    if spec.execution.backend == "kubernetes":
        from nightshift_airflow.pod_backend import TfxNodePodOperator  # the provider loads only when used

        return TfxNodePodOperator(pipeline=spec.name, node_id=node_id, execution=spec.execution, **kwargs)
    if node_id == PUSHER_ID:
        return PusherNodeOperator(pipeline=spec.name, node_id=node_id, registry_uri=spec.push.uri, **kwargs)
    return TfxNodeOperator(pipeline=spec.name, node_id=node_id, **kwargs)


def model_asset(spec: PipelineSpec) -> Asset:
    return Asset(uri=spec.model_asset_uri, name=f"{spec.name}_published_model")


def build_scoring_dag(spec: PipelineSpec) -> DAG:
    """Scores new input with the published model: after every publish, and on its own schedule."""
    sc = spec.scoring
    dag = spec_dag(
        spec, dag_id=spec.scoring_dag_id, kind="scoring",
        description=f"Batch scoring with the published {spec.push.model_name} model",
        schedule=cron_or_asset(sc.schedule, model_asset(spec)),
        params={
            "input_uri": Param(sc.input_uri, type="string", minLength=1, title="Input",
                               description="A CSV/Parquet file (local path or s3://), or a prefix of date= "
                                           "partitions (the newest is scored)."),
            "model_version": Param(None, type=["null", "integer"], minimum=1, title="Model version",
                                   description="Empty = the version the pointer serves."),
            "engine": Param(sc.engine, type="string", enum=list(SCORING_ENGINES), title="Engine",
                            description="auto = the version's ONNX form if it was published and measured at least "
                                        f"{AUTO_MIN_SPEEDUP}x the SavedModel's speed at publish, else the "
                                        "SavedModel; or that form (a version without it fails the run)."),
        },
        doc_md=f"Generated from `{spec.path.name}` of pipeline `{spec.name}` by nightshift's DAG factory.",
    )
    with dag:
        # Every scoring task acts as the scorer identity: reads models and raw data, writes predictions only.
        conn = {"aws_conn_id": SCORING_CONN_ID}
        resolve = ResolveScoringInputOperator(task_id="resolve_input", input_uri="{{ params.input_uri }}",
                                              output_uri=sc.output_uri, **conn)
        gate = ScoringInputGateOperator(task_id="input_gate", contract_path=str(spec.contract),
                                        label_column=sc.label_column, resolve_task_id="resolve_input", **conn)
        score = BatchScoreOperator(task_id="score", model_uri=spec.push.uri, resolve_task_id="resolve_input",
                                   input_gate_task_id="input_gate",
                                   model_version="{{ params.model_version }}", chunk_rows=sc.chunk_rows,
                                   key_column=sc.key_column, engine="{{ params.engine }}", **conn)
        out = PredictionOutputGateOperator(task_id="output_gate", resolve_task_id="resolve_input",
                                           input_gate_task_id="input_gate", webhook_conn=spec.alerts.webhook_conn,
                                           **conn)
        resolve >> gate >> score >> out
    return dag


ROLLBACK_DAG_ID = "model_rollback"


def build_rollback_dag(specs: list[PipelineSpec]) -> DAG:
    """Manual only: the form's model, version and reason move that model's pointer back."""
    from nightshift_airflow.registry_operators import RollbackModelOperator

    names = sorted(s.name for s in specs)
    dag = DAG(
        dag_id=ROLLBACK_DAG_ID,
        render_template_as_native_obj=True,  # params reach operators as numbers, booleans, None
        description="Serve an earlier verified model version (the operator's rollback button)",
        schedule=None,
        start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        max_active_runs=1,
        params={
            "model": Param(names[0] if names else "", type="string", enum=names or [""], title="Model"),
            "version": Param(None, type=["null", "integer"], minimum=1, title="Version",
                             description="Empty = the newest older version whose files verify."),
            "reason": Param("", type="string", minLength=3, title="Reason",
                            description="Recorded in the registry's audit log."),
        },
        tags=["nightshift", "registry"],
        doc_md="Moves a model's serving pointer back (compare-and-swap, audit-logged). The batch scoring DAG "
               "follows the pointer, so its next run uses the rolled-back version.",
    )
    with dag:
        RollbackModelOperator(task_id="rollback", registries={s.name: s.push.uri for s in specs},
                              model="{{ params.model }}", version="{{ params.version }}",
                              reason="{{ params.reason }}")
    return dag


SPEC_ERRORS_DAG_ID = "nightshift_spec_errors"


class SpecErrorsDag(DAG):
    """Stands in for the DAGs of pipelines whose spec does not load.

    Airflow's DagBag validates each DAG of a file on its own and records the exception of one that fails as
    the file's import error, while it still loads the file's other DAGs. So a bad spec shows up in the UI's
    import errors with its file and key, and every good pipeline keeps running."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(dag_id=SPEC_ERRORS_DAG_ID, schedule=None)
        self._problems = problems

    def validate(self) -> None:
        raise SpecError(f"{len(self._problems)} pipeline spec(s) not loaded; their DAGs are off until fixed:\n"
                        + "\n".join(f"- {name}: {problem}" for name, problem in sorted(self._problems.items())))


def build_all(pipelines_dir: Path | None = None) -> dict[str, DAG]:
    """Every spec's DAGs. A spec that fails to load or to build costs only its own pipeline: its problem is
    reported through `SpecErrorsDag` (an import error naming the file and key) and the other pipelines load."""
    settings = load_settings()
    dags: dict[str, DAG] = {}
    specs: list[PipelineSpec] = []
    problems: dict[str, str] = {}
    for path in discover_specs(pipelines_dir or settings.pipelines_dir):
        try:
            spec = load_spec(path, settings.project_root)
            built = [build_nightly_dag(spec), build_scoring_dag(spec), build_monitor_dag(spec)]
            clash = [d.dag_id for d in built if d.dag_id in dags]
            if clash:
                raise SpecError(f"{path}: name {spec.name!r} gives DAG id(s) {', '.join(clash)}, "
                                "which another spec already uses")
        except Exception as exc:  # any failure of one spec must not hide the others
            log.error("pipeline spec %s not loaded: %s", path, exc)
            problems[path.parent.name] = str(exc) if isinstance(exc, SpecError) else f"{path}: {exc!r}"
            continue
        specs.append(spec)
        dags.update({d.dag_id: d for d in built})
    if specs:
        rollback = build_rollback_dag(specs)
        dags[rollback.dag_id] = rollback
    if problems:
        dags[SPEC_ERRORS_DAG_ID] = SpecErrorsDag(problems)
    return dags

"""Operators of the nightly DAG. Each stores its arguments, builds its hook lazily, and makes one call
into plain `nightshift` functions; nothing here touches data or the network in __init__."""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from nightshift.core import exit_codes
from nightshift.core.config import load_settings
from nightshift.core.errors import DataContractViolation
from nightshift.core.run_config import ParamsRefused, RunConfig, code_revision, resolve_gate, run_key
from nightshift_airflow.cost import RecordsCost
from nightshift_airflow.hooks import READER_CONN_ID, S3_CONN_ID, PusherAccess, S3ConnectionAccess, TfxRuntimeHook
from nightshift_airflow.links import DataDocsLink, ModelReportLink, PublishedManifestLink

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)


def run_dir_for(pipeline: str, run_id: str) -> Path:
    return load_settings().runs_dir / pipeline / run_key(run_id)


class StageWindowOperator(RecordsCost, BaseOperator):
    """Copies the raw partitions inside this run's data window into one local CSV for ExampleGen."""

    template_fields = ("window_days",)

    def __init__(self, *, pipeline: str, raw_uri: str, window_mode: str, window_days: Any = 0,
                 reports_uri: str | None = None, contract_path: str | None = None, aws_conn_id: str = S3_CONN_ID,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.contract_path = contract_path  # its integer columns are staged as integers
        self.raw_uri = raw_uri
        self.reports_uri = reports_uri
        self.window_mode = window_mode
        self.window_days = window_days
        self.aws_conn_id = aws_conn_id

    @cached_property
    def hook(self) -> S3ConnectionAccess:
        return S3ConnectionAccess(self.aws_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.control.contracts import contract_integer_columns
        from nightshift.control.landing import stage_window
        from nightshift.control.partition_cache import PartitionCache
        from nightshift.core.windows import window_for_interval

        days = int(self.window_days or 0)
        end = _window_end(context)
        window = window_for_interval(end, mode="trailing_days" if days else self.window_mode, days=days)
        self.log.info("data interval ends %s: window %s", end, window.describe())
        dest = run_dir_for(self.pipeline, context["run_id"]) / "data" / "data.csv"
        integers = contract_integer_columns(self.contract_path) if self.contract_path else ()
        staged = stage_window(self.hook.get_client(), self.raw_uri, window, dest, integer_columns=integers,
                              cache=PartitionCache(load_settings().partition_cache_dir))  # it logs what it staged
        if self.reports_uri:  # the exact partitions a model was trained on, for `nightshift lineage`
            from nightshift.core.run_reports import PARTITIONS, run_reports_uri
            from nightshift.core.s3 import S3Uri

            target = S3Uri.parse(run_reports_uri(self.reports_uri, self.pipeline, context["run_id"], PARTITIONS))
            body = json.dumps({"window": window.as_dict(), "partitions": list(staged.partition_uris)}, indent=1)
            self.hook.get_client().put_object(Bucket=target.bucket, Key=target.key, Body=body.encode(),
                                              ContentType="application/json")
            self.log.info("partition list: s3://%s/%s", target.bucket, target.key)
        return staged.as_dict()


class DataContractGateOperator(RecordsCost, BaseOperator):
    """Great Expectations gate on exactly the staged data; a failure stops the run before training.

    The full result and GX's Data Docs page go to `<reports_uri>/<pipeline>/<run id>/` whether the gate
    passes or not; a failure ends the task with one line per failed expectation.
    """

    operator_extra_links = (DataDocsLink(),)

    def __init__(self, *, pipeline: str, contract_path: str, staged_task_id: str, reports_uri: str,
                 aws_conn_id: str = S3_CONN_ID, **kwargs: Any):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.contract_path = contract_path
        self.staged_task_id = staged_task_id
        self.reports_uri = reports_uri
        self.aws_conn_id = aws_conn_id

    @cached_property
    def hook(self) -> S3ConnectionAccess:
        return S3ConnectionAccess(self.aws_conn_id)

    def report_uri(self, run_id: str) -> str:
        """This run's gate report folder (the Data Docs link reads it too)."""
        from nightshift.core.run_reports import GATE_FOLDER, run_reports_uri

        return run_reports_uri(self.reports_uri, self.pipeline, run_id, GATE_FOLDER)

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.control.contracts import load_contract, window_parameters
        from nightshift.control.gate import check_staged, enforce, write_report
        from nightshift.control.report_upload import upload_folder
        from nightshift.core.run_reports import DATA_DOCS, GATE_FOLDER, GATE_RESULT

        staged = context["ti"].xcom_pull(task_ids=self.staged_task_id)
        contract = load_contract(self.contract_path)
        local = run_dir_for(self.pipeline, context["run_id"]) / "reports" / GATE_FOLDER
        result = check_staged(Path(staged["path"]), contract, window_parameters(staged.get("start"), staged.get("end")),
                              staged.get("problems", []))
        write_report(result, local, staged["path"])
        uri = upload_folder(self.hook.get_client(), local, self.report_uri(context["run_id"]))
        self.log.info("data-quality report: %s/%s (full result: %s/%s)", uri, Path(DATA_DOCS).name, uri,
                      Path(GATE_RESULT).name)
        try:
            enforce(result, f"data window {staged.get('start') or 'beginning'}..{staged.get('end')} ({staged['path']})")
        except DataContractViolation as exc:
            for line in exc.failures:
                self.log.error("GATE FAILED: %s", line)
            # The same data fails the same way: fail now (and alert now) instead of retrying.
            raise AirflowFailException(str(exc)) from exc
        self.log.info("contract %s v%s passed on %d rows (%d warnings)", contract.name, contract.version,
                      result.rows, len(result.warnings))
        return {"contract": contract.identity(), "rows": result.rows, "warnings": result.warnings, "report": uri}


class CompileTfxPipelineOperator(RecordsCost, BaseOperator):
    """Writes this run's RunConfig (params resolved) and compiles the TFX pipeline to IR in .venv-tfx."""

    template_fields = ("train_steps", "gate_threshold", "experiment_gate_threshold", "publish")

    def __init__(self, *, pipeline: str, spec_path: str, staged_task_id: str, gate_task_id: str,
                 train_steps: Any, eval_steps: int, gate_threshold: Any, publish: Any, spec_bound: float,
                 experiment_gate_threshold: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.spec_bound = spec_bound
        self.experiment_gate_threshold = experiment_gate_threshold
        self.pipeline = pipeline
        self.spec_path = spec_path
        self.staged_task_id = staged_task_id
        self.gate_task_id = gate_task_id
        self.train_steps = train_steps
        self.eval_steps = eval_steps
        self.gate_threshold = gate_threshold
        self.publish = publish

    @cached_property
    def hook(self) -> TfxRuntimeHook:
        return TfxRuntimeHook(load_settings(), S3ConnectionAccess(READER_CONN_ID))  # reads the champion only

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.core.mlmd import parse_mysql_url

        settings = load_settings()
        staged = context["ti"].xcom_pull(task_ids=self.staged_task_id)
        gate = context["ti"].xcom_pull(task_ids=self.gate_task_id)
        run_dir = run_dir_for(self.pipeline, context["run_id"])
        dag_run = context["dag_run"]
        experiment = self.experiment_gate_threshold
        try:
            gate_threshold, publish = resolve_gate(
                spec_bound=self.spec_bound, gate_threshold=float(self.gate_threshold),
                experiment_gate_threshold=None if experiment is None else float(experiment),
                publish=bool(self.publish), run_type=str(dag_run.run_type), conf=dict(dag_run.conf or {}))
        except ParamsRefused as exc:
            raise AirflowFailException(str(exc)) from exc
        if publish != bool(self.publish):
            self.log.info("a backfill run publishes only when its conf sets publish: true; this one does not")
        run = RunConfig(
            pipeline=self.pipeline,
            spec_path=self.spec_path,
            run_id=context["run_id"],
            run_dir=str(run_dir),
            input_base=str(Path(staged["path"]).parent),
            pipeline_root=str(settings.pipeline_root / self.pipeline),
            mlmd_sqlite=str(settings.mlmd_sqlite),
            mlmd_mysql=parse_mysql_url(settings.mlmd_mysql).redacted if settings.mlmd_mysql else "",
            train_steps=int(self.train_steps),
            eval_steps=int(self.eval_steps),
            gate_threshold=gate_threshold,
            publish=publish,
            data_window={k: v for k, v in staged.items() if k not in ("path", "partition_uris")},
            contract=gate["contract"],
            code_revision=code_revision(settings.project_root),
        )
        run.write()
        self.log.info("run config: %s", json.dumps(run.__dict__, sort_keys=True, default=str))
        code = self.hook.run("compile", str(run_dir))
        if code != 0:
            raise RuntimeError(f"compiling the TFX pipeline failed (exit {code}); see the log above")
        return {"run_dir": str(run_dir), "ir": str(run.ir_path)}

    def on_kill(self) -> None:
        self.hook.send_sigterm()


class TfxNodeOperator(RecordsCost, BaseOperator):
    """Runs one TFX node of this run's compiled pipeline in the runtime interpreter."""

    ui_color = "#ffcc80"

    def __init__(self, *, pipeline: str, node_id: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.tfx_node_id = node_id

    @cached_property
    def hook(self) -> TfxRuntimeHook:
        return TfxRuntimeHook(load_settings())  # no S3 key: the node reads and writes local artifacts only

    def execute(self, context: Context) -> dict[str, Any] | None:
        run_dir = run_dir_for(self.pipeline, context["run_id"])
        code = self.hook.run("node", str(run_dir), self.tfx_node_id)
        measured = self.hook.last_result  # wall, CPU and peak RSS of the node's process, when it ran warm
        if code == exit_codes.NOTHING_TO_PUBLISH:
            raise AirflowSkipException(f"{self.tfx_node_id}: nothing to do or publish (not blessed, publish=false, "
                                       "or no champion served yet)")
        if exit_codes.is_data_failure(code):  # anomalies, drift: the same data fails the same way on a retry
            raise AirflowFailException(f"TFX node {self.tfx_node_id}: {exit_codes.describe(code)}; "
                                       "its own log above names the problem")
        if code != exit_codes.OK:
            raise RuntimeError(f"TFX node {self.tfx_node_id}: {exit_codes.describe(code)}; its own log is above")
        return {"node": self.tfx_node_id, "process": measured.as_dict()} if measured else None

    def on_kill(self) -> None:
        self.hook.send_sigterm()


class PusherNodeOperator(TfxNodeOperator):
    """The Pusher's task: a TFX node like the others, with links to the manifest of the version it published
    and to the model report."""

    operator_extra_links = (PublishedManifestLink(), ModelReportLink())

    def __init__(self, *, registry_uri: str, aws_conn_id: str = S3_CONN_ID, **kwargs: Any):
        super().__init__(**kwargs)
        self.registry_uri = registry_uri
        self.aws_conn_id = aws_conn_id

    @cached_property
    def hook(self) -> TfxRuntimeHook:
        return TfxRuntimeHook(load_settings(), PusherAccess(self.pipeline, self.aws_conn_id))  # the one that publishes

    def execute(self, context: Context) -> dict[str, Any] | None:
        """The node, then its verdict as the log's last line (and a skip's reason): published vN, or which check
        held the model back with both numbers."""
        from nightshift.core.push_result import latest_result, verdict_line

        try:
            outcome = super().execute(context)
        except AirflowSkipException:
            result = latest_result(run_dir_for(self.pipeline, context["run_id"]))
            if result is None:
                raise
            raise AirflowSkipException(verdict_line(result)) from None
        if result := latest_result(run_dir_for(self.pipeline, context["run_id"])):
            self.log.info("%s", verdict_line(result))
        return outcome


def _window_end(context: Context) -> Any:
    """The data interval's end; manual runs may have none (Airflow 3), then their logical date or run_after."""
    for key in ("data_interval_end", "logical_date"):
        if context.get(key) is not None:
            return context[key]
    return context["dag_run"].run_after

"""Operators of the batch-scoring DAG: pick the input, gate it, score it in .venv-tfx, gate the output."""

from __future__ import annotations

import tempfile
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from nightshift.core import exit_codes
from nightshift.core.config import load_settings
from nightshift.core.errors import DataContractViolation, NightshiftError
from nightshift_airflow.cost import RecordsCost
from nightshift_airflow.hooks import S3_CONN_ID, S3ConnectionAccess, TfxRuntimeHook

if TYPE_CHECKING:
    from airflow.sdk import Context

class ResolveScoringInputOperator(RecordsCost, BaseOperator):
    """Turns the form's input URI (a file, or a prefix of date= partitions: the newest) into one object
    and its output partition."""

    template_fields = ("input_uri",)

    def __init__(self, *, input_uri: str, output_uri: str, aws_conn_id: str = S3_CONN_ID, **kwargs: Any):
        super().__init__(**kwargs)
        self.input_uri = input_uri
        self.output_uri = output_uri
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> dict[str, str]:
        from nightshift.core.scoring_input import InputNotAllowed, allowed_inputs, check_input_allowed, resolve_input

        try:
            check_input_allowed(self.input_uri, *allowed_inputs(load_settings()))
        except InputNotAllowed as exc:  # the same input is refused on every retry
            raise AirflowFailException(str(exc)) from exc
        client = S3ConnectionAccess(self.aws_conn_id).get_client() if self.input_uri.startswith("s3://") else None
        # Manual runs in Airflow 3 may have no logical date (no "ds"): fall back to run_after's date.
        day = context.get("ds") or context["dag_run"].run_after.date().isoformat()
        resolved = resolve_input(client, self.input_uri, self.output_uri, fallback_partition=day)
        self.log.info("scoring %s into %s", resolved["input"], resolved["output"])
        return resolved


class ScoringInputGateOperator(RecordsCost, BaseOperator):
    """The scoring input must meet the contract (features without the label), checked chunk by chunk."""

    def __init__(self, *, contract_path: str, label_column: str, resolve_task_id: str,
                 aws_conn_id: str = S3_CONN_ID, **kwargs: Any):
        super().__init__(**kwargs)
        self.contract_path = contract_path
        self.label_column = label_column
        self.resolve_task_id = resolve_task_id
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.control.contracts import for_scoring, load_contract
        from nightshift.control.window_validation import validate_file
        from nightshift.core.scoring_input import InputNotAllowed, allowed_inputs, fetch_input

        resolved = context["ti"].xcom_pull(task_ids=self.resolve_task_id)
        contract = for_scoring(load_contract(self.contract_path), self.label_column)
        client = S3ConnectionAccess(self.aws_conn_id).get_client() if resolved["input"].startswith("s3://") else None
        with tempfile.TemporaryDirectory() as tmp:
            # The fingerprint of exactly what is validated: the scorer refuses any other object.
            # Confined again on the opened file: a link swapped since resolve_input checked the path is refused.
            try:
                local, fingerprint = fetch_input(client, resolved["input"], Path(tmp),
                                                 roots=allowed_inputs(load_settings())[1])
            except InputNotAllowed as exc:
                raise AirflowFailException(str(exc)) from exc
            # A labelled file (a back-test) may be scored: the scorer reads only the model's features.
            ignore = (self.label_column,) if self.label_column else ()
            result = validate_file(local, contract, ignore_columns=ignore)
        for line in result.warnings:
            self.log.warning("input WARN: %s", line)
        if not result.success:
            for line in result.failures:
                self.log.error("INPUT GATE FAILED: %s", line)
            violation = DataContractViolation(f"{resolved['input']}: does not meet {contract.name}", result.failures)
            raise AirflowFailException(str(violation)) from violation  # the same input cannot pass on a retry
        self.log.info("%s (%s): %d rows meet %s", resolved["input"], fingerprint, result.rows, contract.name)
        return {"rows": result.rows, "fingerprint": fingerprint}


class BatchScoreOperator(RecordsCost, BaseOperator):
    """Scores the input with the published model (or the form's version) in the runtime interpreter."""

    template_fields = ("model_version", "engine")

    def __init__(self, *, model_uri: str, resolve_task_id: str, input_gate_task_id: str, model_version: Any = None,
                 chunk_rows: int, key_column: str | None = None, aws_conn_id: str = S3_CONN_ID,
                 engine: str = "auto", **kwargs: Any):
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.model_uri = model_uri
        self.resolve_task_id = resolve_task_id
        self.input_gate_task_id = input_gate_task_id
        self.model_version = model_version
        self.chunk_rows = chunk_rows
        self.key_column = key_column
        self.engine = engine

    @cached_property
    def hook(self) -> TfxRuntimeHook:
        return TfxRuntimeHook(load_settings(), S3ConnectionAccess(self.aws_conn_id))

    def execute(self, context: Context) -> None:
        from nightshift.core.batch_score_command import MODULE, BatchScoreRequest

        resolved = context["ti"].xcom_pull(task_ids=self.resolve_task_id)
        gate = context["ti"].xcom_pull(task_ids=self.input_gate_task_id)
        version = None if self.model_version is None else int(self.model_version)
        request = BatchScoreRequest(model_uri=self.model_uri, input=resolved["input"], output=resolved["output"],
                                    run_id=context["run_id"], chunk_rows=self.chunk_rows, version=version,
                                    key_column=self.key_column, input_fingerprint=gate["fingerprint"],
                                    expected_rows=gate["rows"], engine=self.engine)
        code = self.hook.run_module(MODULE, request.arguments())
        if code == exit_codes.OK:
            return
        message = f"scoring {resolved['input']}: {exit_codes.describe(code)}; the reason is logged above; " \
                  "nothing was committed"
        if exit_codes.is_data_failure(code):  # the same input and output fail the same way
            raise AirflowFailException(message)
        raise NightshiftError(message)

    def on_kill(self) -> None:
        self.hook.send_sigterm()


class PredictionOutputGateOperator(RecordsCost, BaseOperator):
    """Re-checks the committed output: marker present, file matches its sha256, one row per input row.
    Skew the scorer measured beyond the spec's bounds is alerted (the output stands: monitoring reports)."""

    def __init__(self, *, resolve_task_id: str, input_gate_task_id: str, aws_conn_id: str = S3_CONN_ID,
                 webhook_conn: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.resolve_task_id = resolve_task_id
        self.input_gate_task_id = input_gate_task_id
        self.aws_conn_id = aws_conn_id
        self.webhook_conn = webhook_conn

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.core.predictions import verify_committed

        resolved = context["ti"].xcom_pull(task_ids=self.resolve_task_id)
        rows = context["ti"].xcom_pull(task_ids=self.input_gate_task_id)["rows"]
        client = S3ConnectionAccess(self.aws_conn_id).get_client() if resolved["output"].startswith("s3://") else None
        marker = verify_committed(client, resolved["output"], expected_rows=rows, run_id=context["run_id"])
        self.log.info("%s: %d predictions by model version %s, committed", resolved["output"], marker["rows"],
                      marker["model_version"])
        status = (marker.get("skew") or {}).get("status", "not measured")
        self.log.info("training/serving skew: %s", status)
        if status.startswith("breach") and self.webhook_conn:
            from nightshift.control.alerts import skew_alert
            from nightshift_airflow.notifiers import post_alert

            post_alert(self.webhook_conn, skew_alert(context["ti"], resolved["input"], status))
        return marker

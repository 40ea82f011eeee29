"""Operators that move a model's serving pointer: the Airflow form is the operator's rollback button."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from nightshift_airflow.cost import RecordsCost
from nightshift_airflow.hooks import S3_CONN_ID, S3ConnectionAccess

if TYPE_CHECKING:
    from airflow.sdk import Context


class RollbackModelOperator(RecordsCost, BaseOperator):
    """Points a model's serving pointer back to an earlier verified version (ModelRegistry.rollback).

    `registries` maps model names to their registry URIs (from the pipeline specs); the run's
    triggering user and run id are recorded as the actor in the registry's audit log."""

    template_fields = ("model", "version", "reason")

    def __init__(self, *, registries: dict[str, str], model: str, version: Any, reason: str,
                 aws_conn_id: str = S3_CONN_ID, **kwargs: Any):
        super().__init__(**kwargs)
        self.registries = registries
        self.model = model
        self.version = version
        self.reason = reason
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from nightshift.core.errors import RegistryError
        from nightshift.core.registry.store import ModelRegistry

        if self.model not in self.registries:
            raise RegistryError(f"unknown model {self.model!r}; known: {', '.join(sorted(self.registries))}")
        to = None if self.version is None else int(self.version)
        run = context["dag_run"]
        actor = f"airflow:{getattr(run, 'triggering_user_name', None) or 'unknown'} run {run.run_id}"
        registry = ModelRegistry(S3ConnectionAccess(self.aws_conn_id).get_client(), self.registries[self.model])
        before = registry.read_pointer()
        pointer = registry.rollback(actor=actor, reason=self.reason, to=to)
        self.log.info("ROLLED BACK %s: v%s -> v%d by %s (%s)", self.model, before.version if before else None,
                      pointer.version, actor, self.reason)
        return {"model": self.model, "from": before.version if before else None, "to": pointer.version}

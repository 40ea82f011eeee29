"""The Kubernetes backend for TFX nodes: one pod of the runtime image per node, through the cncf-kubernetes
provider's KubernetesPodOperator. The pod runs exactly what the subprocess backend runs: the same
`python -m nightshift_tfx node ...` arguments and the same environment (TfxRuntimeHook builds both), with the
spec's CPU and memory, and the var folder (run configs, pipeline root) from a shared volume claim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

from nightshift.core import exit_codes
from nightshift.core.config import load_settings
from nightshift.core.topology import PUSHER_ID
from nightshift_airflow.hooks import S3_CONN_ID, PusherAccess, TfxRuntimeHook
from nightshift_airflow.operators import run_dir_for

if TYPE_CHECKING:
    from nightshift.core.spec import ExecutionSpec

VAR_VOLUME = "nightshift-var"


class TfxNodePodOperator(KubernetesPodOperator):
    """Runs one TFX node of this run's compiled pipeline as a pod; exit_codes.NOTHING_TO_PUBLISH = skipped."""

    ui_color = "#ffe0b2"

    def __init__(self, *, pipeline: str, node_id: str, execution: ExecutionSpec, **kwargs: Any):
        settings = load_settings()
        resources = {"cpu": execution.cpu, "memory": execution.memory}
        super().__init__(
            name=f"{pipeline}-{node_id}".lower().replace("_", "-"),
            namespace=execution.namespace,
            image=execution.image,
            cmds=["python"],
            arguments=[],  # filled per run by render_node: they name the run's folder
            container_resources=k8s.V1ResourceRequirements(requests=resources, limits=resources),
            volumes=[k8s.V1Volume(name=VAR_VOLUME, persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                claim_name=execution.volume_claim))],
            volume_mounts=[k8s.V1VolumeMount(name=VAR_VOLUME, mount_path=str(settings.var_dir))],
            kubernetes_conn_id=execution.kubernetes_conn_id,
            skip_on_exit_code=exit_codes.NOTHING_TO_PUBLISH,
            get_logs=True,
            log_pod_spec_on_failure=False,  # the spec holds the step's environment (S3 keys, MLMD's password)
            on_finish_action="delete_succeeded_pod",
            **kwargs,
        )
        self.pipeline = pipeline
        self.tfx_node_id = node_id

    def render_node(self, run_id: str) -> None:
        """Arguments and environment for this run, from the same hook the subprocess backend uses."""
        publishes = self.tfx_node_id == PUSHER_ID  # only the pusher's pod gets a key: its pipeline's
        hook = TfxRuntimeHook(load_settings(), PusherAccess(self.pipeline, S3_CONN_ID) if publishes else None)
        self.arguments = hook.arguments("node", str(run_dir_for(self.pipeline, run_id)), self.tfx_node_id)
        self.env_vars = [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(hook.environment().items())]

    def execute(self, context: Any) -> Any:
        self.render_node(context["run_id"])
        return super().execute(context)

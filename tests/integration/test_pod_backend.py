"""The Kubernetes pod backend renders the command line, environment and resources the subprocess backend
runs (no cluster: the pod request is built, not sent)."""

from __future__ import annotations

import os

import pytest
import yaml

from nightshift.control.s3_roles import PUSHER_SEED_VAR, pusher_credentials
from nightshift.core.config import PROJECT_ROOT, load_settings
from nightshift.core.exit_codes import NOTHING_TO_PUBLISH
from nightshift.core.spec_loading import load_spec
from nightshift.core.topology import TRAINING_NODES

pytestmark = pytest.mark.integration


@pytest.fixture()
def pod_spec(tmp_path):
    doc = yaml.safe_load((PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml").read_text())
    doc["execution"] = {"backend": "kubernetes", "image": "registry.local/nightshift-runtime:0.1.0",
                        "namespace": "ml", "cpu": "2", "memory": "6Gi", "volume_claim": "nightshift-runs"}
    path = tmp_path / "pipelines" / "taxi" / "pipeline.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(doc))
    return load_spec(path, PROJECT_ROOT)


def test_every_tfx_node_becomes_a_pod_running_what_the_subprocess_backend_runs(pod_spec):
    from nightshift_airflow.factory import build_nightly_dag
    from nightshift_airflow.hooks import PusherAccess, TfxRuntimeHook
    from nightshift_airflow.operators import run_dir_for
    from nightshift_airflow.pod_backend import TfxNodePodOperator

    from nightshift.core.topology import PUSHER_ID

    dag = build_nightly_dag(pod_spec)
    hook = TfxRuntimeHook(load_settings())
    pusher = TfxRuntimeHook(load_settings(), PusherAccess("taxi"))
    for node in TRAINING_NODES:
        op = dag.get_task(node.task_id)
        assert isinstance(op, TfxNodePodOperator), node.task_id
        op.render_node("manual__2026-11-23")
        pod = op.build_pod_request_obj(dry_run=True)  # no cluster, no kube config
        [container] = pod.spec.containers
        run_dir = str(run_dir_for("taxi", "manual__2026-11-23"))
        assert container.image == "registry.local/nightshift-runtime:0.1.0" and pod.metadata.namespace == "ml"
        # what the subprocess backend runs, warm or cold: `python -u -m nightshift_tfx node ...`
        assert [*container.command, *container.args] == [
            "python", "-u", "-m", hook.MODULE, *hook.module_arguments("node", run_dir, node.node_id)]
        assert hook.module_arguments("node", run_dir, node.node_id) == ["node", "--run-dir", run_dir,
                                                                        "--node", node.node_id]
        # Only the pusher's pod holds an S3 key (its pipeline's); the spec is never logged (it holds secrets).
        env = {e.name: e.value for e in container.env}
        expected = pusher.environment() if node.node_id == PUSHER_ID else hook.environment()
        assert env == expected
        assert ("AWS_SECRET_ACCESS_KEY" in env) is (node.node_id == PUSHER_ID), node.node_id
        if node.node_id == PUSHER_ID:
            assert env["AWS_ACCESS_KEY_ID"] == pusher_credentials("taxi", os.environ[PUSHER_SEED_VAR])[0]
        assert op.log_pod_spec_on_failure is False
        assert container.resources.requests == {"cpu": "2", "memory": "6Gi"} == container.resources.limits
        [mount] = container.volume_mounts
        assert mount.mount_path == str(load_settings().var_dir) and run_dir.startswith(mount.mount_path)
        assert pod.spec.volumes[0].persistent_volume_claim.claim_name == "nightshift-runs"
        assert op.skip_on_exit_code == [NOTHING_TO_PUBLISH]


def test_the_default_backend_stays_a_subprocess():
    from nightshift_airflow.factory import build_nightly_dag
    from nightshift_airflow.operators import TfxNodeOperator

    dag = build_nightly_dag(load_spec(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml", PROJECT_ROOT))
    assert all(isinstance(dag.get_task(n.task_id), TfxNodeOperator) for n in TRAINING_NODES)

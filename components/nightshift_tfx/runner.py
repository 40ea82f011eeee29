"""Compile a run's TFX pipeline to IR, and execute one IR node in this process.

This is TFX's LocalDagRunner loop (tfx/orchestration/local/local_dag_runner.py) cut at the node
boundary: the Airflow task for node N runs `python -m nightshift_tfx node --run-dir D --node N`,
so each component is its own Airflow task with its own retries, timeout and log, and all nodes of
one Airflow run share one pipeline-run id (the Airflow run id) and one MLMD store.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tfx.dsl.compiler import compiler, constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import launcher, runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from nightshift.core import exit_codes
from nightshift.core.errors import NightshiftError
from nightshift.core.run_config import RunConfig
from nightshift.core.spec_loading import load_spec
from nightshift.core.topology import CHAMPION_ID, PUSHER_ID

log = logging.getLogger(__name__)


def compile_run(run: RunConfig) -> Path:
    """Build the pipeline for this run, substitute the run id, and write the IR next to the run config."""
    spec = load_spec(run.spec_path)
    pipeline = _create_pipeline(spec, run)
    from tfx.dsl.components.base import base_component

    for component in pipeline.components:
        if not isinstance(component, base_component.BaseComponent):
            continue  # the champion's Importer is a node, not a component: nothing to package
        # What tfx_runner._make_pipeline_proto does: package the module file, or Beam workers
        # fail with "No module named 'user_module_0'".
        reuse_packaged_modules(component, run.pipeline_root)
        component._resolve_pip_dependencies(run.pipeline_root)
    ir = compiler.Compiler().compile(pipeline)
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run.run_id}
    )
    Path(run.mlmd_sqlite).parent.mkdir(parents=True, exist_ok=True)
    run.ir_path.write_bytes(ir.SerializeToString())
    log.info("compiled %s for run %s: nodes %s", spec.name, run.run_id,
             [n.pipeline_node.node_info.id for n in ir.nodes])
    return run.ir_path


def reuse_packaged_modules(component: Any, pipeline_root: str) -> None:
    """Point the component at the wheel an earlier compile built from the same module sources, if there is one.

    TFX packages the module file on every compile (a setup.py subprocess, 5-15 s on this machine). Its wheel's
    version is the hash of every .py file in the module's folder (udf_utils._get_version_hash), so a wheel of
    that name in `<pipeline root>/_wheels` holds exactly this code: reusing it changes nothing but the time.
    Dependencies without such a wheel are left for TFX to build as before.
    """
    import os

    from tfx.components.util import udf_utils

    resolved = []
    for dependency in getattr(component, "_pip_dependencies", []):
        wheel = None
        if isinstance(dependency, udf_utils.UserModuleFilePipDependency):
            module_file = component.spec.exec_properties.get(dependency.module_file_key)
            if isinstance(module_file, str) and module_file.endswith(".py") and os.path.isfile(module_file):
                folder, name = os.path.split(os.path.abspath(module_file))
                sources = [f for f in os.listdir(folder) if f.endswith(".py")]
                version = udf_utils._get_version_hash(folder, sources)
                found = sorted(Path(pipeline_root, "_wheels").glob(f"*{component.id}-0.0+{version}-*.whl"))
                if found:
                    wheel = str(found[0])
                    component.spec.exec_properties[dependency.module_path_key] = f"{name[:-3]}@{wheel}"
                    component.spec.exec_properties[dependency.module_file_key] = None
                    log.info("%s: reusing %s (same module sources)", component.id, wheel)
        resolved.append(wheel or dependency)
    if resolved:
        component._pip_dependencies = resolved


def run_local(run: RunConfig) -> None:
    """The same pipeline under TFX's own LocalDagRunner, in one process: the baseline for benchmarks."""
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    spec = load_spec(run.spec_path)
    Path(run.mlmd_sqlite).parent.mkdir(parents=True, exist_ok=True)
    LocalDagRunner().run(_create_pipeline(spec, run))


def _create_pipeline(spec, run: RunConfig):
    """This run's pipeline, measured against the served version: its model and its run's data."""
    from nightshift_tfx.champion import data_baseline, fetch_champion
    from nightshift_tfx.pipeline import create_pipeline

    champion = fetch_champion(spec, run)
    baseline = data_baseline(spec, run, champion)
    log.info("data check baseline: %s", baseline.source)
    return create_pipeline(spec, run, champion, baseline)


def load_ir(path: Path) -> pipeline_pb2.Pipeline:
    ir = pipeline_pb2.Pipeline()
    ir.ParseFromString(path.read_bytes())
    return ir


def with_password(connection: Any, run: RunConfig) -> Any:
    """The IR's MLMD connection with the MySQL password added in this process only (the IR has none)."""
    if not run.mlmd_mysql or not connection.HasField("mysql"):
        return connection
    from nightshift.core.mlmd import parse_mysql_url

    filled = type(connection)()
    filled.CopyFrom(connection)
    filled.mysql.password = parse_mysql_url(run.mlmd_mysql).password
    return filled


def run_node(run: RunConfig, node_id: str) -> int:
    """Launch one node; returns a process exit code (0, or exit_codes.NOTHING_TO_PUBLISH)."""
    ir = load_ir(run.ir_path)
    nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}
    if node_id not in nodes:
        log.warning("node %s is not part of this run's pipeline (publish=%s, champion: %s): nothing to do",
                    node_id, run.publish, "none served yet" if node_id == CHAMPION_ID else "-")
        return exit_codes.NOTHING_TO_PUBLISH
    deployment = runner_utils.extract_local_deployment_config(ir)
    connection = with_password(getattr(
        deployment.metadata_connection_config,
        deployment.metadata_connection_config.WhichOneof("connection_config"),
    ), run)
    node = nodes[node_id]
    component_launcher = launcher.Launcher(
        pipeline_node=node,
        mlmd_connection=metadata.Metadata(connection),
        pipeline_info=ir.pipeline_info,
        pipeline_runtime_spec=ir.runtime_spec,
        executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
        custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id),
    )
    log.info("running TFX node %s of pipeline %s, run %s", node_id, ir.pipeline_info.id, run.run_id)
    started = time.monotonic()
    info = component_launcher.launch()
    if info is None:
        raise NightshiftError(f"TFX node {node_id}: launcher returned no execution (run {run.run_id})")
    outputs = info.output_dict or {}
    # The closing summary: what the node produced and where (its routine INFO lines are filtered: task_log).
    produced = "; ".join(f"{key} -> {', '.join(a.uri for a in artifacts)}" for key, artifacts in sorted(outputs.items())
                         if artifacts) or "no output artifacts"
    log.info("TFX node %s finished in %.1f s (execution %s): %s", node_id, time.monotonic() - started,
             info.execution_id, produced)
    if node_id == PUSHER_ID:
        return _push_exit_code(outputs.get("pushed_model", []))
    return 0


def _push_exit_code(pushed: list) -> int:
    import json

    from nightshift.core.push_result import PUSH_RESULT_FILE, verdict_line

    result_file = Path(pushed[0].uri) / PUSH_RESULT_FILE if pushed else None
    if result_file is None or not result_file.exists():
        raise NightshiftError(f"Pusher finished without writing {PUSH_RESULT_FILE}; cannot tell what it did")
    result = json.loads(result_file.read_text())
    if not result["pushed"]:
        log.warning("%s", verdict_line(result))
        return exit_codes.NOTHING_TO_PUBLISH
    log.info("%s", verdict_line(result))
    return 0

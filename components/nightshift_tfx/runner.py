"""Compile a run's TFX pipeline to IR, and execute one IR node in this process.

This is TFX's LocalDagRunner loop (tfx/orchestration/local/local_dag_runner.py) cut at the node
boundary: the Airflow task for node N runs `python -m nightshift_tfx node --run-dir D --node N`,
so each component is its own Airflow task with its own retries, timeout and log, and all nodes of
one Airflow run share one pipeline-run id (the Airflow run id) and one MLMD store.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tfx.dsl.compiler import compiler, constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import launcher, runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from nightshift.errors import NightshiftError
from nightshift.run_config import RunConfig
from nightshift.spec import load_spec
from nightshift.topology import EXIT_NOTHING_TO_PUBLISH

log = logging.getLogger(__name__)


class AnomaliesFound(NightshiftError):
    """ExampleValidator found anomalies in the run's data."""


def compile_run(run: RunConfig) -> Path:
    """Build the pipeline for this run, substitute the run id, and write the IR next to the run config."""
    from nightshift_tfx.pipeline import create_pipeline

    spec = load_spec(run.spec_path)
    pipeline = create_pipeline(spec, run)
    from tfx.dsl.components.base import base_component

    for component in pipeline.components:
        if not isinstance(component, base_component.BaseComponent):
            continue  # the Resolver is a node, not a component: nothing to package
        # What tfx_runner._make_pipeline_proto does: package the module file, or Beam workers
        # fail with "No module named 'user_module_0'".
        component._resolve_pip_dependencies(run.pipeline_root)  # noqa: SLF001
    ir = compiler.Compiler().compile(pipeline)
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run.run_id}
    )
    Path(run.mlmd_sqlite).parent.mkdir(parents=True, exist_ok=True)
    run.ir_path.write_bytes(ir.SerializeToString())
    log.info("compiled %s for run %s: nodes %s", spec.name, run.run_id,
             [n.pipeline_node.node_info.id for n in ir.nodes])
    return run.ir_path


def run_local(run: RunConfig) -> None:
    """The same pipeline under TFX's own LocalDagRunner, in one process: the baseline for benchmarks."""
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from nightshift_tfx.pipeline import create_pipeline

    Path(run.mlmd_sqlite).parent.mkdir(parents=True, exist_ok=True)
    LocalDagRunner().run(create_pipeline(load_spec(run.spec_path), run))


def load_ir(path: Path) -> pipeline_pb2.Pipeline:
    ir = pipeline_pb2.Pipeline()
    ir.ParseFromString(path.read_bytes())
    return ir


def node_ids(ir: pipeline_pb2.Pipeline) -> list[str]:
    return [n.pipeline_node.node_info.id for n in ir.nodes]


def with_password(connection: Any, run: RunConfig) -> Any:
    """The IR's MLMD connection with the MySQL password added in this process only (the IR has none)."""
    if not run.mlmd_mysql or not connection.HasField("mysql"):
        return connection
    from nightshift.mlmd import parse_mysql_url

    filled = type(connection)()
    filled.CopyFrom(connection)
    filled.mysql.password = parse_mysql_url(run.mlmd_mysql).password
    return filled


def run_node(run: RunConfig, node_id: str) -> int:
    """Launch one node; returns a process exit code (0, or EXIT_NOTHING_TO_PUBLISH)."""
    ir = load_ir(run.ir_path)
    nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}
    if node_id not in nodes:
        log.warning("node %s is not part of this run's pipeline (publish=%s): nothing to do", node_id,
                    run.publish)
        return EXIT_NOTHING_TO_PUBLISH
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
    info = component_launcher.launch()
    if info is None:
        raise NightshiftError(f"TFX node {node_id}: launcher returned no execution (run {run.run_id})")
    outputs = info.output_dict or {}
    if node_id == "ExampleValidator":
        _raise_on_anomalies(outputs.get("anomalies", []))
        _raise_on_drift(run, info.input_dict or {}, connection)
    if node_id == "Pusher":
        return _push_exit_code(outputs.get("pushed_model", []))
    return 0


def _push_exit_code(pushed: list) -> int:
    import json

    from nightshift_tfx.s3_pusher.executor import PUSH_RESULT_FILE

    result_file = Path(pushed[0].uri) / PUSH_RESULT_FILE if pushed else None
    if result_file is None or not result_file.exists():
        raise NightshiftError(f"Pusher finished without writing {PUSH_RESULT_FILE}; cannot tell what it did")
    result = json.loads(result_file.read_text())
    if not result["pushed"]:
        for reason in result.get("reasons", []):
            log.warning("not published: %s", reason)
        return EXIT_NOTHING_TO_PUBLISH
    log.info("published %s (version %s)", result["destination"], result["version"])
    return 0


def _raise_on_drift(run: RunConfig, inputs: dict, connection) -> None:
    """Compare this run's train statistics with the latest earlier statistics in MLMD."""
    from tfx.utils import io_utils

    from nightshift_tfx.drift import drift_problems, load_split_stats

    spec = load_spec(run.spec_path)
    if not (spec.drift.categorical_linf or spec.drift.numeric_js or spec.drift.features):
        return
    current = inputs["statistics"][0]
    with metadata.Metadata(connection) as m:
        # Only StatisticsGen's outputs: Transform's pre/post-transform statistics share the type.
        node_context = m.store.get_context_by_type_and_name("node", f"{spec.name}.StatisticsGen")
        stats_type = m.store.get_artifact_type("ExampleStatistics")
        candidates = m.store.get_artifacts_by_context(node_context.id) if node_context else []
        earlier = [a for a in candidates if a.type_id == stats_type.id and a.id < current.id
                   and a.state == a.LIVE and (Path(a.uri) / "Split-train" / "FeatureStats.pb").exists()]
    if not earlier:
        log.info("drift: no earlier statistics in MLMD; nothing to compare with (first run)")
        return
    previous = max(earlier, key=lambda a: a.id)
    schema_file = Path(inputs["schema"][0].uri) / "schema.pbtxt"
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = io_utils.parse_pbtxt_file(str(schema_file), schema_pb2.Schema())
    problems = drift_problems(load_split_stats(current.uri), load_split_stats(previous.uri), schema, spec.drift)
    log.info("drift: compared statistics %s with the previous run's %s: %d drifted feature(s)", current.uri,
             previous.uri, len(problems))
    if problems:
        raise AnomaliesFound("Drift beyond the spec's bounds; training is stopped:\n"
                             + "\n".join(f"  - {p}" for p in problems))


def _raise_on_anomalies(artifacts: list) -> None:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    problems = []
    for artifact in artifacts:
        for split in ("train", "eval"):
            path = Path(artifact.uri) / f"Split-{split}" / "SchemaDiff.pb"
            if not path.exists():
                continue
            anomalies = anomalies_pb2.Anomalies()
            anomalies.ParseFromString(path.read_bytes())
            for feature, info in anomalies.anomaly_info.items():
                problems.append(f"split {split}: feature {feature!r}: {info.short_description} "
                                f"({info.description})")
    if problems:
        raise AnomaliesFound(
            "ExampleValidator found anomalies; training is stopped:\n" + "\n".join(f"  - {p}" for p in problems)
        )

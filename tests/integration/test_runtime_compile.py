"""The TFX pipeline really compiles in .venv-tfx, and its graph is the one the Airflow DAG mirrors."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nightshift.core import warm_runtime
from nightshift.core.config import PROJECT_ROOT, load_settings
from nightshift.core.run_config import RunConfig
from nightshift.core.topology import CHAMPION_ID, PUSHER_ID, TRAINING_NODES

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _registry(s3_server):
    """Compiling reads the registry pointer: the champion is the version it serves."""

PROBES = Path(__file__).parent / "compile_probes"


@pytest.fixture(scope="module")
def warm_tfx(tmp_path_factory) -> Iterator[Path]:
    """One warm TFX runtime for the module: each compile and probe is a fork of it, not a cold interpreter that
    imports TensorFlow and TFX again (about 20 s each). Stopped by its PID."""
    folder = tmp_path_factory.mktemp("warm")
    socket_path, log_path = folder / "tfx.sock", folder / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(load_settings().runtime_python), "-m", "nightshift_tfx.warm_server",
                                 "--socket", str(socket_path)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 240
    while not socket_path.exists():
        assert proc.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, "the warm TFX runtime did not bind within 240 s"
        time.sleep(0.2)
    yield socket_path
    proc.terminate()
    proc.wait(60)


def _run(socket_path: Path, module: str, argv: list[str], env: dict | None) -> tuple[int, str]:
    lines: list[str] = []
    result = warm_runtime.run(socket_path, module, argv, {**os.environ, **(env or {})}, str(PROBES),
                              lines.append)
    return result.exit_code, "\n".join(lines)


def _compile(socket_path: Path, tmp_path, publish: bool, train_steps: int = 123, spec_path=None,
             probe: str = "probe_graph", mlmd_mysql: str = "", env: dict | None = None,
             outputs: list | None = None) -> dict:
    settings = load_settings()
    spec_path = spec_path or PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml"
    run = RunConfig(pipeline="taxi", spec_path=str(spec_path),
                    run_id=f"manual__compile_{publish}", run_dir=str(tmp_path / "run"),
                    input_base=str(tmp_path / "data"), pipeline_root=str(tmp_path / "root"),
                    mlmd_sqlite=str(tmp_path / "mlmd" / "m.sqlite"), train_steps=train_steps, eval_steps=10,
                    gate_threshold=0.6, publish=publish, mlmd_mysql=mlmd_mysql)
    run.write()
    assert settings.runtime_python.exists()
    code, output = _run(socket_path, "nightshift_tfx", ["compile", "--run-dir", run.run_dir], env)
    assert code == 0, output[-6000:]
    if outputs is not None:
        outputs.append(output)
    return _probe(socket_path, probe, run.ir_path, env)


def _probe(socket_path: Path, probe: str, ir_path, env: dict | None = None) -> dict:
    code, output = _run(socket_path, probe, [str(ir_path)], env)
    assert code == 0, output[-6000:]
    line = next(ln for ln in output.splitlines() if ln.startswith("JSON:"))
    return json.loads(line[5:])


def test_the_mlmd_password_is_in_no_file_or_log_only_in_the_node_processs_memory(warm_tfx, tmp_path):
    secret = "pw-" + uuid.uuid4().hex
    logs: list[str] = []
    found = _compile(warm_tfx, tmp_path, publish=True, probe="probe_mlmd",
                     mlmd_mysql="mysql://nightshift@127.0.0.1:3306/mlmd_x",
                     env={"NIGHTSHIFT_MLMD_PASSWORD": secret}, outputs=logs)
    assert found == {"in_ir": "", "user": "nightshift", "filled": secret}
    run_dir = tmp_path / "run"
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"run_config.json", "pipeline_ir.pb"}
    assert [p for p in files if secret.encode() in p.read_bytes()] == [] and secret not in logs[0]
    assert (run_dir / "run_config.json").stat().st_mode & 0o777 == 0o600


def _spec_publishing_to(tmp_path, push_uri: str):
    source = (PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml").read_text()
    for rel in ("data_contracts/taxi/taxi.v1.json", "pipelines/taxi/model.py"):
        source = source.replace(f": {rel}", f": {PROJECT_ROOT / rel}")
    source = source.replace("uri: s3://nightshift-models/taxi\n", f"uri: {push_uri}\n")
    path = tmp_path / "pipelines" / "taxi" / "pipeline.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(source)
    return path


def test_with_nothing_served_the_graph_is_the_airflow_topology_without_a_champion(warm_tfx, tmp_path,
                                                                                   bucket):
    spec_path = _spec_publishing_to(tmp_path, f"s3://{bucket}/taxi")
    graph = _compile(warm_tfx, tmp_path, publish=True, spec_path=spec_path)
    assert graph.pop("__run_id__") == ["manual__compile_True"]
    expected = {n.node_id: sorted(u for u in n.upstream if u != CHAMPION_ID) for n in TRAINING_NODES
                if n.node_id != CHAMPION_ID}
    assert graph == expected
    assert json.loads((tmp_path / "run" / "champion.json").read_text()) == {}
    # Without beam_pipeline_args in the spec, every Beam-based component gets the default: in-process.
    beam = _probe(warm_tfx, "probe_beam", tmp_path / "run" / "pipeline_ir.pb")
    assert {"CsvExampleGen", "StatisticsGen", "Transform", "Evaluator"} <= set(beam), beam
    assert all(v == ["--direct_running_mode=in_memory"] for v in beam.values())


def test_the_served_version_is_downloaded_verified_and_is_the_evaluators_champion(warm_tfx, tmp_path, bucket, s3,
                                                                                   fake_saved_model):
    from nightshift.core.registry.store import ModelRegistry

    registry = ModelRegistry(s3, f"s3://{bucket}/taxi")
    registry.publish(fake_saved_model, {"model": "taxi", "pipeline": "taxi", "run_id": "trained_v1"})
    registry.publish(fake_saved_model, {"model": "taxi", "pipeline": "taxi", "run_id": "trained_v2"})
    registry.rollback(actor="test", reason="v2 misbehaves")  # the pointer now serves version 1
    spec_path = _spec_publishing_to(tmp_path, f"s3://{bucket}/taxi")
    graph = _compile(warm_tfx, tmp_path, publish=True, spec_path=spec_path)
    graph.pop("__run_id__")
    assert graph == {n.node_id: sorted(n.upstream) for n in TRAINING_NODES}  # the whole topology
    champion = json.loads((tmp_path / "run" / "champion.json").read_text())
    assert champion["version"] == 1 and champion["run_id"] == "trained_v1"
    served = tmp_path / "run" / "champion" / "v1" / "Format-Serving"
    assert champion["model_uri"] == str(served.parent)
    assert sorted(p.relative_to(served).as_posix() for p in served.rglob("*") if p.is_file()) == sorted(
        p.relative_to(fake_saved_model).as_posix() for p in fake_saved_model.rglob("*") if p.is_file())


def test_publish_false_compiles_without_the_pusher(warm_tfx, tmp_path):
    graph = _compile(warm_tfx, tmp_path, publish=False)
    graph.pop("__run_id__")
    assert PUSHER_ID not in graph
    assert set(graph) == {n.node_id for n in TRAINING_NODES} - {PUSHER_ID, CHAMPION_ID}


def test_the_specs_beam_pipeline_args_reach_every_beam_based_component(warm_tfx, tmp_path):
    args = ["--runner=DirectRunner", "--direct_running_mode=multi_threading", "--direct_num_workers=2"]
    source = (PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml").read_text()
    for rel in ("data_contracts/taxi/taxi.v1.json", "pipelines/taxi/model.py"):
        source = source.replace(f": {rel}", f": {PROJECT_ROOT / rel}")
    spec_path = tmp_path / "pipelines" / "taxi" / "pipeline.yaml"
    spec_path.parent.mkdir(parents=True)
    spec_path.write_text(source + "\nbeam_pipeline_args: " + json.dumps(args) + "\n")
    beam_nodes = _compile(warm_tfx, tmp_path, publish=True, spec_path=spec_path, probe="probe_beam")
    assert {"CsvExampleGen", "StatisticsGen", "Transform", "Evaluator"} <= set(beam_nodes), beam_nodes
    assert all(v == args for v in beam_nodes.values()), beam_nodes

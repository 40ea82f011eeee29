"""The TFX pipeline really compiles in .venv-tfx, and its graph is the one the Airflow DAG mirrors."""

from __future__ import annotations

import json
import subprocess

import pytest

from nightshift.config import PROJECT_ROOT, load_settings
from nightshift.run_config import RunConfig
from nightshift.topology import PUSHER_ID, TRAINING_NODES

pytestmark = pytest.mark.integration

_GRAPH = """
import json, sys
from nightshift_tfx.runner import load_ir
from pathlib import Path
ir = load_ir(Path(sys.argv[1]))
print("JSON:" + json.dumps({n.pipeline_node.node_info.id: sorted(n.pipeline_node.upstream_nodes) for n in ir.nodes}
                           | {"__run_id__": [ir.runtime_spec.pipeline_run_id.field_value.string_value]}))
"""


def _compile(tmp_path, publish: bool, train_steps: int = 123) -> dict:
    settings = load_settings()
    run = RunConfig(pipeline="taxi", spec_path=str(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml"),
                    run_id=f"manual__compile_{publish}", run_dir=str(tmp_path / "run"),
                    input_base=str(tmp_path / "data"), pipeline_root=str(tmp_path / "root"),
                    mlmd_sqlite=str(tmp_path / "mlmd" / "m.sqlite"), train_steps=train_steps, eval_steps=10,
                    min_accuracy=0.6, publish=publish)
    run.write()
    py = str(settings.runtime_python)
    proc = subprocess.run([py, "-m", "nightshift_tfx", "compile", "--run-dir", run.run_dir],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = subprocess.run([py, "-c", _GRAPH, str(run.ir_path)], capture_output=True, text=True, timeout=300)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("JSON:"))
    return json.loads(line[5:])


def test_compiled_graph_matches_the_airflow_topology_and_carries_the_run_id(tmp_path):
    graph = _compile(tmp_path, publish=True)
    assert graph.pop("__run_id__") == ["manual__compile_True"]
    assert graph == {n.node_id: sorted(n.upstream) for n in TRAINING_NODES}


def test_publish_false_compiles_without_the_pusher(tmp_path):
    graph = _compile(tmp_path, publish=False)
    graph.pop("__run_id__")
    assert PUSHER_ID not in graph
    assert set(graph) == {n.node_id for n in TRAINING_NODES} - {PUSHER_ID}

"""Every DAG file loads through Airflow's DagBag, cheaply, with the shape the platform promises."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from nightshift.core.config import PROJECT_ROOT
from nightshift.core.spec import SCORING_ENGINES
from nightshift.core.spec_loading import discover_specs, load_spec
from nightshift.core.topology import TRAINING_NODES

pytestmark = pytest.mark.integration

_PROBE = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "tags": sorted(dag.tags), "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs, "params": sorted(dag.params.keys()),
        "schedule": type(dag.timetable).__name__,
        "param_schemas": {k: dag.params.get_param(k).schema for k in dag.params.keys()},
        "param_defaults": {k: dag.params.get_param(k).value for k in dag.params.keys()},
        "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids), "owner": t.owner, "retries": t.retries,
                              "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                              "timeout": t.execution_timeout.total_seconds() if t.execution_timeout else None}
                  for t in dag.tasks},
    }
heavy = [m for m in ("tensorflow", "tfx", "great_expectations", "pandas", "tensorflow_model_analysis")
         if m in sys.modules]
out["heavy_modules"] = heavy
print("JSON:" + json.dumps(out))
"""


SPECS = [load_spec(p, PROJECT_ROOT) for p in discover_specs(PROJECT_ROOT / "pipelines")]


def _parse(test_env, **extra_env: str) -> dict:
    """The dags/ folder parsed by Airflow's own DagBag in a fresh interpreter (as the DAG processor does)."""
    env = {**os.environ, **test_env, **extra_env}
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(PROJECT_ROOT / "dags")], env=env,
                          capture_output=True, text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("JSON:")), None)
    assert line, proc.stdout + proc.stderr
    return json.loads(line[5:])


@pytest.fixture(scope="module")
def dagbag(test_env) -> dict:
    return _parse(test_env)


def test_no_import_errors_and_nothing_heavy_imported(dagbag):
    assert dagbag["errors"] == {}
    assert dagbag["heavy_modules"] == []


def test_taxi_nightly_shape(dagbag):
    dag = dagbag["dags"]["taxi_nightly"]
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    assert "nightshift" in dag["tags"]
    assert dag["params"] == ["experiment_gate_threshold", "gate_threshold", "publish", "retrain_reason", "train_steps",
                             "window_days"]
    tasks = dag["tasks"]
    # Nothing served yet: the champion's task is skipped, and the Evaluator still runs.
    assert tasks["evaluator"]["trigger_rule"] == "none_failed"
    assert {t["trigger_rule"] for name, t in tasks.items() if name != "evaluator"} == {"all_success"}
    for task in tasks.values():
        assert task["owner"] == "ml-platform" and task["retries"] >= 1 and task["timeout"]
    assert tasks["data_contract_gate"]["upstream"] == ["stage_window"]
    assert tasks["compile_tfx_pipeline"]["upstream"] == ["data_contract_gate"]
    ids = {n.node_id: n.task_id for n in TRAINING_NODES}
    for node in TRAINING_NODES:
        expected = sorted(ids[u] for u in node.upstream) or ["compile_tfx_pipeline"]
        assert tasks[node.task_id]["upstream"] == expected, node.task_id


def test_model_rollback_is_manual_with_a_form_listing_every_model(dagbag):
    dag = dagbag["dags"]["model_rollback"]
    assert dag["schedule"] == "NullTimetable" and dag["max_active_runs"] == 1
    assert dag["params"] == ["model", "reason", "version"]
    schemas = dag["param_schemas"]
    assert schemas["model"]["enum"] == sorted(s.name for s in SPECS)
    assert schemas["reason"]["minLength"] >= 3  # a rollback without a reason is refused by the form
    assert list(dag["tasks"]) == ["rollback"]


def test_every_dag_is_acyclic(dagbag):
    for dag_id, dag in dagbag["dags"].items():
        graph = {t: set(v["upstream"]) for t, v in dag["tasks"].items()}
        done: set[str] = set()
        while graph:
            ready = [t for t, ups in graph.items() if ups <= done]
            assert ready, f"{dag_id} has a cycle among {sorted(graph)}"
            for t in ready:
                done.add(t)
                del graph[t]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_spec_gets_its_nightly_and_scoring_dag(dagbag, spec):
    """Adding a spec is enough: its two DAGs exist with the spec's owner, schedule kind and task graph."""
    nightly = dagbag["dags"][spec.nightly_dag_id]
    assert {"nightshift", *spec.airflow.tags} <= set(nightly["tags"])
    assert nightly["catchup"] is False and nightly["max_active_runs"] == 1
    assert (nightly["schedule"] == "NullTimetable") == (spec.airflow.schedule is None)
    assert nightly["params"] == ["experiment_gate_threshold", "gate_threshold", "publish", "retrain_reason",
                                 "train_steps", "window_days"]
    assert nightly["param_schemas"]["gate_threshold"]["title"] == f"Minimum {spec.evaluation.gate_metric}"
    # The form can raise the spec's bound, never lower it: the schema's minimum is the bound.
    bound = spec.evaluation.thresholds[spec.evaluation.gate_metric]
    assert nightly["param_schemas"]["gate_threshold"]["minimum"] == bound
    expected = {"stage_window", "data_contract_gate", "compile_tfx_pipeline", *(n.task_id for n in TRAINING_NODES)}
    assert set(nightly["tasks"]) == expected
    for task in nightly["tasks"].values():
        assert task["owner"] == spec.airflow.owner and task["retries"] == spec.airflow.retries
        assert task["timeout"] == spec.airflow.task_timeout_minutes * 60

    scoring = dagbag["dags"][spec.scoring_dag_id]
    assert scoring["params"] == ["engine", "input_uri", "model_version"]
    assert scoring["param_schemas"]["engine"]["enum"] == list(SCORING_ENGINES)
    assert scoring["param_defaults"]["engine"] == spec.scoring.engine
    assert scoring["tasks"]["score"]["upstream"] == ["input_gate"]
    assert scoring["tasks"]["output_gate"]["upstream"] == ["score"]

    monitor = dagbag["dags"][spec.monitor_dag_id]
    # Daily from its cron and whenever a label partition's Asset is updated.
    assert monitor["schedule"] == ("AssetOrTimeSchedule" if spec.monitoring.schedule else "AssetTriggeredTimetable")
    assert monitor["params"] == ["labels_uri"]
    tasks = monitor["tasks"]
    assert tasks["check_bounds"]["upstream"] == ["realized_metrics"]
    assert tasks["check_bounds"]["trigger_rule"] == "all_done"  # a bad label feed must not hide a breach
    assert tasks["trigger_retrain"]["upstream"] == ["check_bounds"]
    assert tasks["trigger_retrain"]["trigger_rule"] == "all_success"  # skipped when nothing breached


def test_a_bad_spec_is_an_import_error_naming_file_and_key_and_the_others_still_load(test_env, tmp_path):
    pipelines = tmp_path / "pipelines"
    for spec in SPECS:
        shutil.copytree(spec.path.parent, pipelines / spec.name)
    broken = pipelines / "broken" / "pipeline.yaml"
    broken.parent.mkdir()
    broken.write_text(SPECS[0].path.read_text().replace(f"name: {SPECS[0].name}\n", "name: broken\n")
                      .replace(f"nightshift-models/{SPECS[0].push.model_name}", "nightshift-models/broken")
                      .replace("train_steps:", "train_stpes:"))
    unreadable = pipelines / "unreadable" / "pipeline.yaml"
    unreadable.parent.mkdir()
    unreadable.write_text("name: [unclosed\n")

    bag = _parse(test_env, NIGHTSHIFT_PIPELINES_DIR=str(pipelines))

    assert list(bag["errors"]) == [str(PROJECT_ROOT / "dags" / "nightshift_pipelines.py")]
    error = next(iter(bag["errors"].values()))
    assert "2 pipeline spec(s) not loaded" in error
    assert f"{broken}: unknown key(s) training.train_stpes" in error
    assert f"{unreadable}: cannot read spec" in error
    for spec in SPECS:  # every good pipeline keeps both DAGs
        assert spec.nightly_dag_id in bag["dags"] and spec.scoring_dag_id in bag["dags"]
    assert "broken_nightly" not in bag["dags"] and "nightshift_spec_errors" not in bag["dags"]
    assert bag["dags"]["model_rollback"]["param_schemas"]["model"]["enum"] == sorted(s.name for s in SPECS)


_VALIDATE = r"""
import copy, json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.param import ParamValidationError
dag = DagBag(dag_folder=sys.argv[1]).dags["taxi_nightly"]
out = {}
for name, conf in json.loads(sys.argv[2]).items():
    try:
        params = copy.deepcopy(dag.params)
        for key, value in conf.items():
            params[key] = value
        params.validate()
        out[name] = "ok"
    except ParamValidationError as exc:
        out[name] = str(exc)
print("JSON:" + json.dumps(out))
"""


def test_the_form_refuses_a_bar_below_the_spec_and_names_the_bound(test_env):
    """What Airflow checks when the form or the REST API triggers a run (a refusal is REST's 400)."""
    confs = {"below": {"gate_threshold": 0.5}, "raised": {"gate_threshold": 0.9},
             "experiment": {"experiment_gate_threshold": 0.1, "publish": False},
             "experiment_out_of_range": {"experiment_gate_threshold": 1.5}}
    proc = subprocess.run([sys.executable, "-c", _VALIDATE, str(PROJECT_ROOT / "dags"), json.dumps(confs)],
                          env={**os.environ, **test_env}, capture_output=True, text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("JSON:")), None)
    assert line, proc.stdout + proc.stderr
    out = json.loads(line[5:])
    assert "gate_threshold" in out["below"] and "0.5 is less than the minimum of 0.6" in out["below"], out
    assert out["raised"] == "ok" and out["experiment"] == "ok"
    assert "1.5 is greater than the maximum of 1.0" in out["experiment_out_of_range"], out


_PLUGIN_PROBE = r"""
import json, sys
before = set(sys.modules)
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
links = sorted(type(link).__name__ for link in plugins_manager.get_operator_extra_links())
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
bag = DagBag(dag_folder=sys.argv[1])
serialized = [t for dag in ("taxi_nightly", "taxi_monitor")
              for t in DagSerialization.to_dict(bag.dags[dag])["dag"]["tasks"]]
task_links = {t["__var"]["task_id"]: sorted(t["__var"].get("_operator_extra_links", {}))
              for t in serialized if t["__var"].get("_operator_extra_links")}
print("JSON:" + json.dumps({
    "plugins": sorted(p.name for p in plugins), "errors": errors, "links": links, "task_links": task_links,
    "top_level": sorted(m for m in set(sys.modules) - before if m in (
        "operators", "hooks", "factory", "links", "plugin", "pod_backend", "notifiers", "scoring_operators")),
    "pod_backend": "nightshift_airflow.pod_backend" in sys.modules,
}))
"""


def test_the_plugin_is_registered_by_entry_point_and_the_plugins_folder_imports_nothing(test_env):
    """Airflow imports each file of its plugins folder as a top-level module (`operators`, `hooks`...), which
    also loaded the pod backend (and its provider) although the factory imports it only for a spec that asks
    for Kubernetes; the folder is ignored and the installed plugin registers by entry point."""
    env = {**os.environ, **test_env}
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(PROJECT_ROOT / "plugins")
    proc = subprocess.run([sys.executable, "-c", _PLUGIN_PROBE, str(PROJECT_ROOT / "dags")], env=env,
                          capture_output=True, text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("JSON:")), None)
    assert line, proc.stdout + proc.stderr
    probe = json.loads(line[5:])
    assert probe["errors"] == {}
    assert "nightshift" in probe["plugins"]
    assert probe["links"] == ["DataDocsLink", "ModelReportLink", "PublishedManifestLink", "ServedManifestLink"]
    assert probe["task_links"] == {"data_contract_gate": ["Data Docs"],
                                   "pusher": ["Model report", "Published manifest"],
                                   "realized_metrics": ["Model report", "Served manifest"],
                                   "trigger_retrain": ["Triggered DAG"]}  # Airflow's own, to the retraining run
    assert probe["top_level"] == [] and probe["pod_backend"] is False

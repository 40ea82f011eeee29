"""End to end, nothing faked: SeaweedFS + Airflow (API server, scheduler, DAG processor, LocalExecutor)
run `taxi_nightly` on the real taxi data; TFX trains and evaluates in .venv-tfx; the model lands in S3.

Runs are triggered through Airflow's REST API with a params body, exactly as the UI's trigger form does.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from nightshift.control.airflow_api import AirflowApiError, AirflowClient
from nightshift.core.config import load_settings
from nightshift.core.registry.layout import pointer_key
from nightshift.core.registry.store import ModelRegistry

REFERENCE_SCORER = Path(__file__).parents[1] / "reference_scorer.py"  # serving_default, row by row

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]
DAG_ID = "taxi_nightly"
MODEL_URI = "s3://nightshift-models/taxi"


def _task_states(api: AirflowClient, run_id: str) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, run_id)}


def _failure_report(api: AirflowClient, run_id: str) -> str:
    states = _task_states(api, run_id)
    logs = ""
    for task in [t for t, s in states.items() if s == "failed"][:2]:
        try:
            logs += f"\n--- {task} ---\n{api.task_log(DAG_ID, run_id, task)[-4000:]}"
        except AirflowApiError as exc:
            logs += f"\n--- {task}: log unavailable ({exc}) ---"
    return f"states={states}{logs}"


def _bounded_params(api: AirflowClient) -> dict[str, dict]:
    """The form's fields that carry a JSON-schema bound, as the API hands them to the UI."""
    params = api.request("GET", f"/dags/{DAG_ID}/details", "DAG details")["params"]
    return {name: p["schema"] for name, p in params.items()
            if "minimum" in p.get("schema", {}) or "maximum" in p.get("schema", {})}


def test_form_refuses_every_value_out_of_bounds_naming_the_param_and_the_bound(api):
    bounded = _bounded_params(api)
    assert set(bounded) == {"window_days", "gate_threshold", "experiment_gate_threshold", "train_steps"}, bounded
    refused = 0
    for name, schema in bounded.items():
        integer = schema["type"] == "integer" or "integer" in schema["type"]
        step = 1 if integer else 0.5
        for bound, value, words in (("minimum", schema.get("minimum"), "less than the minimum of"),
                                    ("maximum", schema.get("maximum"), "greater than the maximum of")):
            if value is None:
                continue
            wrong = value - step if bound == "minimum" else value + step
            with pytest.raises(AirflowApiError) as err:
                api.trigger(DAG_ID, conf={name: wrong}, run_id=f"bad_{name}_{bound}")
            assert err.value.status == 400, (name, wrong, err.value)
            assert name in err.value.body and f"{words} {value}" in err.value.body, (name, wrong, err.value.body)
            refused += 1
    assert refused == 8  # a minimum and a maximum for each of the four
    runs = api.request("GET", f"/dags/{DAG_ID}/dagRuns", "list runs")["dag_runs"]
    assert not [r for r in runs if r["dag_run_id"].startswith("bad_")], runs


def test_form_refuses_a_bar_below_the_spec_s_bound(api):
    """Anyone with trigger rights may raise gate_threshold, never lower it below the spec's 0.6."""
    with pytest.raises(AirflowApiError) as err:
        api.trigger(DAG_ID, conf={"gate_threshold": 0.0}, run_id="lowered_bar")
    assert err.value.status == 400
    assert "gate_threshold" in err.value.body and "minimum of 0.6" in err.value.body, err.value.body
    runs = api.request("GET", f"/dags/{DAG_ID}/dagRuns", "list runs")["dag_runs"]
    assert "lowered_bar" not in {r["dag_run_id"] for r in runs}


def _majority_share(taxi_csv: Path) -> float:
    """Always answering the commoner class of the label the taxi module derives (tips > 20 % of the fare)."""
    with taxi_csv.open(newline="") as fh:
        labels = [float(r["tips"] or 0) > 0.2 * float(r["fare"] or 0) for r in csv.DictReader(fh)]
    return max(sum(labels), len(labels) - sum(labels)) / len(labels)


def test_nightly_run_publishes_a_verified_model_that_scores_raw_rows(api, taxi_published, taxi_csv, tmp_path):
    served_before, run_id = taxi_published["served_before"], taxi_published["run_id"]
    assert taxi_published["state"] == "success", _failure_report(api, run_id)

    states = _task_states(api, run_id)
    for task in ("stage_window", "data_contract_gate", "compile_tfx_pipeline", "example_gen", "statistics_gen",
                 "schema_gen", "example_validator", "data_check", "transform", "trainer", "evaluator", "pusher"):
        assert states[task] == "success", states
    # The champion is the served version: with none served yet, its task has nothing to import.
    assert states["served_model"] == ("success" if served_before else "skipped"), states

    # The component's own log lines are in its Airflow task log.
    trainer_log = api.task_log(DAG_ID, run_id, "trainer")
    assert "running TFX node Trainer" in trainer_log
    assert re.search(r"num_steps\W+900\b", trainer_log)  # the form's train_steps reached the Trainer

    from nightshift.core.s3 import client_from_env

    s3 = client_from_env()
    registry = ModelRegistry(s3, MODEL_URI)
    pointer = registry.read_pointer()
    manifest = registry.read_manifest(pointer.version)
    assert manifest.run_id == run_id and pointer.run_id == run_id
    assert registry.check_files(manifest) == []
    assert {"saved_model.pb", "variables/variables.index"} <= {f.path for f in manifest.files}
    assert manifest.extra["train_steps"] == 900
    assert manifest.data_window["rows"] == 15002 and manifest.data_window["start"] is None
    declared = json.loads((load_settings().project_root / "data_contracts/taxi/taxi.v1.json").read_text())["meta"]
    assert manifest.contract["name"] == "taxi" and manifest.contract["version"] == declared["contract_version"]
    overall = manifest.metrics["overall"]
    baseline = manifest.blessing["baseline"]
    # The trivial baseline was measured on the evaluation split (a third of the rows): close to the whole data's.
    assert abs(baseline["trivial"] - _majority_share(taxi_csv)) < 0.02, baseline
    assert baseline["model"] == overall["binary_accuracy"] and baseline["passed"] is True
    assert overall["binary_accuracy"] >= baseline["trivial"] + 0.02 and overall["auc"] >= 0.6, overall
    assert {"auc", "precision", "recall", "f1"} <= set(overall)
    assert len(manifest.metrics["slices"]["trip_start_hour"]) >= 20

    # Load it from S3 in the TFX interpreter (checksums verified on download) and score raw rows.
    settings = load_settings()
    out = subprocess.run(
        [str(settings.runtime_python), str(REFERENCE_SCORER), "--model-uri", MODEL_URI,
         "--csv", str(taxi_csv), "--limit", "200"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    scored = json.loads(out.stdout.strip().splitlines()[-1])
    assert scored["version"] == pointer.version and scored["rows"] == 200
    assert len(scored["scores"]) == 200 and all(0.0 <= s <= 1.0 for s in scored["scores"])
    assert len({round(s, 4) for s in scored["scores"]}) > 10  # a real model, not a constant


def test_every_task_records_what_it_cost(api, taxi_published):
    """Wall time, CPU seconds and peak RSS per task (XCom `cost`); a TFX task's figures include the warm
    runtime's child, which did the work, so its peak RSS is the child's, not the waiting task's."""
    run_id = taxi_published["run_id"]
    assert taxi_published["state"] == "success", _failure_report(api, run_id)
    costs = {ti["task_id"]: api.xcom(DAG_ID, run_id, ti["task_id"], "cost")
             for ti in api.task_instances(DAG_ID, run_id) if ti["state"] == "success"}
    assert set(costs) >= {"stage_window", "data_contract_gate", "compile_tfx_pipeline", "trainer", "pusher"}
    for task, cost in costs.items():
        assert cost["wall_s"] > 0 and cost["cpu_s"] >= 0 and cost["peak_rss_kb"] > 0, (task, cost)
    assert costs["stage_window"]["runtime_child"] is None
    trainer = costs["trainer"]
    child = trainer["runtime_child"]
    assert child is not None and child["exit_code"] == 0
    assert trainer["peak_rss_kb"] >= child["max_rss_kb"] and trainer["cpu_s"] >= child["cpu_s"] > 1.0
    assert trainer["wall_s"] >= child["wall_s"]
    # The task log: the node's closing summary names what it wrote, and the cost is the task's last line (only
    # Airflow's own "Post Execute" group, which pushes the XComs, comes after it).
    log = [line for line in api.task_log(DAG_ID, run_id, "trainer").splitlines() if line.strip()]
    summary = [line for line in log if "TFX node Trainer finished in" in line]
    assert len(summary) == 1 and "model -> " in summary[0] and "model_run -> " in summary[0], summary
    last = log.index("::group::Post Execute") - 1
    assert re.search(r"task cost: wall [0-9.]+ s, cpu [0-9.]+ s, peak RSS [0-9]+ MiB", log[last]), log[-6:]


def test_the_gate_and_the_pusher_link_to_the_data_docs_and_the_manifest(api, taxi_published):
    """The task pages' extra links open the run's Data Docs and its version's manifest (presigned, no key)."""
    import urllib.request

    run_id = taxi_published["run_id"]
    assert taxi_published["state"] == "success", _failure_report(api, run_id)

    def links(task: str) -> dict:
        return api.request("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task}/links",
                           "extra links")["extra_links"]

    docs_url = links("data_contract_gate")["Data Docs"]
    manifest_url = links("pusher")["Published manifest"]
    assert links("trainer") == {}
    for url in (docs_url, manifest_url):
        assert url.startswith("http://127.0.0.1:") and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
        assert "X-Amz-Expires=604800" in url  # valid 7 days, SigV4's longest
        assert os.environ["AWS_SECRET_ACCESS_KEY"] not in url
    with urllib.request.urlopen(docs_url, timeout=30) as resp:  # loopback S3
        assert resp.status == 200
        page = resp.read().decode()
    assert "<html" in page.lower() and "trip_start_timestamp" in page  # GX's rendering of this run's result
    with urllib.request.urlopen(manifest_url, timeout=30) as resp:  # loopback S3
        manifest = json.loads(resp.read())
    assert manifest["version"] == taxi_published["version"] and manifest["run_id"] == run_id


def test_a_challenger_worse_than_the_served_model_is_not_published(api, served_taxi_model, taxi_csv):
    """One training step: a model that has learnt nothing. The Evaluator compares it with the served version
    (the champion) and the pusher with the majority class; the pointer stays where it is."""
    from nightshift.core.s3 import client_from_env

    s3 = client_from_env()
    registry = ModelRegistry(s3, MODEL_URI)
    served = registry.read_pointer()
    before = s3.get_object(Bucket="nightshift-models", Key=pointer_key("taxi"))["Body"].read()
    versions_before = registry.versions()

    run_id = "e2e_worse_challenger"
    api.trigger(DAG_ID, conf={"train_steps": 1}, run_id=run_id)
    run = api.wait_for_run(DAG_ID, run_id, timeout=3000)
    assert run["state"] == "success", _failure_report(api, run_id)
    states = _task_states(api, run_id)
    assert states["served_model"] == "success" and states["pusher"] == "skipped", states
    log = api.task_log(DAG_ID, run_id, "pusher")
    champion = registry.read_manifest(served.version).metrics["overall"]["binary_accuracy"]
    compared = re.search(r"change vs\. champion in binary_accuracy \(overall\) = (-?[0-9.]+) fails threshold "
                         r"change vs\. champion >= [-0-9.e]+: challenger ([0-9.]+), champion \(the served version\) "
                         r"([0-9.]+)", log)
    assert compared, log[-3000:]
    # The champion was scored on this run's evaluation split: near its own published value, not equal to it.
    assert float(compared.group(2)) < float(compared.group(3)) and abs(float(compared.group(3)) - champion) < 0.03
    # The trivial-model gate ran on the same challenger value; one step from a prior-initialised bias lands near
    # the majority share, on either side of the margin, so the verdict is checked against the logged figures.
    gate = re.search(r"binary_accuracy = ([0-9.]+) (beats|does not beat) the majority-class baseline ([0-9.]+) "
                     r"\+ margin 0\.02", log)
    assert gate, log[-3000:]
    model, verdict, trivial = float(gate.group(1)), gate.group(2), float(gate.group(3))
    assert model == float(compared.group(2)) and abs(trivial - _majority_share(taxi_csv)) < 0.02
    assert verdict == ("beats" if model >= trivial + 0.02 else "does not beat")

    # The verdict ends the log (the skip's reason): which check held the model back, with both numbers.
    lines = log.splitlines()
    verdicts = [i for i, line in enumerate(lines) if "VERDICT: " in line]
    assert verdicts and lines[verdicts[-1]].split("VERDICT: ", 1)[1].startswith("not published: "), log[-3000:]
    assert compared.group(0) in lines[verdicts[-1]] and len(lines) - verdicts[-1] <= 15, log[-3000:]

    assert s3.get_object(Bucket="nightshift-models", Key=pointer_key("taxi"))["Body"].read() == before
    assert registry.versions() == versions_before


def test_cli_lists_published_versions_with_checksum_status(stack, api, taxi_published):
    settings_bin = Path(load_settings().project_root) / ".venv" / "bin" / "nightshift"
    out = subprocess.run([str(settings_bin), "models", "list", "taxi"], capture_output=True, text=True,
                         env={**stack.process_env()}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"s3://nightshift-models/taxi/{taxi_published['version']}/" in out.stdout
    assert "binary_accuracy=" in out.stdout and "checksums: OK" in out.stdout
    # The README shows what `make demo` ends with: this listing, line for line but for the figures.
    readme = (load_settings().project_root / "README.md").read_text()
    block = re.search(r"What you will see at the end of `make demo`:\n\n```\n(.*?)```", readme, re.S).group(1)
    shown = block.splitlines()[block.splitlines().index("== published versions:") + 1:]
    lines = out.stdout.splitlines()
    served = next(i for i, line in enumerate(lines) if line.startswith("* "))
    assert [_shape(x) for x in lines[served:served + 4] + lines[-1:]] == [_shape(x) for x in shown], out.stdout


def _shape(line: str) -> str:
    """A listing line with its figures, times and run id left out."""
    line = re.sub(r"run=\S+", "run=<run>", line)
    line = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", "<time>", line)
    return re.sub(r"\d+(\.\d+)?", "<n>", line)


def test_lineage_names_partitions_contract_run_and_tfx_artifacts(stack, api, taxi_published):
    settings_bin = Path(load_settings().project_root) / ".venv" / "bin" / "nightshift"
    version, run_id = str(taxi_published["version"]), taxi_published["run_id"]
    out = subprocess.run([str(settings_bin), "lineage", "taxi", version, "--json"], capture_output=True, text=True,
                         env={**stack.process_env()}, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    manifest = doc["manifest"]
    assert doc["dag_id"] == "taxi_nightly" and manifest["run_id"] == run_id
    assert len(doc["partitions"]) == manifest["data_window"]["partitions"] == 1423
    assert doc["partitions"][0]["uri"].startswith("s3://nightshift-raw/taxi/date=2013-01-01/")
    assert all(p["etag"] for p in doc["partitions"])
    assert manifest["contract"]["name"] == "taxi" and manifest["contract"]["sha256"]
    assert manifest["extra"]["tfx_version"] == "1.16.0" and manifest["extra"]["code_revision"]
    produced = {(a["producer"], a["type"]) for a in doc["tfx"]["artifacts"]}
    assert {("CsvExampleGen", "Examples"), ("StatisticsGen", "ExampleStatistics"), ("SchemaGen", "Schema"),
            ("Trainer", "Model"), ("Evaluator", "ModelBlessing")} <= produced
    assert doc["report_uri"].endswith(f"/taxi/{run_id}/contract_gate/data_docs.html")

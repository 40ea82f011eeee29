from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nightshift.core.config import PROJECT_ROOT
from nightshift.core.errors import SpecError
from nightshift.core.spec_loading import discover_specs, load_spec

pytestmark = pytest.mark.unit
TAXI = PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml"


def test_taxi_spec_loads_with_resolved_paths_and_thresholds():
    spec = load_spec(TAXI, PROJECT_ROOT)
    assert spec.nightly_dag_id == "taxi_nightly"
    assert spec.module_file == PROJECT_ROOT / "pipelines" / "taxi" / "model.py"
    assert spec.contract.is_file()
    assert spec.evaluation.thresholds["binary_accuracy"] == 0.6
    assert spec.evaluation.slices == ("trip_start_hour",)
    assert spec.push.uri == "s3://nightshift-models/taxi"


def test_discover_finds_taxi():
    assert TAXI in discover_specs(PROJECT_ROOT / "pipelines")


def _write_variant(tmp_path: Path, change) -> Path:
    doc = yaml.safe_load(TAXI.read_text())
    doc["contract"] = str(PROJECT_ROOT / doc["contract"])
    doc["module_file"] = str(PROJECT_ROOT / doc["module_file"])
    change(doc)
    path = tmp_path / "pipelines" / "bad" / "pipeline.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(trainig={}), "unknown key(s) trainig"),
        (lambda d: d["evaluation"].update(colour="red"), "evaluation.colour"),
        (lambda d: d.update(module_file="/nonexistent/model.py"), "module_file points to /nonexistent/model.py"),
        (lambda d: d["evaluation"]["thresholds"].update(binary_accuracy=1.5),
         "thresholds.binary_accuracy must be within [0, 1]"),
        (lambda d: d["evaluation"]["thresholds"].update(accuracyy=0.5), "accuracyy is not a known metric"),
        (lambda d: d["training"].update(train_steps=0), "training.train_steps must be an integer >= 1"),
        (lambda d: d.update(window={"mode": "trailing_days"}), "window.days must be >= 1"),
        (lambda d: d["push"].update(uri="/local/folder"), "push.uri must be an s3:// URI"),
        (lambda d: d.pop("push"), "missing required key(s) push"),
        (lambda d: d["airflow"].update(schedule="0 25 * * *"), "airflow.schedule '0 25 * * *' does not parse"),
        (lambda d: d["airflow"].update(schedule="every night"), "airflow.schedule 'every night' does not parse"),
        (lambda d: d["airflow"].update(schedule="@nightly"), "airflow.schedule '@nightly' is not an Airflow preset"),
        (lambda d: d["scoring"].update(schedule="61 * * * *"), "scoring.schedule '61 * * * *' does not parse"),
        (lambda d: d["airflow"].update(start_date="yesterday"), "airflow.start_date must be an ISO date"),
        (lambda d: d["evaluation"]["thresholds"].update(sparse_categorical_accuracy=0.5),
         "evaluation.thresholds mixes metric kinds"),
        (lambda d: d["evaluation"].update(gate_metric="auc"), "evaluation.gate_metric 'auc' must also appear"),
        (lambda d: d["evaluation"].update(champion_tolerance=True), "evaluation.champion_tolerance must be within"),
        (lambda d: d["evaluation"].update(baseline_margin=-0.1), "evaluation.baseline_margin must be within [0, 1]"),
        (lambda d: d["monitoring"].update(min_realized={"sparse_categorical_accuracy": 0.5}),
         "monitoring.min_realized must map metrics of this pipeline's kind"),
        (lambda d: d["monitoring"].update(labels_uri="/tmp/labels"), "monitoring.labels_uri must be an s3:// URI"),
        (lambda d: d["scoring"].update(input_uri="/srv/incoming/today.csv"),
         "scoring.input_uri must be an s3:// URI, got '/srv/incoming/today.csv'"),
        (lambda d: d["scoring"].update(output_uri="out/"), "scoring.output_uri must be an s3:// URI, got 'out/'"),
        (lambda d: d["monitoring"].update(retrain="yes"), "monitoring.retrain must be true or false"),
        (lambda d: d["monitoring"].update(label_rule=""), "monitoring.label_rule must be an expression"),
        (lambda d: d.setdefault("alerts", {}).update(email=["oncall at example.org"]),
         "alerts.email must be an e-mail address or a list of them"),
        (lambda d: d["scoring"].update(engine="tflite"),
         "scoring.engine must be one of ['auto', 'savedmodel', 'onnx', 'onnx_fp16', 'onnx_int8'], got 'tflite'"),
        (lambda d: d.update(forms={"onnx": "yes"}), "forms.onnx must be true or false, got 'yes'"),
        (lambda d: (d["scoring"].update(engine="onnx"), d.update(forms={"onnx": False})),
         "scoring.engine is onnx but forms.onnx is false"),
        (lambda d: (d["scoring"].update(engine="onnx_fp16"), d.update(forms={"quantised": False})),
         "scoring.engine is onnx_fp16 but forms.quantised is false"),
        (lambda d: d.update(forms={"max_abs_diff": -1}), "forms.max_abs_diff must be a number >= 0"),
        (lambda d: d.update(forms={"held_out_rows": 0}), "forms.held_out_rows must be an integer >= 1"),
    ],
)
def test_bad_specs_name_file_and_key(tmp_path, change, message):
    path = _write_variant(tmp_path, change)
    with pytest.raises(SpecError) as err:
        load_spec(path, PROJECT_ROOT)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_a_binary_spec_without_auc_gets_the_default_auc_bound_and_margin(tmp_path):
    def no_auc(doc):
        doc["evaluation"]["thresholds"] = {"binary_accuracy": 0.6}
        doc["evaluation"].pop("baseline_margin", None)

    spec = load_spec(_write_variant(tmp_path, no_auc), PROJECT_ROOT)
    assert spec.evaluation.thresholds == {"binary_accuracy": 0.6, "auc": 0.6}
    assert spec.evaluation.baseline_margin == 0.02


def test_manual_only_schedule_and_presets_load(tmp_path):
    spec = load_spec(_write_variant(tmp_path, lambda d: d["airflow"].update(schedule=None)), PROJECT_ROOT)
    assert spec.airflow.schedule is None
    spec = load_spec(_write_variant(tmp_path / "b", lambda d: d["airflow"].update(schedule="@weekly")), PROJECT_ROOT)
    assert spec.airflow.schedule == "@weekly"


def test_monitoring_defaults_come_from_the_other_sections(tmp_path):
    spec = load_spec(_write_variant(tmp_path, lambda d: d.pop("monitoring")), PROJECT_ROOT)
    assert spec.monitoring.labels_uri == "s3://nightshift-raw/taxi-labels/"
    assert spec.monitoring.label_column == "tips" and spec.monitoring.label_rule is None
    assert spec.monitoring.min_realized == {"binary_accuracy": spec.evaluation.thresholds["binary_accuracy"]}
    assert (spec.monitoring.retrain, spec.monitor_dag_id) == (True, "taxi_monitor")


def test_alert_emails_load_as_a_list(tmp_path):
    spec = load_spec(_write_variant(tmp_path, lambda d: d.setdefault("alerts", {}).update(
        email="oncall@example.org", email_conn="smtp_ops")), PROJECT_ROOT)
    assert spec.alerts.email == ("oncall@example.org",) and spec.alerts.email_conn == "smtp_ops"
    assert load_spec(_write_variant(tmp_path / "b", lambda d: None), PROJECT_ROOT).alerts.email == ()


@pytest.mark.parametrize("path", discover_specs(PROJECT_ROOT / "pipelines"), ids=lambda p: p.parent.name)
def test_every_shipped_spec_loads(path):
    spec = load_spec(path, PROJECT_ROOT)
    assert spec.name == path.parent.name, "a pipeline's folder is named after it"
    assert spec.evaluation.gate_metric in spec.evaluation.thresholds


def test_one_spec_with_a_local_scoring_input_does_not_break_the_other_pipelines_scoring(tmp_path):
    """The allowed scoring inputs are read from every spec; a spec naming a local input raised there, in every
    scoring DAG's first task, and retried. It is refused when it loads, and the others keep their inputs."""
    from nightshift.core.config import load_settings
    from nightshift.core.scoring_input import allowed_inputs

    _write_variant(tmp_path, lambda d: d["scoring"].update(input_uri="/srv/incoming/today.csv"))
    good = tmp_path / "pipelines" / "taxi" / "pipeline.yaml"
    good.parent.mkdir(parents=True)
    doc = yaml.safe_load(TAXI.read_text())
    doc["contract"], doc["module_file"] = str(PROJECT_ROOT / doc["contract"]), str(PROJECT_ROOT / doc["module_file"])
    good.write_text(yaml.safe_dump(doc))
    prefixes, _ = allowed_inputs(load_settings({"NIGHTSHIFT_PIPELINES_DIR": str(tmp_path / "pipelines")}), env={})
    assert prefixes == ["s3://nightshift-raw/"]

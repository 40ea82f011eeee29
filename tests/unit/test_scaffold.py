"""`nightshift new`: what it writes from a sample, and what it refuses (naming the file and column)."""

from __future__ import annotations

import ast
import csv
import json
import random
import re
from pathlib import Path

import pytest

from nightshift.control.scaffold import ScaffoldError, scaffold
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.spec_fields import ALLOWED
from nightshift.core.spec_loading import load_spec

pytestmark = pytest.mark.unit


def _sample(path: Path, rows: int = 120, labels=("low", "high")) -> Path:
    rng = random.Random(7)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["size", "weight", "colour", "grade"])
        for i in range(rows):
            size = rng.uniform(0, 10)
            writer.writerow([f"{size:.3f}", "" if i % 17 == 0 else rng.randint(1, 9), rng.choice(["red", "blue"]),
                             labels[int(size * len(labels) / 10.001)]])
    return path


def _rows(made) -> list[str]:
    sample = made.module.parent.parent.parent / "sample.csv"
    with sample.open() as fh:
        return [row["grade"] for row in csv.DictReader(fh)]


def _scaffold(tmp_path: Path, sample: Path, label: str = "grade", **kwargs):
    return scaffold("orders", sample, label, project_root=tmp_path, pipelines_dir=tmp_path / "pipelines", **kwargs)


def test_scaffold_writes_a_spec_that_loads_a_contract_and_a_module(tmp_path):
    made = _scaffold(tmp_path, _sample(tmp_path / "sample.csv"))
    spec = load_spec(made.spec, tmp_path)
    assert spec.name == "orders" and spec.nightly_dag_id == "orders_nightly"
    assert spec.module_file == tmp_path / "pipelines" / "orders" / "model.py"
    assert spec.contract == tmp_path / "data_contracts" / "orders" / "orders.v1.json"
    # Two classes: a binary model, gated on accuracy over the majority class and on AUC over the prior's 0.5.
    assert spec.evaluation.gate_metric == "binary_accuracy"
    assert spec.evaluation.label_key == "grade_xf" and spec.scoring.label_column == "grade"
    majority = max(sum(1 for r in _rows(made) if r == "high"), sum(1 for r in _rows(made) if r == "low")) / 120
    assert spec.evaluation.thresholds == {"binary_accuracy": int(majority * 100) / 100, "auc": 0.6}
    assert spec.evaluation.baseline_margin == 0.02
    assert spec.training.train_steps == 1000  # 120 rows: the floor
    assert spec.source.timestamp_column is None

    module = made.module.read_text()
    tree = ast.parse(module)
    assert {f.name for f in tree.body if isinstance(f, ast.FunctionDef)} >= {"preprocessing_fn", "run_fn"}
    assert "NUMERIC_FEATURES = ['size', 'weight']" in module
    assert "CATEGORICAL_FEATURES = ['colour']" in module
    assert "CLASSES = ['high', 'low']" in module and "$" not in module
    shares = ast.literal_eval(re.search(r"^CLASS_SHARES = (.*)$", module, flags=re.M).group(1))
    assert shares == [round(sum(1 for r in _rows(made) if r == c) / 120, 6) for c in ("high", "low")]
    assert 'Dense(1, activation="sigmoid"' in module and "math.log(prior / (1 - prior))" in module

    contract = json.loads(made.contract.read_text())
    label_sets = [e for e in contract["expectations"]
                  if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "grade"]
    assert len(label_sets) == 1 and label_sets[0]["kwargs"]["value_set"] == ["high", "low"]
    assert label_sets[0]["meta"]["severity"] == "error"


def test_integer_labels_keep_their_values_as_classes(tmp_path):
    made = _scaffold(tmp_path, _sample(tmp_path / "s.csv", labels=(0, 1, 2)))
    assert made.classes == ("0", "1", "2")
    spec = load_spec(made.spec, tmp_path)  # three classes: a softmax gated on sparse categorical accuracy
    assert spec.evaluation.gate_metric == "sparse_categorical_accuracy"
    assert set(spec.evaluation.thresholds) == {"sparse_categorical_accuracy"}
    assert 'activation="softmax"' in made.module.read_text()
    contract = json.loads(made.contract.read_text())
    assert [0, 1, 2] in [e["kwargs"].get("value_set") for e in contract["expectations"]]


@pytest.mark.parametrize(
    ("label", "kwargs", "message"),
    [
        ("grad", {}, "label column 'grad' not found; columns: size, weight, colour, grade"),
        ("size", {}, "label column 'size' has 120 distinct values"),
        ("grade", {"timestamp_column": "ts"}, "timestamp column 'ts' not found"),
    ],
)
def test_bad_arguments_name_the_file_and_column(tmp_path, label, kwargs, message):
    sample = _sample(tmp_path / "sample.csv")
    with pytest.raises(ScaffoldError) as err:
        _scaffold(tmp_path, sample, label, **kwargs)
    assert message in str(err.value) and str(sample) in str(err.value)
    assert not (tmp_path / "pipelines" / "orders").exists()


def test_existing_pipeline_is_not_overwritten_without_force(tmp_path):
    sample = _sample(tmp_path / "sample.csv")
    made = _scaffold(tmp_path, sample)
    made.module.write_text("# edited by hand\n")
    with pytest.raises(ScaffoldError, match="exists; pick another name or pass --force"):
        _scaffold(tmp_path, sample)
    assert made.module.read_text() == "# edited by hand\n"
    _scaffold(tmp_path, sample, force=True)
    assert "def run_fn" in made.module.read_text()


def test_the_guide_documents_every_spec_key():
    guide = (PROJECT_ROOT / "docs" / "adding-a-pipeline.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", guide, flags=re.M))
    allowed = {(f"{section}.{key}" if section else key) for section, keys in ALLOWED.items() for key in keys}
    allowed -= set(ALLOWED) - {""}  # section names themselves are not settings
    assert allowed == documented


def test_an_imbalanced_label_gets_a_margin_it_can_reach(tmp_path):
    """97 % in one class: 0.02 more accuracy is out of reach for any model, so the margin is a tenth of the
    majority's error rate; AUC >= 0.6 still gates."""
    path = tmp_path / "sample.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["amount", "grade"])
        for i in range(200):
            writer.writerow([i, "fraud" if i % 50 == 0 else "ok"])  # 4 of 200 rows: 98 % majority
    made = _scaffold(tmp_path, path)
    spec = load_spec(made.spec, tmp_path)
    assert spec.evaluation.baseline_margin == 0.002
    assert spec.training.train_steps == 1000
    assert spec.evaluation.thresholds == {"binary_accuracy": 0.98, "auc": 0.6}
    assert "CLASS_SHARES = [0.02, 0.98]" in made.module.read_text()


def test_the_drafted_contract_bounds_numbers_and_gives_the_timestamp_the_window(tmp_path):
    path = tmp_path / "sample.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ts", "amount", "flag", "grade"])
        for i in range(100):
            writer.writerow([1_700_000_000 + 3600 * i, 10 + i, i % 2, "a" if i % 3 else "b"])
    made = _scaffold(tmp_path, path, timestamp_column="ts")
    by_column: dict[str, list[dict]] = {}
    for exp in json.loads(made.contract.read_text())["expectations"]:
        by_column.setdefault(exp["kwargs"].get("column"), []).append(exp)
    ranges = {c: [(e["kwargs"]["min_value"], e["kwargs"]["max_value"], e["meta"]["severity"]) for e in exps
                  if e["type"] == "expect_column_values_to_be_between"] for c, exps in by_column.items()}
    assert ranges["ts"] == [({"$PARAMETER": "window_start_ts"}, {"$PARAMETER": "window_end_ts"}, "error"),
                            (946684800, 4102444800, "error")]
    assert ranges["amount"] == [(0.0, 109 + 49.5, "error")]  # sample range [10, 109] widened by half its span
    assert ranges["flag"] == [(0.0, 1.5, "error")]
    medians = [e for e in by_column["amount"] if e["type"] == "expect_column_median_to_be_between"]
    assert [(m["kwargs"]["min_value"], m["kwargs"]["max_value"], m["meta"]["scope"]) for m in medians] == [
        (5.95, 595.0, "window")]  # tenfold around the sample median 59.5
    assert not [e for e in by_column["flag"] if "median" in e["type"] or "mean" in e["type"]]  # a flag: 2 values
    assert not [e for e in by_column["ts"] if "median" in e["type"]]


@pytest.mark.parametrize(("rows", "steps"), [(344, 1000), (10_000, 3125), (1_000_000, 5000)])
def test_training_steps_grow_with_the_sample_within_bounds(rows, steps):
    from nightshift.control.scaffold import train_steps_for

    assert train_steps_for(rows) == steps

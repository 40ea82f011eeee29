"""`nightshift new`: what it writes from a sample, and what it refuses (naming the file and column)."""

from __future__ import annotations

import ast
import csv
import json
import random
import re
from pathlib import Path

import pytest

from nightshift.config import PROJECT_ROOT
from nightshift.scaffold import ScaffoldError, scaffold
from nightshift.spec import _ALLOWED, load_spec

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


def _scaffold(tmp_path: Path, sample: Path, label: str = "grade", **kwargs):
    return scaffold("orders", sample, label, project_root=tmp_path, pipelines_dir=tmp_path / "pipelines", **kwargs)


def test_scaffold_writes_a_spec_that_loads_a_contract_and_a_module(tmp_path):
    made = _scaffold(tmp_path, _sample(tmp_path / "sample.csv"))
    spec = load_spec(made.spec, tmp_path)
    assert spec.name == "orders" and spec.nightly_dag_id == "orders_nightly"
    assert spec.module_file == tmp_path / "pipelines" / "orders" / "model.py"
    assert spec.contract == tmp_path / "data_contracts" / "orders" / "orders.v1.json"
    assert spec.evaluation.gate_metric == "sparse_categorical_accuracy"
    assert spec.evaluation.label_key == "grade_xf" and spec.scoring.label_column == "grade"
    assert 0.4 <= spec.evaluation.thresholds["sparse_categorical_accuracy"] < 0.7  # the majority class share
    assert spec.source.timestamp_column is None

    module = made.module.read_text()
    tree = ast.parse(module)
    assert {f.name for f in tree.body if isinstance(f, ast.FunctionDef)} >= {"preprocessing_fn", "run_fn"}
    assert "NUMERIC_FEATURES = ['size', 'weight']" in module
    assert "CATEGORICAL_FEATURES = ['colour']" in module
    assert "CLASSES = ['high', 'low']" in module and "$" not in module

    contract = json.loads(made.contract.read_text())
    label_sets = [e for e in contract["expectations"]
                  if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "grade"]
    assert len(label_sets) == 1 and label_sets[0]["kwargs"]["value_set"] == ["high", "low"]
    assert label_sets[0]["meta"]["severity"] == "error"


def test_integer_labels_keep_their_values_as_classes(tmp_path):
    made = _scaffold(tmp_path, _sample(tmp_path / "s.csv", labels=(0, 1, 2)))
    assert made.classes == ("0", "1", "2")
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
    allowed = {(f"{section}.{key}" if section else key) for section, keys in _ALLOWED.items() for key in keys}
    allowed -= set(_ALLOWED) - {""}  # section names themselves are not settings
    assert allowed == documented

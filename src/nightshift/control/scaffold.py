"""`nightshift new`: a new pipeline as files (spec, drafted contract, module) that runs end to end unedited.

The module is a classifier baseline rendered from templates/classifier_model.py.tmpl with the sample's
columns: numbers are z-scored, strings one-hot through a vocabulary, the label mapped to class indices.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from nightshift.control.contract_draft import draft_contract
from nightshift.core.errors import NightshiftError
from nightshift.core.spec import DEFAULT_BASELINE_MARGIN

if TYPE_CHECKING:
    import pandas as pd

TEMPLATE = Path(__file__).parent / "templates" / "classifier_model.py.tmpl"
MAX_CLASSES = 50


def inline_text(text: str) -> str:
    """A column or file name inside a comment or docstring of generated code: one line, quotes and backslashes
    escaped, so a CSV header can never end the comment or string and run as code (`y\"\"\"+...`)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def yaml_string(text: str) -> str:
    """A YAML scalar holding exactly `text` (a JSON string is a YAML double-quoted scalar)."""
    return json.dumps(text, ensure_ascii=False)


class ScaffoldError(NightshiftError):
    """The sample or the arguments do not allow a pipeline to be scaffolded."""


@dataclass(frozen=True)
class Scaffold:
    spec: Path
    module: Path
    contract: Path
    classes: tuple[str, ...]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]


def _label_classes(df: pd.DataFrame, label: str, sample: Path) -> list[str]:
    values = df[label].dropna()
    if values.empty:
        raise ScaffoldError(f"{sample}: label column {label!r} is empty in every row")
    classes = sorted(set(_label_strings(values)))  # 0.0/1.0 written by a float column are the classes 0/1
    if not 2 <= len(classes) <= MAX_CLASSES:
        raise ScaffoldError(
            f"{sample}: label column {label!r} has {len(classes)} distinct values; `nightshift new` scaffolds "
            f"classifiers, which need 2 to {MAX_CLASSES} classes"
        )
    return classes


def _label_strings(values: pd.Series) -> pd.Series:
    if values.dtype.kind == "f" and (values == values.round()).all():
        values = values.astype("int64")
    return values.astype(str)


def class_shares(df: pd.DataFrame, label: str, classes: list[str]) -> list[float]:
    """Each class's share of the sample's labelled rows, in CLASSES order."""
    counts = _label_strings(df[label].dropna()).value_counts()
    total = float(counts.sum())
    return [float(counts.get(c, 0)) / total for c in classes]


def baseline_margin(majority_share: float) -> float:
    """The spec's default 0.02, or a tenth of the majority class's error rate when that is smaller: on data
    where 97 % of rows share a label, no model gains 2 points of accuracy, and AUC >= 0.6 does the gating."""
    return round(min(DEFAULT_BASELINE_MARGIN, (1.0 - majority_share) / 10), 3)


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def train_steps_for(rows: int) -> int:
    """About 15 passes over the training split (TFX's default split keeps 2 of 3 rows; batches of 32), within
    [1000, 5000]. Measured on ISLP's Default (10,000 rows, 3 % positive): 1000 steps stayed 0.0006 short of the
    majority-class bar, 3000 cleared it."""
    return min(5000, max(1000, math.ceil(15 * rows * 2 / 3 / 32)))


def render_spec(name: str, label: str, classes: list[str], majority_share: float, *, contract: str,
                module: str, timestamp_column: str | None, sample: str, rows: int = 0) -> str:
    # Absolute floor: the sample's majority share rounded down. What gates is the margin over the majority class
    # measured on each run's own evaluation split (nightshift.core.baseline), and for two classes AUC >= 0.6.
    bound = max(0.0, math.floor(majority_share * 100) / 100)
    margin = baseline_margin(majority_share)
    if len(classes) == 2:
        evaluation = f"""
  gate_metric: binary_accuracy    # a binary model: probability of {classes[1]!r}; AUC, precision, recall, F1 reported
  thresholds:
    binary_accuracy: {bound}   # floor: the sample's majority share
    auc: 0.6                   # a constant score has AUC 0.5
  baseline_margin: {margin}     # accuracy must beat always answering the majority class by this much"""
    else:
        evaluation = f"""
  gate_metric: sparse_categorical_accuracy
  thresholds:
    sparse_categorical_accuracy: {bound}   # floor: the sample's majority share
  baseline_margin: {margin}     # accuracy must beat always answering the majority class by this much"""
    ts = (f"\n  timestamp_column: {yaml_string(timestamp_column)}   # unix seconds: one raw partition per day"
          if timestamp_column else
          "\n  # no timestamp_column: `nightshift seed` lands a file as one partition (--date, default today)")
    origin = f"--from {inline_text(sample)} --label {inline_text(label)}"
    return f"""# Scaffolded by `nightshift new {name} {origin}`. Edit freely;
# see docs/adding-a-pipeline.md for every key. The DAG factory turns this file into {name}_nightly and
# {name}_batch_score; a mistake here shows as an import error naming this file and the key.
name: {name}
description: {yaml_string(f"{label} classifier ({len(classes)} classes), scaffolded from {sample}.")}

source:
  dataset: {name}
  uri: s3://nightshift-raw/{name}/{ts}

window:
  mode: all_until_end

contract: {contract}
module_file: {module}

training:
  train_steps: {train_steps_for(rows)}   # about 15 passes over the sample's training split
  eval_steps: 50

evaluation:
  label_key: {yaml_string(label + "_xf")}   # the class index preprocessing_fn derives from the label{evaluation}
  champion_tolerance: 0.0
  slices: []

push:
  uri: s3://nightshift-models/{name}
  model_name: {name}

scoring:
  input_uri: s3://nightshift-raw/{name}-score/
  output_uri: s3://nightshift-models/predictions/{name}
  label_column: {yaml_string(label)}
  schedule: "30 3 * * *"

airflow:
  schedule: "0 2 * * *"
  owner: data-engineering
  retries: 1
  retry_delay_minutes: 1
  task_timeout_minutes: 45
  tags: [{name}, training]
  start_date: "2024-01-01"
"""


def scaffold(name: str, sample: Path, label: str, *, project_root: Path, pipelines_dir: Path,
             contracts_dir: Path | None = None, timestamp_column: str | None = None, force: bool = False
             ) -> Scaffold:
    from nightshift.control.reading import UnreadableInput, read_table

    if not name.isidentifier() or not name.islower():
        raise ScaffoldError(f"pipeline name {name!r} must be a lower-case Python identifier (it becomes DAG ids)")
    folder = pipelines_dir / name
    contract = (contracts_dir or project_root / "data_contracts") / name / f"{name}.v1.json"
    if not force:
        existing = [p for p in (folder / "pipeline.yaml", folder / "model.py", contract) if p.exists()]
        if existing:
            raise ScaffoldError(f"{existing[0]} exists; pick another name or pass --force to overwrite")
    try:
        df = read_table(str(sample))
    except UnreadableInput as exc:
        raise ScaffoldError(str(exc)) from exc
    columns = [str(c) for c in df.columns]
    for role, column in (("label", label), ("timestamp", timestamp_column)):
        if column is not None and column not in columns:
            raise ScaffoldError(f"{sample}: {role} column {column!r} not found; columns: {', '.join(columns)}")
    classes = _label_classes(df, label, sample)
    features = [c for c in columns if c not in (label, timestamp_column) and df[c].notna().any()]
    numeric = [c for c in features if df[c].dtype.kind in "iuf"]
    categorical = [c for c in features if c not in numeric]
    if not features:
        raise ScaffoldError(f"{sample}: no feature columns besides the label {label!r}")

    folder.mkdir(parents=True, exist_ok=True)
    module = folder / "model.py"
    shares = class_shares(df, label, classes)
    module.write_text(Template(TEMPLATE.read_text()).substitute(
        name=name, sample_text=inline_text(sample.name), label_text=inline_text(label), label_literal=repr(label),
        numeric=repr(numeric), categorical=repr(categorical),
        classes=repr(classes), shares=repr([round(s, 6) for s in shares])))
    doc = draft_contract(df, name, sample.name, timestamp_column=timestamp_column)
    doc["expectations"] = [e for e in doc["expectations"]
                           if not (e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == label)]
    doc["expectations"].append({
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": label, "value_set": [int(c) for c in classes] if df[label].dtype.kind in "iuf"
                   else classes},
        "meta": {"severity": "error", "why": "the model's classes: another value has no output to learn"},
    })
    contract.parent.mkdir(parents=True, exist_ok=True)
    contract.write_text(json.dumps(doc, indent=1) + "\n")
    spec = folder / "pipeline.yaml"
    spec.write_text(render_spec(name, label, classes, max(shares), contract=_relative(contract, project_root),
                                module=_relative(module, project_root), timestamp_column=timestamp_column,
                                sample=sample.name, rows=len(df)))
    return Scaffold(spec, module, contract, tuple(classes), tuple(numeric), tuple(categorical))

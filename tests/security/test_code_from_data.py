"""Code from data: `nightshift new` writes a CSV's column and file names into a Python module and a YAML spec.
A header crafted to close a string (`y"+str(1)+"`, `y\"\"\"` and a newline) must stay data: the module's
statements are the same as for a plain header, LABEL_KEY is the header exactly, the spec reads it back
exactly. Before the fix the first header gave `LABEL_KEY = "y"+str(1)+""`, which ran in Transform and Trainer."""

from __future__ import annotations

import ast
import csv
import random
from pathlib import Path

import pytest

from nightshift.control.scaffold import scaffold
from nightshift.core.spec_loading import load_spec

pytestmark = [pytest.mark.security, pytest.mark.unit]

HOSTILE = ['y"+str(1)+"', 'y"""\nimport os; os.system("touch /tmp/pwned")  #', "y'''\\", "y: {a: 1}\n  b"]


def _sample(path: Path, label: str) -> Path:
    rng = random.Random(3)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["size", "colour", label])
        for _ in range(60):
            size = rng.uniform(0, 10)
            writer.writerow([f"{size:.2f}", rng.choice(["red", "blue"]), "hi" if size > 5 else "lo"])
    return path


def _shape(module: str) -> list[str]:
    """The module's top-level statements: their kinds and the names they bind (not the values)."""
    shape = []
    for node in ast.parse(module).body:
        names = [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
        shape.append(f"{type(node).__name__}:{getattr(node, 'name', '')}:{','.join(names)}")
    return shape


def _label_key(module: str) -> object:
    for node in ast.parse(module).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["LABEL_KEY"]:
            return ast.literal_eval(node.value)  # raises on anything but a literal
    raise AssertionError("no LABEL_KEY")


@pytest.mark.parametrize("label", HOSTILE)
def test_a_hostile_header_stays_data_in_the_module_and_the_spec(tmp_path, label):
    plain_dir, hostile_dir = tmp_path / "plain", tmp_path / "hostile"
    plain = scaffold("orders", _sample(tmp_path / "plain.csv", "grade"), "grade", project_root=plain_dir,
                     pipelines_dir=plain_dir / "pipelines")
    made = scaffold("orders", _sample(tmp_path / 'x"""y.csv', label), label, project_root=hostile_dir,
                    pipelines_dir=hostile_dir / "pipelines")
    module = made.module.read_text()
    assert _shape(module) == _shape(plain.module.read_text())
    assert _label_key(module) == label
    spec = load_spec(made.spec, hostile_dir)
    assert spec.scoring.label_column == label and spec.evaluation.label_key == label + "_xf"

"""The rooms of the code base: what the shared core may pull in, and who may import what."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nightshift.core.config import PROJECT_ROOT

pytestmark = pytest.mark.unit

FORBIDDEN_IN_CORE = ("airflow", "pandas", "great_expectations", "tensorflow", "tfx", "nightshift.control",
                     "nightshift.local", "nightshift_airflow", "nightshift_tfx")

_PROBE = """
import importlib, json, pkgutil, sys
import nightshift.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "nightshift.core.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_the_whole_shared_core_pulls_in_no_framework():
    """Every module of nightshift.core, imported in a fresh interpreter: no Airflow, pandas, GX, TF, TFX."""
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    probe = json.loads(out.splitlines()[-1])
    assert "nightshift.core.spec" in probe["imported"] and "nightshift.core.registry.store" in probe["imported"]
    leaked = sorted(m for m in probe["loaded"] if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_IN_CORE))
    assert leaked == []


def _imported_modules(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        found[str(path.relative_to(PROJECT_ROOT))] = names
    return found


def test_the_tfx_runtime_imports_only_the_shared_core_of_nightshift():
    """components/ runs in .venv-tfx, which has no Airflow, GX or pandas: control and local are off limits."""
    offenders = {path: sorted(n for n in names if n.startswith(("nightshift.control", "nightshift.local",
                                                                   "nightshift_airflow")))
                 for path, names in _imported_modules(PROJECT_ROOT / "components").items()}
    assert {p: n for p, n in offenders.items() if n} == {}


def test_test_only_code_lives_under_tests():
    assert not (PROJECT_ROOT / "src" / "nightshift" / "testing").exists()
    assert (PROJECT_ROOT / "tests" / "taxi_corpus.py").is_file()

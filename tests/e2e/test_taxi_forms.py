"""Optimised forms through the stack: the version taxi_nightly published carries its ONNX form (and the quantised
ones that met their bounds) with each form's speed, `nightshift score --engine onnx` predicts what the SavedModel
predicts, and the default engine (`auto`) scores with the form those speeds pick."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from taxi_corpus import held_out

from nightshift.core.predictions import MARKER
from nightshift.core.registry.forms import FORM_FILES, choose_engine
from nightshift.core.registry.manifest import sha256_file
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.s3 import client_from_env
from nightshift.core.serve_sync import LOCK_NAME
from nightshift.core.spec_loading import load_spec

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]
MODEL_URI = "s3://nightshift-models/taxi"
ROWS = 5000


def _cli(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nightshift.control.cli", *args], env=stack.env, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def version(taxi_published) -> int:
    assert taxi_published["state"] == "success", taxi_published
    return taxi_published["version"]


def test_the_published_version_carries_an_onnx_form_that_agrees_and_the_rule_decided_the_others(version, stack):
    from nightshift.core.config import PROJECT_ROOT

    forms_spec = load_spec(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml").forms
    manifest = ModelRegistry(client_from_env(), MODEL_URI).read_manifest(version)
    forms = manifest.extra["forms"]
    assert set(forms) == {"savedmodel", "onnx", "onnx_fp16", "onnx_int8"}
    onnx = forms["onnx"]
    assert onnx["published"] is True, onnx
    assert onnx["agreement"]["max_abs_diff"] <= forms_spec.max_abs_diff
    assert onnx["agreement"]["rows"] == forms["savedmodel"]["rows"] > 1000  # the evaluation split's rows
    assert forms["savedmodel"]["rows_per_second"] > 0 and onnx["rows_per_second"] > 0
    listed = {f.path: f for f in manifest.files}
    assert listed[FORM_FILES["onnx"]].size == onnx["size"]
    for name in ("onnx_fp16", "onnx_int8"):  # each published exactly when its figures meet the bounds
        record, agreement = forms[name], forms[name]["agreement"]
        meets = (agreement["max_abs_diff"] <= forms_spec.quantised_max_abs_diff and agreement["nan_mismatches"] == 0
                 and agreement["accuracy_delta"] >= -forms_spec.quantised_max_accuracy_drop)
        assert record["published"] is meets and (FORM_FILES[name] in listed) is meets, record
        assert bool(record.get("refused")) is not meets

    shown = _cli(stack, "models", "show", "taxi", str(version))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    forms_at = lines.index("forms:")
    assert [ln.split()[0] for ln in lines[forms_at + 1:forms_at + 5]] == ["savedmodel", "onnx", "onnx_fp16",
                                                                          "onnx_int8"]
    assert lines[forms_at + 2].endswith(f"; published; {onnx['rows_per_second']:,} rows/s")
    engine, why = choose_engine(manifest)
    assert lines[forms_at + 5] == f"scoring engine auto: {engine} ({why.removeprefix('auto: ')})"


def test_scoring_with_onnx_runtime_predicts_what_the_savedmodel_predicts(version, stack, taxi_csv, tmp_path):
    rows = tmp_path / "held_out.csv"
    rows.write_bytes(held_out(taxi_csv, ROWS))
    tables, markers = {}, {}
    for engine in ("savedmodel", "onnx", "auto"):
        out = _cli(stack, "score", "taxi", str(rows), str(tmp_path / engine), "--version", str(version),
                   *(["--engine", engine] if engine != "auto" else ["--json"]), "--run-id", f"e2e_engine_{engine}")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        tables[engine] = pq.read_table(next((tmp_path / engine).glob("*.parquet"))).sort_by("row_number")
        markers[engine] = json.loads((tmp_path / engine / MARKER).read_text())
    # --json: stdout is one object holding the committed marker; the scorer's log went to stderr.
    result = json.loads(out.stdout)
    assert (result["verdict"], result["exit_code"], result["marker"]) == ("scored", 0, markers["auto"])
    assert result["marker"]["rows"] == ROWS and "engine" in out.stderr
    assert {e: markers[e]["engine"] for e in ("savedmodel", "onnx")} == {"savedmodel": "savedmodel", "onnx": "onnx"}
    # No --engine and no scoring.engine in the spec: `auto`, which picks by the speeds the manifest records.
    chosen, _ = choose_engine(ModelRegistry(client_from_env(), MODEL_URI).read_manifest(version))
    assert markers["auto"]["engine"] == chosen
    assert tables["auto"].column("score").equals(tables[chosen].column("score"))
    assert tables["savedmodel"].num_rows == tables["onnx"].num_rows == ROWS
    same = sum(a == b for a, b in zip(tables["savedmodel"].column("predicted_label").to_pylist(),
                                      tables["onnx"].column("predicted_label").to_pylist(), strict=True))
    assert same / ROWS >= 0.999, f"{same} of {ROWS} rows predicted alike"
    gaps = [abs(a - b) for a, b in zip(tables["savedmodel"].column("score").to_pylist(),
                                       tables["onnx"].column("score").to_pylist(), strict=True)]
    assert max(gaps) <= 1e-4


def test_serve_sync_places_the_onnx_form_in_the_onnx_runtime_layout(version, stack, tmp_path):
    registry = ModelRegistry(client_from_env(), MODEL_URI)
    serving = registry.read_pointer().version
    base = tmp_path / "triton" / "taxi"
    out = _cli(stack, "serve-sync", "taxi", str(base), "--format", "onnx")
    assert out.returncode == 0, out.stderr
    assert sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()) == [
        LOCK_NAME, f"{serving}/model.onnx"]
    listed = {f.path: f for f in registry.read_manifest(serving).files}
    assert sha256_file(base / str(serving) / "model.onnx") == listed[FORM_FILES["onnx"]].sha256

"""docs/adding-a-pipeline.md, followed literally: every `.venv/bin/nightshift` command of its walk-through,
in order, with its placeholders filled in, against the session's real Airflow + SeaweedFS stack.

The test writes the sample CSV; the pipeline it scaffolds lives in the session stack's pipelines and contracts
folders (NIGHTSHIFT_PIPELINES_DIR, NIGHTSHIFT_CONTRACTS_DIR: copies of the checkout's, never the checkout) only
while the test runs (the DAG processor picks it up like any new spec) and is removed afterwards.
"""

from __future__ import annotations

import csv
import os
import random
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from nightshift.control.airflow_api import AirflowClient
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.s3 import client_from_env, list_keys

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]
GUIDE = PROJECT_ROOT / "docs" / "adding-a-pipeline.md"
NAME, LABEL = "walkthrough", "size_class"


def guide_commands() -> list[str]:
    """The nightshift commands in the guide's bash blocks, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip().startswith(".venv/bin/nightshift ")]


def _write_sample(path: Path, rows: int = 400) -> Path:
    """Parcels: the size class follows length and width (with noise); some cells are empty."""
    rng = random.Random(11)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["length_cm", "width_cm", "material", LABEL])
        for i in range(rows):
            length, width = rng.uniform(5, 100), rng.uniform(5, 60)
            label = "large" if length + width + rng.gauss(0, 8) > 85 else "small"
            writer.writerow([f"{length:.1f}", "" if i % 23 == 0 else f"{width:.1f}",
                             rng.choice(["cardboard", "plastic", "wood"]), label])
    return path


def _remove_pipeline_files(env: dict[str, str]) -> None:
    shutil.rmtree(Path(env["NIGHTSHIFT_PIPELINES_DIR"]) / NAME, ignore_errors=True)
    shutil.rmtree(Path(env["NIGHTSHIFT_CONTRACTS_DIR"]) / NAME, ignore_errors=True)


@pytest.fixture()
def scaffolded_files(stack):
    # Both folders are this session's copies, inside its fresh var dir: whatever is removed there, the session
    # wrote (a half-run walk-through of this session at most), never the checkout's or another stack's.
    var = Path(stack.env["NIGHTSHIFT_VAR_DIR"])
    for name in ("NIGHTSHIFT_PIPELINES_DIR", "NIGHTSHIFT_CONTRACTS_DIR"):
        assert var in Path(stack.env[name]).parents, (name, stack.env[name], var)
    _remove_pipeline_files(stack.env)
    yield
    _remove_pipeline_files(stack.env)


def test_the_guide_has_the_walkthrough_steps():
    commands = [c.split()[1] for c in guide_commands()]
    assert commands == ["new", "validate", "seed", "trigger", "models", "trigger"]


def test_following_the_guide_publishes_a_model_and_scores_with_it(stack, tmp_path, scaffolded_files):
    sample = _write_sample(tmp_path / "parcels.csv")
    env = {**os.environ, **stack.env}
    for command in guide_commands():
        line = (command.replace("<name>", NAME).replace("<label>", LABEL).replace("<sample.csv>", str(sample)))
        if f"trigger {NAME}_nightly --unpause" in line:
            _check_paused_dag_is_not_unpaused_silently(line.replace(" --unpause", ""), env)
        proc = subprocess.run(shlex.split(line), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                              timeout=3000, check=False)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        _check_output(line, proc.stdout.splitlines(), sample, stack.env)

    s3 = client_from_env()
    registry = ModelRegistry(s3, f"s3://nightshift-models/{NAME}")
    pointer = registry.read_pointer()
    manifest = registry.read_manifest(pointer.version)
    assert pointer.version == 1 and registry.check_files(manifest) == []
    # Two classes: the scaffold wrote a binary model, which beat always answering the sample's commoner class.
    overall = manifest.metrics["overall"]
    with sample.open() as fh:
        labels = [row[LABEL] for row in csv.DictReader(fh)]
    majority = max(labels.count("large"), labels.count("small")) / len(labels)
    baseline = manifest.blessing["baseline"]
    assert baseline["metric"] == "binary_accuracy" and baseline["passed"] is True, baseline
    assert abs(baseline["trivial"] - majority) < 0.1, (baseline, majority)  # a third of 400 rows evaluates
    assert overall["binary_accuracy"] >= baseline["trivial"] + 0.02 and overall["auc"] >= 0.6, overall
    assert {"precision", "recall", "f1"} <= set(overall), overall
    markers = [k for k in list_keys(s3, "nightshift-models", f"predictions/{NAME}/") if k.endswith("_SUCCESS")]
    assert len(markers) == 1, markers


def _check_output(line: str, out: list[str], sample: Path, env: dict[str, str]) -> None:
    """What each step of the guide prints, as the guide describes it."""
    step = line.split()[1]
    if step == "new":  # the files, then what it found: two classes, two numeric and one string feature
        pipelines, contracts = env["NIGHTSHIFT_PIPELINES_DIR"], env["NIGHTSHIFT_CONTRACTS_DIR"]
        assert out[:4] == [f"wrote {pipelines}/{NAME}/pipeline.yaml", f"wrote {pipelines}/{NAME}/model.py",
                           f"wrote {contracts}/{NAME}/{NAME}.v1.json",
                           f"label '{LABEL}': 2 classes ['large', 'small']; 2 numeric and 1 string feature(s)"], out
    elif step == "validate":
        assert re.fullmatch(rf"{re.escape(str(sample))}: 400 rows meets contract {NAME}\.v1\.json \(.*\): "
                            r"0 failure\(s\), 0 warning\(s\)", out[-1]), out
    elif step == "seed":
        assert out[-1].startswith(f"seeded 400 rows from {sample} into s3://nightshift-raw/{NAME}/ as one partition "
                                  "(the spec names no source.timestamp_column)"), out
    elif step == "trigger":
        assert re.fullmatch(rf"{line.split()[2]} run \S+: success", out[-1]), out
    elif step == "models":
        assert out[0].startswith(f"* s3://nightshift-models/{NAME}/1/"), out
        assert "binary_accuracy=" in out[1] and out[3] == "    checksums: OK", out


def _check_paused_dag_is_not_unpaused_silently(line: str, env: dict) -> None:
    """Without --unpause, a paused scheduled DAG is left paused and nothing runs (no surprise training run)."""
    proc = subprocess.run(shlex.split(line), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 7, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert f"{NAME}_nightly is paused" in proc.stderr and "--unpause" in proc.stderr, proc.stderr
    api = AirflowClient.from_env(env)
    dag = api.request("GET", f"/dags/{NAME}_nightly", "get DAG")
    assert dag["is_paused"] is True
    runs = api.request("GET", f"/dags/{NAME}_nightly/dagRuns", "list runs")["dag_runs"]
    assert runs == []

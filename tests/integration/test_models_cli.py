"""`nightshift models show / prune / report` as a user types them, against the real SeaweedFS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from nightshift.control.s3_roles import ROLES, key_vars
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.registry.store import ModelRegistry

pytestmark = pytest.mark.integration


@pytest.fixture()
def cli(s3, bucket, tmp_path):
    """The taxi spec published to a bucket of the test's own, and a way to run the command line on it."""
    pipelines = tmp_path / "pipelines"
    shutil.copytree(PROJECT_ROOT / "pipelines" / "taxi", pipelines / "taxi")
    spec = pipelines / "taxi" / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("uri: s3://nightshift-models/taxi", f"uri: s3://{bucket}/taxi"))
    # The roles may touch only the platform's buckets: this test's bucket is the admin's. (Empty, not absent:
    # the CLI fills unset variables from the checkout's .env.)
    env = {**os.environ, **{n: "" for r in ROLES for n in key_vars(r)}}
    env["NIGHTSHIFT_PIPELINES_DIR"] = str(pipelines)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nightshift.control.cli", *args], env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    return run


def _publish(s3, bucket, model, runs=("run-1", "run-2", "run-3")) -> ModelRegistry:
    registry = ModelRegistry(s3, f"s3://{bucket}/taxi")
    for run in runs:
        registry.publish(model, {"model": "taxi", "pipeline": "taxi", "run_id": run,
                                 "metrics": {"overall": {"binary_accuracy": 0.8, "auc": 0.9}}})
    return registry


def test_models_show_prints_the_manifest_and_names_a_tampered_file(cli, s3, bucket, fake_saved_model):
    _publish(s3, bucket, fake_saved_model)
    out = cli("models", "show", "taxi", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("taxi v2  published ") and "run=run-2" in out.stdout
    assert out.stdout.splitlines()[-2:] == ["serving: no", "checksums: OK"]
    out = cli("models", "show", "taxi", "2", "--json")
    doc = json.loads(out.stdout)  # one JSON document, nothing else on stdout
    assert (doc["manifest"]["version"], doc["manifest"]["run_id"]) == (2, "run-2")
    assert (doc["serving"], doc["checksums"], doc["problems"]) == (False, "OK", [])
    s3.put_object(Bucket=bucket, Key="taxi/1/variables/variables.index", Body=b"tampered")
    out = cli("models", "show", "taxi", "1")
    assert out.returncode == 1 and "checksums: MISMATCH" in out.stdout
    assert f"s3://{bucket}/taxi/1/variables/variables.index" in out.stdout


def test_models_list_shows_which_version_fails_its_checksums_and_exits_1(cli, s3, bucket, fake_saved_model):
    _publish(s3, bucket, fake_saved_model)
    s3.put_object(Bucket=bucket, Key="taxi/2/saved_model.pb", Body=b"tampered")
    out = cli("models", "list", "taxi")
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    checks = [line.strip() for line in lines if line.strip().startswith("checksums: ")]
    assert checks == ["checksums: OK", "checksums: MISMATCH", "checksums: OK"], out.stdout  # v1, v2, v3
    named = lines[lines.index("    checksums: MISMATCH") + 1]
    assert f"s3://{bucket}/taxi/2/saved_model.pb" in named, out.stdout
    listed = json.loads(cli("models", "list", "taxi", "--json").stdout)
    assert [(v["version"], bool(v["problems"])) for v in listed] == [(1, False), (2, True), (3, False)]


def test_models_prune_from_the_command_line_keeps_the_serving_version(cli, s3, bucket, fake_saved_model):
    registry = _publish(s3, bucket, fake_saved_model)
    registry.rollback(actor="test", reason="r", to=1)
    out = cli("models", "prune", "taxi", "--keep", "1", "--dry-run")
    assert (out.returncode, out.stdout.strip()) == (0, "taxi: would remove v2"), out.stderr
    assert registry.versions() == [1, 2, 3]
    out = cli("models", "prune", "taxi", "--keep", "1")
    assert (out.returncode, out.stdout.strip()) == (0, "taxi: removed v2"), out.stderr
    assert registry.versions() == [1, 3] and registry.read_pointer().version == 1


def test_models_report_writes_the_html_locally_and_beside_the_versions(cli, s3, bucket, fake_saved_model,
                                                                     tmp_path):
    _publish(s3, bucket, fake_saved_model, runs=("run-1", "run-2"))
    out = cli("models", "report", "taxi", "--output", str(tmp_path / "report.html"))
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "report.html").read_text()
    assert "run-1" in html and "run-2" in html and "<svg" in html
    stored = out.stdout.strip().rsplit(" and ", 1)[1]
    assert stored.startswith(f"s3://{bucket}/taxi/")
    key = stored[len(f"s3://{bucket}/"):]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode() == html

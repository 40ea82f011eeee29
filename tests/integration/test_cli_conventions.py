"""The command line's conventions, as a shell sees them: one exit-code table (nightshift.core.exit_codes), one line
on stderr naming what to check (never a traceback), quiet on a closed pipe, `--version`, and `--json` on the
commands that read, valid JSON also when there is nothing to show."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nightshift.control.s3_roles import ROLES, key_vars
from nightshift.core import exit_codes
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.registry.store import ModelRegistry

pytestmark = pytest.mark.integration
EXE = str(Path(sys.executable).parent / "nightshift")


@pytest.fixture()
def shell(s3, bucket, tmp_path):
    """`nightshift ...` in a shell, the taxi spec pointed at a bucket of this test's own (signed as the admin:
    the roles may touch only the platform's buckets; empty, not absent, so .env does not fill them)."""
    pipelines = tmp_path / "pipelines"
    shutil.copytree(PROJECT_ROOT / "pipelines" / "taxi", pipelines / "taxi")
    spec = pipelines / "taxi" / "pipeline.yaml"
    text = spec.read_text().replace("uri: s3://nightshift-models/taxi", f"uri: s3://{bucket}/taxi")
    spec.write_text(re.sub(r"output_uri: s3://\S+", f"output_uri: s3://{bucket}/predictions/taxi", text))
    base = {**os.environ, **{n: "" for r in ROLES for n in key_vars(r)}, "NIGHTSHIFT_PIPELINES_DIR": str(pipelines)}

    def run(*args: str, env: dict[str, str] | None = None, **streams) -> subprocess.CompletedProcess:
        streams = streams or {"capture_output": True}
        return subprocess.run([EXE, *args], env={**base, **(env or {})}, text=True, timeout=300, check=False,
                              **streams)

    return run


def _publish(s3, bucket: str, model: Path) -> None:
    ModelRegistry(s3, f"s3://{bucket}/taxi").publish(model, {"model": "taxi", "pipeline": "taxi", "run_id": "run-1"})


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_version_and_usage(shell):
    out = shell("--version")
    assert out.returncode == exit_codes.OK and re.fullmatch(r"nightshift \d+\.\d+\.\d+\n", out.stdout), out
    out = shell("models", "frobnicate")
    assert out.returncode == exit_codes.USAGE and out.stderr.startswith("usage: nightshift"), out.stderr


def test_an_unreachable_store_is_one_line_naming_the_endpoint_and_the_setting(shell):
    out = shell("models", "list", "taxi", env={"NIGHTSHIFT_S3_ENDPOINT": "http://127.0.0.1:9"})
    assert out.returncode == exit_codes.UNREACHABLE, out.stderr[-2000:]
    line = _one_line(out.stderr)
    assert "cannot reach S3 at http://127.0.0.1:9" in line and "NIGHTSHIFT_S3_ENDPOINT" in line


def test_an_unreachable_airflow_is_one_line_naming_the_api_and_the_setting(shell):
    out = shell("trigger", "taxi_nightly", env={"AIRFLOW__API__PORT": "9"})
    assert out.returncode == exit_codes.UNREACHABLE, out.stderr[-2000:]
    line = _one_line(out.stderr)
    assert "cannot reach Airflow's API at http://127.0.0.1:9" in line and "AIRFLOW__API__PORT" in line


def test_a_version_that_does_not_exist_is_refused(shell, s3, bucket, fake_saved_model):
    _publish(s3, bucket, fake_saved_model)
    out = shell("models", "show", "taxi", "999")
    assert out.returncode == exit_codes.REFUSED, out.stderr[-2000:]
    assert "999" in _one_line(out.stderr)


def test_a_closed_pipe_ends_the_command_quietly(shell):
    """`nightshift models list taxi | head -3` ended in a BrokenPipeError traceback: the reader is gone before
    anything is written here, so every write meets a closed pipe."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        out = shell("--help", stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert out.returncode == -signal.SIGPIPE and out.stderr == "", out.stderr


def test_json_reads_are_single_documents_also_when_empty(shell, s3, bucket, fake_saved_model, taxi_csv, tmp_path):
    out = shell("models", "list", "taxi", "--json")
    assert (out.returncode, json.loads(out.stdout)) == (exit_codes.OK, [])
    out = shell("monitor", "taxi", "--json")
    assert (out.returncode, json.loads(out.stdout)) == (exit_codes.OK, [])

    _publish(s3, bucket, fake_saved_model)
    listed = json.loads(shell("models", "list", "taxi", "--json").stdout)
    assert [(v["version"], v["serving"], v["problems"]) for v in listed] == [(1, True, [])]
    shown = shell("models", "show", "taxi", "1", "--json")
    doc = json.loads(shown.stdout)
    assert shown.returncode == 0 and (doc["manifest"]["version"], doc["serving"], doc["checksums"]) == (1, True, "OK")

    sample = tmp_path / "sample.csv"
    sample.write_text("".join(taxi_csv.read_text().splitlines(keepends=True)[:501]))
    out = shell("validate", "taxi", str(sample), "--json")
    doc = json.loads(out.stdout)
    assert out.returncode == (exit_codes.OK if doc["verdict"] == "meets" else exit_codes.CHECK_FAILED)
    assert doc["rows"] == 500 and doc["contract"] == "taxi.v1.json" and isinstance(doc["failures"], list)
    (tmp_path / "empty.csv").write_text("")
    out = shell("validate", "taxi", str(tmp_path / "empty.csv"), "--json")
    assert out.returncode == exit_codes.DATA_REJECTED and json.loads(out.stdout)["verdict"] == "unreadable"

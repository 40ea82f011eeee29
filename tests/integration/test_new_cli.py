"""`nightshift new` as a person runs it in a shell: what it prints, its exit codes, and a label it refuses.
Everything it writes goes under the test's own folder (NIGHTSHIFT_HOME, NIGHTSHIFT_PIPELINES_DIR)."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from nightshift.core import exit_codes

pytestmark = pytest.mark.integration


def _sample(path: Path) -> Path:
    """Two classes of `grade`, numbers and strings, and a `plant` column with one value."""
    rng = random.Random(7)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["size", "weight", "colour", "grade", "plant"])
        for _ in range(120):
            size = rng.uniform(0, 10)
            writer.writerow([f"{size:.3f}", rng.randint(1, 9), rng.choice(["red", "blue"]),
                             "high" if size >= 5 else "low", "north"])
    return path


def _new(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NIGHTSHIFT_HOME": str(home), "NIGHTSHIFT_PIPELINES_DIR": str(home / "pipelines"),
           "NIGHTSHIFT_VAR_DIR": str(home / "var")}  # no local store runs there: nothing to tell it
    return subprocess.run([sys.executable, "-m", "nightshift.control.cli", "new", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_new_prints_the_files_the_classes_and_the_next_command(tmp_path):
    sample = _sample(tmp_path / "sample.csv")
    out = _new(tmp_path, "orders", "--from", str(sample), "--label", "grade")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"wrote {tmp_path}/pipelines/orders/pipeline.yaml",
        f"wrote {tmp_path}/pipelines/orders/model.py",
        f"wrote {tmp_path}/data_contracts/orders/orders.v1.json",
        "label 'grade': 2 classes ['high', 'low']; 2 numeric and 2 string feature(s)",
        f"next: nightshift seed orders --file {sample}   then trigger orders_nightly",
    ]
    assert out.stderr == ""


def test_new_refuses_a_label_with_one_value_naming_the_file_and_column(tmp_path):
    sample = _sample(tmp_path / "sample.csv")
    out = _new(tmp_path, "plants", "--from", str(sample), "--label", "plant")
    assert out.returncode == exit_codes.REFUSED, (out.returncode, out.stderr)
    assert out.stdout == ""
    assert out.stderr.strip() == (f"nightshift: error: {sample}: label column 'plant' has 1 distinct values; "
                                  "`nightshift new` scaffolds classifiers, which need 2 to 50 classes")
    assert not (tmp_path / "pipelines" / "plants").exists() and not (tmp_path / "data_contracts").exists()

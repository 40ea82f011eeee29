"""The monitor against a real S3 server: committed predictions, labels landed later, the history it writes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from nightshift.control import monitoring
from nightshift.control.model_report import render
from nightshift.control.monitoring import RecordNotOwned, history_uri, monitor, read_history, retrain_reason
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.predictions import commit_output
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.s3 import S3Uri, ensure_bucket
from nightshift.core.spec_loading import load_spec

pytestmark = pytest.mark.integration
DAY = "date=2030-05-01"


@pytest.fixture()
def spec(s3):
    """The taxi spec, with every location it writes or reads made unique to this test."""
    tag = uuid.uuid4().hex[:8]
    base = load_spec(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml", PROJECT_ROOT)
    for bucket in ("nightshift-raw", "nightshift-models"):
        ensure_bucket(s3, bucket)
    return dataclasses.replace(
        base, name=f"mon{tag}", reports_uri=f"s3://nightshift-models/it-reports-{tag}",
        scoring=dataclasses.replace(base.scoring, output_uri=f"s3://nightshift-models/predictions/it-{tag}"),
        monitoring=dataclasses.replace(base.monitoring, labels_uri=f"s3://nightshift-raw/it-{tag}-labels/"))


def _trips(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fare = rng.uniform(3, 40, n).round(2)
    return pd.DataFrame({"trip_start_hour": rng.integers(0, 24, n), "fare": fare,
                         "payment_type": rng.choice(["Cash", "Credit Card"], n),
                         "tips": np.where(rng.random(n) < 0.35, fare * 0.3, fare * 0.05).round(2)})


def _put_csv(s3, uri: str, frame: pd.DataFrame) -> str:
    target = S3Uri.parse(uri)
    return s3.put_object(Bucket=target.bucket, Key=target.key, Body=frame.to_csv(index=False).encode())["ETag"]


def _score(s3, spec, trips: pd.DataFrame, tmp_path: Path, *, version: int, partition: str = DAY) -> pd.DataFrame:
    """What the batch scorer commits: the input without its label, and one prediction per row."""
    source = f"s3://nightshift-raw/{spec.name}-score/{partition}/part-00000.csv"
    etag = _put_csv(s3, source, trips.drop(columns=["tips"]))
    rng = np.random.default_rng(version)
    truth = (trips["tips"] > 0.2 * trips["fare"]).to_numpy()
    score = np.clip(np.where(rng.random(len(trips)) < 0.85, truth, ~truth) * 0.5 + rng.uniform(0, 0.5, len(trips)),
                    0, 1).astype("float32")
    predictions = pd.DataFrame({"row_number": np.arange(len(trips)), "score": score,
                                "predicted_label": (score >= 0.5).astype("int8"), "model_version": version,
                                "run_id": "it"})
    local = tmp_path / f"{partition}-v{version}.parquet"
    predictions.to_parquet(local)
    commit_output(s3, local, f"{spec.scoring.output_uri}/{partition}/", rows=len(trips), model_version=version,
                  run_id=f"score-{partition}", model_uri=spec.push.uri, source=source, source_fingerprint=etag)
    return predictions


def test_realized_accuracy_is_the_share_of_labelled_predictions_that_were_right(s3, spec, tmp_path, monkeypatch):
    trips = _trips(600, seed=1)
    predictions = _score(s3, spec, trips, tmp_path, version=3)
    # Labels for 500 of the 600 trips land later, shuffled, with the label column added.
    labelled = trips.iloc[:500].sample(frac=1.0, random_state=4)
    _put_csv(s3, f"{spec.monitoring.labels_uri}{DAY}/labels.csv", labelled)

    [report] = monitor(s3, spec, record=True)
    truth = (trips["tips"] > 0.2 * trips["fare"]).to_numpy()[:500]
    expected = float((predictions["predicted_label"].to_numpy()[:500] == truth).mean())
    assert (report.partition, report.model_version, report.rows_scored, report.rows_labelled) == (DAY, 3, 600, 500)
    assert report.metrics["binary_accuracy"] == pytest.approx(expected)
    assert report.metrics["majority_baseline"] == pytest.approx(max(truth.mean(), 1 - truth.mean()))
    assert report.breaches == [] and report.problem == ""
    [record] = read_history(s3, spec)
    assert record["metrics"]["binary_accuracy"] == pytest.approx(expected) and record["rows_labelled"] == 500
    assert retrain_reason(spec, [report], served_version=3) is None

    # Nothing new: the record is reused, not recomputed (same computed_at), and not written again.
    writes = []
    with monkeypatch.context() as patch:
        patch.setattr(monitoring, "write_record", lambda *args: writes.append(args))
        [again] = monitor(s3, spec, record=True)
    assert (again.computed_at, again.rows_labelled, len(writes)) == (record["computed_at"], 500, 0)

    # A label file given for every partition that labels none of these rows leaves the record alone.
    other = f"s3://nightshift-raw/{spec.name}-other/labels.csv"
    _put_csv(s3, other, _trips(50, seed=11).assign(fare=lambda f: f["fare"] + 500))
    [override] = monitor(s3, spec, labels_uri=other, record=True)
    assert override.rows_labelled == 0
    assert read_history(s3, spec)[0]["computed_at"] == record["computed_at"]

    # The model report shows the realized history: a chart point and a table row for the partition.
    html = render(spec, ModelRegistry(s3, f"s3://nightshift-models/{spec.name}"))
    assert f"realized binary_accuracy 2030-05-01: {expected:.4f}" in html
    assert re.search(rf"<td>{DAY}</td>\s*<td>v3</td><td>600</td><td>500</td>\s*<td>{expected:.4f}</td>", html)


def test_flipped_labels_breach_and_only_the_served_version_asks_for_a_retrain(s3, spec, tmp_path):
    trips = _trips(400, seed=2)
    _score(s3, spec, trips, tmp_path, version=5)
    flipped = trips.assign(tips=np.where(trips["tips"] > 0.2 * trips["fare"], 0.0, trips["fare"]))
    _put_csv(s3, f"{spec.monitoring.labels_uri}{DAY}/labels.csv", flipped)
    [report] = monitor(s3, spec)
    accuracy = report.metrics["binary_accuracy"]
    assert accuracy < 0.7
    assert report.breaches == [f"realized binary_accuracy {accuracy:.4f} < 0.7 on 400 labelled rows"]
    assert retrain_reason(spec, [report], served_version=5) == \
        f"{spec.name} v5 on {DAY}: realized binary_accuracy {accuracy:.4f} < 0.7 on 400 labelled rows"
    assert retrain_reason(spec, [report], served_version=6) is None  # already replaced
    assert read_history(s3, spec) == []  # without record, nothing is written


def test_an_input_replaced_after_scoring_is_not_matched_to_labels(s3, spec, tmp_path):
    trips = _trips(200, seed=3)
    _score(s3, spec, trips, tmp_path, version=1)
    _put_csv(s3, f"{spec.monitoring.labels_uri}{DAY}/labels.csv", trips)
    replaced = _trips(200, seed=9).drop(columns="tips")
    _put_csv(s3, f"s3://nightshift-raw/{spec.name}-score/{DAY}/part-00000.csv", replaced)
    [report] = monitor(s3, spec)
    assert report.rows_labelled == 0 and report.metrics == {}
    assert f"s3://nightshift-raw/{spec.name}-score/{DAY}/part-00000.csv: changed since" in report.problem
    # The line `nightshift monitor` prints for it: no metric, and the ERROR verdict naming the file.
    assert report.line() == f"{DAY} v1 scored=200 labelled=0 - skew={report.skew} ERROR: {report.problem}"


def test_a_foreign_object_at_a_record_key_is_left_alone(s3, spec, tmp_path):
    trips = _trips(150, seed=4)
    _score(s3, spec, trips, tmp_path, version=2)
    _put_csv(s3, f"{spec.monitoring.labels_uri}{DAY}/labels.csv", trips)
    foreign = S3Uri.parse(history_uri(spec, DAY, 2))
    s3.put_object(Bucket=foreign.bucket, Key=foreign.key, Body=b'{"someone": "else"}')
    with pytest.raises(RecordNotOwned, match=f"{foreign}: not a nightshift monitoring record"):
        monitor(s3, spec, record=True)
    assert s3.get_object(Bucket=foreign.bucket, Key=foreign.key)["Body"].read() == b'{"someone": "else"}'


def _write_spec(spec, pipelines: Path) -> None:
    """The test's spec as a file the command line finds (NIGHTSHIFT_PIPELINES_DIR)."""
    doc = yaml.safe_load((PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml").read_text())
    doc["name"], doc["reports_uri"] = spec.name, spec.reports_uri
    doc["scoring"]["output_uri"], doc["monitoring"]["labels_uri"] = spec.scoring.output_uri, spec.monitoring.labels_uri
    (pipelines / spec.name).mkdir(parents=True)
    (pipelines / spec.name / "pipeline.yaml").write_text(yaml.safe_dump(doc))


def test_the_cli_prints_a_line_per_partition_and_exits_1_on_a_breach(s3, spec, tmp_path, test_env):
    good, bad = _trips(300, seed=5), _trips(300, seed=6)
    bad["fare"] += 100.0  # no trip of day 2 equals one of day 1
    _score(s3, spec, good, tmp_path, version=4, partition="date=2030-05-01")
    _score(s3, spec, bad, tmp_path, version=4, partition="date=2030-05-02")
    _put_csv(s3, f"{spec.monitoring.labels_uri}date=2030-05-01/labels.csv", good)
    flipped = bad.assign(tips=np.where(bad["tips"] > 0.2 * bad["fare"], 0.0, bad["fare"]))
    _put_csv(s3, f"{spec.monitoring.labels_uri}date=2030-05-02/labels.csv", flipped)

    _write_spec(spec, tmp_path / "pipelines")
    env = {**os.environ, **test_env, "NIGHTSHIFT_PIPELINES_DIR": str(tmp_path / "pipelines")}
    out = subprocess.run([sys.executable, "-m", "nightshift.control.cli", "monitor", spec.name], env=env,
                         capture_output=True, text=True, timeout=120)
    lines = out.stdout.splitlines()
    assert out.returncode == 1, out.stdout + out.stderr
    assert len(lines) == 2
    assert lines[0].startswith("date=2030-05-01 v4 scored=300 labelled=300 binary_accuracy=")
    assert lines[0].endswith(" ok")
    assert lines[1].startswith("date=2030-05-02 v4 scored=300 labelled=300 ")
    assert "BREACH: realized binary_accuracy" in lines[1]

    # Good labels only: exit 0.
    out = subprocess.run([sys.executable, "-m", "nightshift.control.cli", "monitor", spec.name, "--labels",
                          f"{spec.monitoring.labels_uri}date=2030-05-01/labels.csv"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "labelled=300 " in lines[0] and lines[0].endswith(" ok")
    assert " labelled=0 " in lines[1] and lines[1].endswith(" ok")  # day 1's labels match none of day 2's rows


def test_the_cli_judges_labels_from_a_local_file_and_a_local_folder(s3, spec, tmp_path, test_env):
    """`monitor --labels` took only s3:// URIs; a label file on disk (or a folder of <partition>/ folders) is what
    a person checking a model by hand has."""
    trips = _trips(200, seed=9)
    _score(s3, spec, trips, tmp_path, version=2)
    _write_spec(spec, tmp_path / "pipelines")
    labels = tmp_path / "labels" / DAY / "labels.csv"
    labels.parent.mkdir(parents=True)
    trips.to_csv(labels, index=False)
    env = {**os.environ, **test_env, "NIGHTSHIFT_PIPELINES_DIR": str(tmp_path / "pipelines")}
    for given in (str(labels), f"{tmp_path / 'labels'}/"):
        out = subprocess.run([sys.executable, "-m", "nightshift.control.cli", "monitor", spec.name, "--labels", given,
                              "--json"], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        [record] = json.loads(out.stdout)
        assert (record["partition"], record["rows_labelled"]) == (DAY, 200), record
        assert record["labels"] == {str(labels): "sha256:" + hashlib.sha256(labels.read_bytes())
                                    .hexdigest()}

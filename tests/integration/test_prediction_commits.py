"""Prediction commits own only what they wrote (real SeaweedFS for s3://, a temp folder for local paths)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nightshift.core.errors import NightshiftError
from nightshift.core.predictions import (
    MARKER,
    OutputNotOwned,
    check_output_location,
    commit_output,
    committed_part,
    read_marker,
    verify_committed,
)
from nightshift.core.s3 import list_keys

pytestmark = pytest.mark.integration


def _parquet(path, rows: int):
    pq.write_table(pa.table({"row_number": list(range(rows)), "score": [0.5] * rows}), str(path))
    return path


def _commit(s3, path, output, run_id, rows=3, **kwargs):
    return commit_output(s3, path, output, rows=rows, model_version=1, run_id=run_id, model_uri="s3://m/taxi",
                         source="in.csv", **kwargs)


def test_a_foreign_object_under_the_output_is_refused_and_survives(s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="analysis/notes.txt", Body=b"a colleague's notes")
    s3.put_object(Bucket=bucket, Key="analysis/2024/summary.csv", Body=b"x\n1\n")
    output = f"s3://{bucket}/analysis/"
    with pytest.raises(OutputNotOwned) as caught:
        _commit(s3, _parquet(tmp_path / "p.parquet", 3), output, "r1")
    assert f"s3://{bucket}/analysis/notes.txt" in str(caught.value)
    assert f"s3://{bucket}/analysis/2024/summary.csv" in str(caught.value)
    assert sorted(list_keys(s3, bucket, "analysis/")) == ["analysis/2024/summary.csv", "analysis/notes.txt"]


def test_the_refusal_names_at_most_ten_objects(s3, bucket):
    for i in range(12):
        s3.put_object(Bucket=bucket, Key=f"out/f{i:02d}.csv", Body=b"x")
    with pytest.raises(OutputNotOwned) as caught:
        check_output_location(s3, f"s3://{bucket}/out/")
    assert str(caught.value).count(f"s3://{bucket}/out/f") == 10 and str(caught.value).endswith("and more")


@pytest.mark.parametrize("output", ["s3://nightshift-models/taxi/", "s3://nightshift-models/taxi/1/",
                                    "s3://nightshift-models/", "s3://nightshift-raw/taxi/date=2030-01-01/"])
def test_registry_and_landing_zone_are_never_outputs_even_when_empty(s3, output):
    protected = ["s3://nightshift-models/taxi", "s3://nightshift-raw/taxi/"]
    with pytest.raises(OutputNotOwned, match="overlaps"):
        check_output_location(s3, output, protected)
    predictions = "s3://nightshift-models/predictions/taxi/date=2030-01-01/"
    assert check_output_location(s3, predictions, protected).marker is None


def test_a_rerun_replaces_only_its_own_commit(s3, bucket, tmp_path):
    output = f"s3://{bucket}/predictions/taxi/date=2030-01-01/"
    _commit(s3, _parquet(tmp_path / "a.parquet", 3), output, "r1", engine="savedmodel")
    first = read_marker(s3, output)
    _commit(s3, _parquet(tmp_path / "b.parquet", 4), output, "r2", rows=4, engine="onnx")
    marker = read_marker(s3, output)
    assert marker["run_id"] == "r2" and committed_part(marker) != committed_part(first)
    assert (first["engine"], marker["engine"]) == ("savedmodel", "onnx")  # the form that scored each commit
    prefix = "predictions/taxi/date=2030-01-01/"
    assert sorted(list_keys(s3, bucket, prefix)) == sorted([prefix + MARKER, prefix + committed_part(marker)])
    assert verify_committed(s3, output, expected_rows=4, run_id="r2")["rows"] == 4


def test_a_crash_between_part_upload_and_marker_switch_leaves_the_old_commit(s3, bucket, tmp_path):
    output = f"s3://{bucket}/p/date=2030-01-02/"
    _commit(s3, _parquet(tmp_path / "a.parquet", 3), output, "r1")

    class MarkerWriteFails:
        """The client; the marker's PUT fails as if S3 went away (or the process died) at that moment."""

        def __getattr__(self, name):
            return getattr(s3, name)

        def put_object(self, **kwargs):
            if kwargs["Key"].endswith(MARKER):
                raise ConnectionError("S3 unreachable")
            return s3.put_object(**kwargs)

        def delete_object(self, **kwargs):  # a crash also skips the clean-up
            raise ConnectionError("S3 unreachable")

    with pytest.raises(ConnectionError):
        _commit(MarkerWriteFails(), _parquet(tmp_path / "b.parquet", 5), output, "r2", rows=5)
    # The old commit is intact and verifiable; the orphan new part is ours (its token) and not named.
    assert verify_committed(s3, output, expected_rows=3, run_id="r1")["run_id"] == "r1"
    assert len(list_keys(s3, bucket, "p/date=2030-01-02/")) == 3
    # The next commit recognises the orphan as its own and removes it with the old part.
    _commit(s3, _parquet(tmp_path / "c.parquet", 2), output, "r3", rows=2)
    marker = read_marker(s3, output)
    assert sorted(list_keys(s3, bucket, "p/date=2030-01-02/")) == sorted(
        ["p/date=2030-01-02/" + MARKER, "p/date=2030-01-02/" + committed_part(marker)])


def test_a_part_named_like_ours_without_our_token_is_foreign(s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key=f"q/part-{'0' * 32}.parquet", Body=b"someone else's")
    with pytest.raises(OutputNotOwned, match=f"part-{'0' * 32}.parquet"):
        _commit(s3, _parquet(tmp_path / "a.parquet", 3), f"s3://{bucket}/q/", "r1")


def test_another_tools_success_marker_is_not_ours(s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="spark/_SUCCESS", Body=b"")
    with pytest.raises(OutputNotOwned, match="not a nightshift prediction marker"):
        _commit(s3, _parquet(tmp_path / "a.parquet", 3), f"s3://{bucket}/spark/", "r1")
    assert s3.get_object(Bucket=bucket, Key="spark/_SUCCESS")["Body"].read() == b""


def test_readers_accept_exactly_what_the_marker_names(s3, bucket, tmp_path):
    output = f"s3://{bucket}/v/"
    _commit(s3, _parquet(tmp_path / "a.parquet", 3), output, "r1")
    part = committed_part(read_marker(s3, output))
    s3.upload_file(str(_parquet(tmp_path / "y.parquet", 9)), bucket, f"v/{part}")
    with pytest.raises(NightshiftError, match=f"{part} does not match the sha256"):
        verify_committed(s3, output, expected_rows=3)


def test_a_legacy_commit_is_replaced(s3, bucket, tmp_path):
    """Partitions committed before part names carried a token (part-00000.parquet) are still ours."""
    legacy = _parquet(tmp_path / "old.parquet", 3)
    s3.upload_file(str(legacy), bucket, "l/part-00000.parquet")
    s3.put_object(Bucket=bucket, Key="l/_SUCCESS", Body=json.dumps(
        {"rows": 3, "model_version": 1, "run_id": "old", "files": [{"path": "part-00000.parquet", "sha256": "x"}]}))
    _commit(s3, _parquet(tmp_path / "a.parquet", 3), f"s3://{bucket}/l/", "new")
    marker = read_marker(s3, f"s3://{bucket}/l/")
    assert sorted(list_keys(s3, bucket, "l/")) == sorted(["l/_SUCCESS", f"l/{committed_part(marker)}"])


# -- local folders -------------------------------------------------------------------------------------
def test_a_local_folder_with_a_foreign_file_is_refused_and_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(OutputNotOwned, match="mine.txt"):
        _commit(None, _parquet(tmp_path / "a.parquet", 3), str(out), "r1")
    assert [p.name for p in out.iterdir()] == ["mine.txt"] and (out / "mine.txt").read_text() == "keep me"


def test_a_local_rerun_replaces_its_own_files_only(tmp_path):
    out = tmp_path / "out"
    _commit(None, _parquet(tmp_path / "a.parquet", 3), str(out), "r1")
    _commit(None, _parquet(tmp_path / "b.parquet", 4), str(out), "r2", rows=4)
    marker = read_marker(None, str(out))
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, committed_part(marker)])
    assert verify_committed(None, str(out), expected_rows=4, run_id="r2")["run_id"] == "r2"
    (out / "sub").mkdir()
    with pytest.raises(OutputNotOwned, match="found .*/out/sub$"):  # an empty folder nightshift did not make
        _commit(None, _parquet(tmp_path / "c.parquet", 1), str(out), "r3", rows=1)
    assert (out / "sub").is_dir() and read_marker(None, str(out))["run_id"] == "r2"


def test_a_marker_write_that_landed_but_reported_an_error_keeps_the_part_it_names(s3, bucket, tmp_path):
    """The server applied the marker's PUT, then the connection dropped: the new commit must stay whole."""
    output = f"s3://{bucket}/w/"
    _commit(s3, _parquet(tmp_path / "a.parquet", 3), output, "r1")

    class LandsThenDrops:
        def __getattr__(self, name):
            return getattr(s3, name)

        def put_object(self, **kwargs):
            answer = s3.put_object(**kwargs)
            if kwargs["Key"].endswith(MARKER):
                raise ConnectionError("connection reset after the PUT was applied")
            return answer

    with pytest.raises(ConnectionError):
        _commit(LandsThenDrops(), _parquet(tmp_path / "b.parquet", 5), output, "r2", rows=5)
    assert verify_committed(s3, output, expected_rows=5, run_id="r2")["run_id"] == "r2"

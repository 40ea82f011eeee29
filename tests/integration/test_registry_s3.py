"""The registry against a real SeaweedFS server on loopback."""

from __future__ import annotations

import json

import pytest

from nightshift.core.errors import ChecksumMismatch, RegistryError
from nightshift.core.registry.layout import pointer_key
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.s3 import list_keys

pytestmark = pytest.mark.integration


def _fields(run_id: str) -> dict:
    return {"model": "m", "pipeline": "p", "run_id": run_id, "metrics": {"overall": {"binary_accuracy": 0.8}},
            "data_window": {"start": None, "end": "2017-01-01", "rows": 10}}


def test_publish_writes_versions_manifest_and_pointer(s3, bucket, fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    first = registry.publish(fake_saved_model, _fields("run-1"))
    second = registry.publish(fake_saved_model, _fields("run-2"))
    assert (first.version, second.version) == (1, 2)
    keys = set(list_keys(s3, bucket, "m/"))
    assert {"m/1/saved_model.pb", "m/2/variables/variables.index", "m/manifests/2.json", "m/CURRENT.json"} <= keys
    pointer = registry.read_pointer()
    assert pointer.version == 2 and pointer.run_id == "run-2"
    statuses = registry.status()
    assert [(s.manifest.version, s.serving, s.problems) for s in statuses] == [(1, False, []), (2, True, [])]


def test_tampered_file_is_detected_and_refused(s3, bucket, fake_saved_model, tmp_path):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    s3.put_object(Bucket=bucket, Key="m/1/variables/variables.index", Body=b"tampered")
    [status] = registry.status()
    assert len(status.problems) == 1 and "m/1/variables/variables.index" in status.problems[0]
    with pytest.raises(ChecksumMismatch, match="variables/variables.index"):
        registry.download_serving(tmp_path / "out")


def test_edited_manifest_is_refused_by_readers(s3, bucket, fake_saved_model, tmp_path):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    doc = json.loads(s3.get_object(Bucket=bucket, Key="m/manifests/1.json")["Body"].read())
    doc["metrics"]["overall"]["binary_accuracy"] = 0.99
    s3.put_object(Bucket=bucket, Key="m/manifests/1.json", Body=json.dumps(doc).encode())
    with pytest.raises(ChecksumMismatch, match="manifest does not match"):
        registry.download_serving(tmp_path / "out")


def test_download_verifies_and_reproduces_the_folder(s3, bucket, fake_saved_model, tmp_path):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    manifest = registry.download_serving(tmp_path / "out")
    for entry in manifest.files:
        assert (tmp_path / "out" / entry.path).read_bytes() == (fake_saved_model / entry.path).read_bytes()


def test_interrupted_upload_never_moves_pointer_and_its_number_is_not_reused(s3, bucket, fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    before = s3.get_object(Bucket=bucket, Key=pointer_key("m"))["Body"].read()

    class CrashesOnTheSecondFile:
        def __init__(self):
            self.uploads = 0

        def __getattr__(self, name):
            return getattr(s3, name)

        def upload_file(self, *args, **kwargs):
            self.uploads += 1
            if self.uploads == 2:
                raise ConnectionError("the publisher died mid-upload")
            return s3.upload_file(*args, **kwargs)

    with pytest.raises(ConnectionError, match="mid-upload"):
        ModelRegistry(CrashesOnTheSecondFile(), f"s3://{bucket}/m").publish(fake_saved_model, _fields("run-2"))
    assert len(list_keys(s3, bucket, "m/2/")) == 1  # one file of version 2 landed, then the crash
    assert s3.get_object(Bucket=bucket, Key=pointer_key("m"))["Body"].read() == before
    assert registry.versions() == [1]
    assert registry.publish(fake_saved_model, _fields("run-3")).version == 3  # another run: 2 is never reused


def test_reading_an_empty_registry_is_a_clear_error(s3, bucket, tmp_path):
    registry = ModelRegistry(s3, f"s3://{bucket}/nothing")
    assert registry.status() == []
    with pytest.raises(RegistryError, match="no model published yet"):
        registry.download_serving(tmp_path / "out")


def _three_versions(s3, bucket, fake_saved_model) -> ModelRegistry:
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    for run in ("run-1", "run-2", "run-3"):
        registry.publish(fake_saved_model, _fields(run))
    return registry


def test_rollback_promote_and_the_audit_log(s3, bucket, fake_saved_model):
    registry = _three_versions(s3, bucket, fake_saved_model)
    assert registry.rollback(actor="cli:ops", reason="v3 scores drift").version == 2
    pointer = registry.read_pointer()
    assert (pointer.version, pointer.run_id, pointer.action, pointer.changed_by, pointer.reason) == (
        2, "run-2", "rollback", "cli:ops", "v3 scores drift")
    assert registry.rollback(actor="cli:ops", reason="further", to=1).version == 1
    assert registry.promote(3, actor="cli:ops", reason="fixed upstream").version == 3
    log = registry.audit_log()
    assert [(e.action, e.from_version, e.to_version) for e in log] == [
        ("publish", None, 1), ("publish", 1, 2), ("publish", 2, 3),
        ("rollback", 3, 2), ("rollback", 2, 1), ("promote", 1, 3)]
    assert log[3].actor == "cli:ops" and log[3].reason == "v3 scores drift" and log[0].run_id == "run-1"
    with pytest.raises(RegistryError, match="earlier version"):
        registry.rollback(actor="cli:ops", reason="x", to=3)
    with pytest.raises(RegistryError, match="no version 9"):
        registry.promote(9, actor="cli:ops", reason="x")


def test_rollback_skips_a_tampered_version_and_promote_refuses_it(s3, bucket, fake_saved_model):
    registry = _three_versions(s3, bucket, fake_saved_model)
    s3.put_object(Bucket=bucket, Key="m/2/variables/variables.index", Body=b"tampered")
    before = s3.get_object(Bucket=bucket, Key=pointer_key("m"))["Body"].read()
    with pytest.raises(ChecksumMismatch, match="m/2/variables/variables.index"):
        registry.promote(2, actor="cli:ops", reason="x")
    assert s3.get_object(Bucket=bucket, Key=pointer_key("m"))["Body"].read() == before
    assert registry.rollback(actor="cli:ops", reason="bad v3").version == 1  # v2 does not verify


def test_prune_keeps_the_newest_and_the_serving_version(s3, bucket, fake_saved_model, tmp_path):
    registry = _three_versions(s3, bucket, fake_saved_model)
    registry.publish(fake_saved_model, _fields("run-4"))
    registry.rollback(actor="cli:ops", reason="x", to=1)
    assert registry.prune(2, actor="cli:ops", dry_run=True) == [2]
    assert registry.versions() == [1, 2, 3, 4]
    assert registry.prune(2, actor="cli:ops") == [2]
    assert registry.versions() == [1, 3, 4]
    assert not [k for k in list_keys(s3, bucket, "m/2/")]
    assert registry.read_pointer().version == 1  # serving untouched, and still whole:
    assert registry.download_serving(tmp_path / "served").version == 1
    assert registry.publish(fake_saved_model, _fields("run-5")).version == 5  # numbers are never reused
    assert registry.audit_log()[-2].action == "prune" and registry.audit_log()[-2].to_version == 2


def test_a_lost_pointer_race_is_retried_and_never_moves_backwards(s3, bucket, fake_saved_model, monkeypatch):
    registry = _three_versions(s3, bucket, fake_saved_model)
    other = ModelRegistry(s3, f"s3://{bucket}/m")
    real_read = ModelRegistry._read_pointer
    calls = {"n": 0}

    def read_then_lose_the_race(self):
        result = real_read(self)
        if self is not registry:
            return result
        calls["n"] += 1
        if calls["n"] == 1:  # another operator moves the pointer between our read and our write
            other.rollback(actor="cli:other", reason="meanwhile", to=1)
        return result

    monkeypatch.setattr(ModelRegistry, "_read_pointer", read_then_lose_the_race)
    assert registry.promote(2, actor="cli:ops", reason="x").version == 2
    monkeypatch.undo()
    assert calls["n"] == 2  # the stale ETag was refused (412) and the swap was redone on a fresh read
    assert [(e.action, e.from_version, e.to_version) for e in registry.audit_log()[-2:]] == [
        ("rollback", 3, 1), ("promote", 1, 2)]


def test_concurrent_publishers_both_complete_with_a_consistent_pointer(s3, bucket, fake_saved_model):
    from concurrent.futures import ThreadPoolExecutor

    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-0"))
    with ThreadPoolExecutor(4) as pool:
        manifests = list(pool.map(lambda r: ModelRegistry(s3, f"s3://{bucket}/m").publish(fake_saved_model,
                                                                                          _fields(r)),
                                  ["run-a", "run-b", "run-c", "run-d"]))
    versions = sorted(m.version for m in manifests)
    assert versions == [2, 3, 4, 5]  # four complete, distinct versions
    assert all(not s.problems for s in registry.status())
    assert registry.read_pointer().version == 5  # forward only: the newest one serves
    publishes = [e for e in registry.audit_log() if e.action == "publish"]
    assert len(publishes) == 5


def test_a_download_reports_its_progress(s3, bucket, fake_saved_model, tmp_path, monkeypatch, caplog):
    from nightshift.core.registry import store

    monkeypatch.setattr(store, "PROGRESS_SECONDS", 0.0)  # a line per file, instead of one every 10 s
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    with caplog.at_level("INFO", logger="nightshift.core.registry.store"):
        registry.download_serving(tmp_path / "out")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("downloading ")]
    total = sum(p.stat().st_size for p in fake_saved_model.rglob("*") if p.is_file())
    assert [line.split(": ", 1)[1].split(" files")[0] for line in lines] == ["1 of 4", "2 of 4", "3 of 4", "4 of 4"]
    assert lines[-1].startswith(f"downloading s3://{bucket}/m/1/: 4 of 4 files, {total / 1e6:.0f} of "
                                f"{total / 1e6:.0f} MB")

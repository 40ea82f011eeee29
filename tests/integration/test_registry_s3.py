"""The registry against a real SeaweedFS server on loopback."""

from __future__ import annotations

import json

import pytest

from nightshift.errors import ChecksumMismatch, RegistryError
from nightshift.registry.layout import pointer_key
from nightshift.registry.store import ModelRegistry
from nightshift.s3 import list_keys

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
    # A crashed publish leaves files of version 2 but no manifest and no pointer change.
    s3.put_object(Bucket=bucket, Key="m/2/variables/variables.index", Body=b"partial")
    assert s3.get_object(Bucket=bucket, Key=pointer_key("m"))["Body"].read() == before
    assert registry.versions() == [1]
    assert registry.publish(fake_saved_model, _fields("run-3")).version == 3


def test_reading_an_empty_registry_is_a_clear_error(s3, bucket, tmp_path):
    registry = ModelRegistry(s3, f"s3://{bucket}/nothing")
    assert registry.status() == []
    with pytest.raises(RegistryError, match="no model published yet"):
        registry.download_serving(tmp_path / "out")

"""serve-sync against a real SeaweedFS: whole versions only, the pointer's version always the highest."""

from __future__ import annotations

import threading
import time

import pytest

from nightshift.core.errors import ChecksumMismatch
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.serve_sync import LOCK_NAME, sync_once, version_folders

pytestmark = pytest.mark.integration


def _fields(run_id: str) -> dict:
    return {"model": "m", "pipeline": "p", "run_id": run_id, "metrics": {}, "data_window": {}}


def _same_tree(a, b) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_sync_places_the_serving_version_and_follows_a_rollback(s3, bucket, fake_saved_model, tmp_path):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    base = tmp_path / "serving" / "m"
    assert sync_once(registry, base).serving is None and version_folders(base) == []
    registry.publish(fake_saved_model, _fields("run-1"))
    registry.publish(fake_saved_model, _fields("run-2"))
    first = sync_once(registry, base)
    assert (first.serving, first.downloaded) == (2, True) and version_folders(base) == [2]
    assert _same_tree(base / "2", fake_saved_model)
    assert sync_once(registry, base).downloaded is False  # nothing to do: no second download

    registry.rollback(actor="test", reason="bad v2")
    result = sync_once(registry, base)
    # TF Serving serves the highest folder: v2 must go so the rolled-back v1 is what it loads.
    assert (result.serving, result.removed) == (1, [2]) and version_folders(base) == [1]
    assert sorted(p.name for p in base.iterdir()) == [LOCK_NAME, "1"]  # no temporary folders left behind

    registry.promote(2, actor="test", reason="fixed")
    registry.publish(fake_saved_model, _fields("run-3"))
    sync_once(registry, base, keep=2)
    assert version_folders(base) == [1, 3]  # keep=2: the serving one and the newest older one it holds
    assert sync_once(registry, base, keep=1).removed == [1] and version_folders(base) == [3]


def test_a_tampered_file_is_never_placed(s3, bucket, fake_saved_model, tmp_path):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    s3.put_object(Bucket=bucket, Key="m/1/variables/variables.index", Body=b"tampered")
    base = tmp_path / "serving"
    with pytest.raises(ChecksumMismatch, match="variables/variables.index"):
        sync_once(registry, base)
    assert [p.name for p in base.iterdir()] == [LOCK_NAME]  # neither a version folder nor a temporary one


def test_a_reader_during_an_upload_never_sees_a_partial_version(s3, bucket, fake_saved_model, tmp_path,
                                                                 monkeypatch):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    base = tmp_path / "serving"
    sync_once(registry, base)
    expected = sorted(p.relative_to(fake_saved_model) for p in fake_saved_model.rglob("*") if p.is_file())

    slow = ModelRegistry(s3, f"s3://{bucket}/m")
    real_upload = slow.client.upload_file

    def slow_upload(*args, **kwargs):
        time.sleep(0.3)  # a big model: files land one by one over seconds
        return real_upload(*args, **kwargs)

    monkeypatch.setattr(slow, "client", type("Slow", (), {"__getattr__": lambda _, n: getattr(s3, n),
                                                        "upload_file": staticmethod(slow_upload)})())
    publisher = threading.Thread(target=slow.publish, args=(fake_saved_model, _fields("run-2")))
    publisher.start()
    seen, rounds = set(), 0
    while publisher.is_alive():
        rounds += 1
        sync_once(registry, base)
        for version in version_folders(base):
            folder = base / str(version)
            assert sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file()) == expected
            seen.add(version)
        time.sleep(0.05)
    publisher.join()
    # Several rounds ran during the upload (4 files at 0.3 s each), each seeing only whole versions (checked
    # above); v2 can only appear in the last round, once its pointer moved.
    assert rounds >= 3 and 1 in seen and seen <= {1, 2}
    sync_once(registry, base)
    assert version_folders(base) == [1, 2]  # keep=2 (default): the previous one stays
    assert sorted(p.relative_to(base / "2") for p in (base / "2").rglob("*") if p.is_file()) == expected


def test_the_health_check_reports_a_folder_that_lags_the_pointer(s3, bucket, fake_saved_model, tmp_path):
    from nightshift.core.serve_sync import lag

    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    base = tmp_path / "serving"
    assert lag(registry, base) is None  # nothing published yet
    registry.publish(fake_saved_model, _fields("run-1"))
    assert lag(registry, base) == f"{base} serves nothing, the registry pointer names v1"
    sync_once(registry, base)
    assert lag(registry, base) is None
    registry.publish(fake_saved_model, _fields("run-2"))
    assert lag(registry, base) == f"{base} serves v1, the registry pointer names v2"


def _publish_with_forms(registry: ModelRegistry, saved_model, tmp_path, run_id: str, onnx: bytes | None) -> int:
    """A version as the pusher publishes it: the SavedModel, plus the ONNX form when it agreed."""
    from nightshift.core.registry.forms import FORM_FILES

    files, forms = {}, {"onnx": {"published": False, "refused": ["scores differ from the SavedModel's by up to 0.3"]}}
    if onnx is not None:
        (tmp_path / run_id).mkdir()
        files[FORM_FILES["onnx"]] = tmp_path / run_id / "model.onnx"
        files[FORM_FILES["onnx"]].write_bytes(onnx)
        forms = {"onnx": {"published": True, "path": FORM_FILES["onnx"]}}
    return registry.publish(saved_model, {**_fields(run_id), "extra": {"forms": forms}}, extra_files=files).version


def test_the_onnx_format_places_only_model_onnx_and_repairs_it(s3, bucket, fake_saved_model, tmp_path):
    from nightshift.core.registry.forms import FORM_FILES

    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    onnx = b"onnx-bytes-" + bytes(range(256))
    assert _publish_with_forms(registry, fake_saved_model, tmp_path, "run-1", onnx) == 1
    manifest = registry.read_manifest(1)
    [entry] = [f for f in manifest.files if f.path == FORM_FILES["onnx"]]
    assert entry.size == len(onnx)  # listed with its sha256 like every file of the version
    base = tmp_path / "triton" / "m"
    assert sync_once(registry, base, form="onnx").serving == 1
    assert sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()) == [
        LOCK_NAME, "1/model.onnx"]
    assert (base / "1" / "model.onnx").read_bytes() == onnx
    (base / "1" / "model.onnx").write_bytes(b"edited on disk")
    result = sync_once(registry, base, form="onnx")
    assert (result.downloaded, result.repaired) == (True, True)
    assert (base / "1" / "model.onnx").read_bytes() == onnx


def test_a_version_without_the_form_names_why_and_leaves_the_folder_alone(s3, bucket, fake_saved_model, tmp_path):
    from nightshift.core.errors import RegistryError

    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    _publish_with_forms(registry, fake_saved_model, tmp_path, "run-1", None)
    base = tmp_path / "triton" / "m"
    with pytest.raises(RegistryError, match=r"m version 1 has no published onnx form \(scores differ from the "
                                            r"SavedModel's by up to 0.3\)"):
        sync_once(registry, base, form="onnx")
    assert [p.name for p in base.iterdir()] == [LOCK_NAME]


def test_a_damaged_version_is_replaced_in_one_step_never_missing(s3, bucket, fake_saved_model, tmp_path,
                                                                 monkeypatch):
    """With `--keep 1` the damaged version is the only one: between removing it and placing the verified copy,
    TF Serving saw no version at all. The repair is one atomic exchange; the inode at the version's path
    changes exactly once and the path exists at every step the sync takes."""
    import os

    from nightshift.core import serve_sync

    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    base = tmp_path / "serving" / "m"
    assert sync_once(registry, base, keep=1).serving == 1
    placed = base / "1"
    (placed / "saved_model.pb").write_bytes(b"damaged on disk")
    damaged_inode = placed.stat().st_ino
    seen: list[bool] = []
    real_rmtree = serve_sync.shutil.rmtree

    def watching_rmtree(path, *args, **kwargs):  # every removal the sync makes: is the version still there?
        seen.append((placed / "saved_model.pb").is_file())
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(serve_sync.shutil, "rmtree", watching_rmtree)
    result = sync_once(registry, base, keep=1)
    assert (result.downloaded, result.repaired, result.serving) == (True, True, 1)
    assert seen == [True]  # one removal (the damaged copy, already out of sight), the version present
    assert placed.stat().st_ino != damaged_inode and _same_tree(placed, fake_saved_model)
    assert sorted(os.listdir(base)) == sorted(["1", LOCK_NAME])

"""Registry and serve-sync under retries, races and hostile manifests (real SeaweedFS)."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from nightshift.core.errors import RegistryError
from nightshift.core.registry.layout import manifest_key, pointer_key
from nightshift.core.registry.manifest import sha256_bytes, verify_folder
from nightshift.core.registry.pointer_moves import PointerConflict
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.serve_sync import sync_once, version_folders

pytestmark = pytest.mark.integration


def _fields(run_id: str) -> dict:
    return {"model": "m", "pipeline": "p", "run_id": run_id}


def _rewrite_manifest(s3, bucket: str, version: int, edit) -> None:
    """Edit a published manifest and re-point the pointer at the edited bytes (a hostile or broken writer)."""
    doc = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key("m", version))["Body"].read())
    edit(doc)
    raw = json.dumps(doc).encode()
    s3.put_object(Bucket=bucket, Key=manifest_key("m", version), Body=raw)
    pointer = json.loads(s3.get_object(Bucket=bucket, Key=pointer_key("m"))["Body"].read())
    pointer["manifest_sha256"] = sha256_bytes(raw)
    s3.put_object(Bucket=bucket, Key=pointer_key("m"), Body=json.dumps(pointer).encode())


@pytest.mark.parametrize("entry", ["../x", "/etc/x", "variables/../../x", "a//b"])
def test_a_manifest_entry_outside_the_version_folder_is_refused_by_every_reader(s3, bucket, fake_saved_model,
                                                                                 tmp_path, entry):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    s3.put_object(Bucket=bucket, Key="m/x", Body=b"payload")
    _rewrite_manifest(s3, bucket, 1, lambda doc: doc["files"].append(
        {"path": entry, "sha256": sha256_bytes(b"payload"), "size": 7}))
    where = f"s3://{bucket}/m/manifests/1.json: entry {entry!r}"
    base = tmp_path / "serving" / "m"
    for read in (lambda: sync_once(registry, base), lambda: registry.download_serving(tmp_path / "dl"),
                 registry.status, lambda: registry.promote(1, actor="t", reason="r")):
        with pytest.raises(RegistryError) as caught:
            read()
        assert str(caught.value).startswith(where)
    assert list(tmp_path.rglob("x")) == [] and not os.path.exists("/etc/x")  # nothing written anywhere
    assert version_folders(base) == []


def test_a_pusher_retried_after_the_pointer_swap_leaves_one_version_and_one_audit_entry(s3, bucket,
                                                                                         fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))

    class DiesAfterTheSwap:
        """The process dies right after the pointer PUT: the audit entry is never written."""

        def __getattr__(self, name):
            return getattr(s3, name)

        def put_object(self, **kwargs):
            if "/audit/" in kwargs["Key"] and json.loads(kwargs["Body"])["to_version"] == 2:
                raise SystemExit("killed")
            return s3.put_object(**kwargs)

    with pytest.raises(SystemExit):
        ModelRegistry(DiesAfterTheSwap(), f"s3://{bucket}/m").publish(fake_saved_model, _fields("run-2"))
    assert registry.read_pointer().version == 2  # the swap happened; its audit entry did not

    retried = registry.publish(fake_saved_model, _fields("run-2"))  # the task's retry
    assert retried.version == 2 and registry.versions() == [1, 2]
    assert [(e.action, e.from_version, e.to_version, e.run_id) for e in registry.audit_log()] == [
        ("publish", None, 1, "run-1"), ("publish", 1, 2, "run-2")]
    registry.publish(fake_saved_model, _fields("run-2"))  # and again: still nothing new
    assert registry.versions() == [1, 2] and len(registry.audit_log()) == 2


def test_a_run_trained_again_under_the_same_id_publishes_a_new_version(s3, bucket, fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    assert registry.publish(fake_saved_model, _fields("run-1")).version == 1
    (fake_saved_model / "variables" / "variables.index").write_bytes(os.urandom(100))  # a new model
    assert registry.publish(fake_saved_model, _fields("run-1")).version == 2  # a cleared, re-run DAG run
    assert registry.publish(fake_saved_model, _fields("run-1")).version == 2  # and its pusher's retry
    assert registry.versions() == [1, 2] and registry.read_pointer().version == 2


def test_a_crash_after_the_swap_is_audited_by_the_next_pointer_move(s3, bucket, fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    registry.publish(fake_saved_model, _fields("run-2"))
    real_append = ModelRegistry._append_audit
    ModelRegistry._append_audit = lambda self, entry: None  # the rollback's process dies before its entry
    try:
        registry.rollback(actor="cli:ops", reason="bad v2")
    finally:
        ModelRegistry._append_audit = real_append
    assert [e.action for e in registry.audit_log()] == ["publish", "publish"]
    registry.promote(2, actor="cli:ops", reason="fixed")
    assert [(e.action, e.from_version, e.to_version, e.actor) for e in registry.audit_log()] == [
        ("publish", None, 1, "pipeline run run-1"), ("publish", 1, 2, "pipeline run run-2"),
        ("rollback", 2, 1, "cli:ops"), ("promote", 1, 2, "cli:ops")]


def test_prune_racing_a_rollback_never_leaves_the_pointer_on_a_deleted_version(s3, bucket, fake_saved_model,
                                                                               monkeypatch):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    for run in ("run-1", "run-2", "run-3"):
        registry.publish(fake_saved_model, _fields(run))
    roller = ModelRegistry(s3, f"s3://{bucket}/m")
    real_read = ModelRegistry._read_pointer
    raced, reads = [], []

    def prune_between_check_and_swap(self):
        # Read 1 is rollback's own; read 2 comes after move_pointer verified v1, right before its swap:
        # prune (keep 1) deletes v1 there.
        if self is roller:
            reads.append(1)
            if len(reads) == 2:
                raced.append(ModelRegistry(s3, f"s3://{bucket}/m").prune(1, actor="cli:janitor"))
        return real_read(self)

    monkeypatch.setattr(ModelRegistry, "_read_pointer", prune_between_check_and_swap)
    with pytest.raises(PointerConflict, match="was pruned while the pointer moved"):
        roller.rollback(actor="cli:ops", reason="bad v3", to=1)
    monkeypatch.undo()
    assert raced == [[1, 2]]
    pointer = registry.read_pointer()
    assert pointer.version == 3 and registry.versions() == [3]
    assert registry.check_files(registry.read_manifest(pointer.version)) == []


def test_a_rollback_that_wins_the_race_keeps_its_version_from_prune(s3, bucket, fake_saved_model, monkeypatch):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    for run in ("run-1", "run-2", "run-3"):
        registry.publish(fake_saved_model, _fields(run))
    pruner = ModelRegistry(s3, f"s3://{bucket}/m")
    real_versions = ModelRegistry.versions

    def rollback_after_prune_decided(self):
        found = real_versions(self)
        if self is pruner:  # prune has read the pointer (v3) and decided to delete v1 and v2
            ModelRegistry(s3, f"s3://{bucket}/m").rollback(actor="cli:ops", reason="bad v3", to=1)
        return found

    monkeypatch.setattr(ModelRegistry, "versions", rollback_after_prune_decided)
    pruned = pruner.prune(1, actor="cli:janitor")
    monkeypatch.undo()
    assert pruned == [2]  # v1 became the serving version meanwhile and was kept
    assert registry.read_pointer().version == 1 and registry.versions() == [1, 3]
    assert registry.check_files(registry.read_manifest(1)) == []


def _sync_in_process(uri: str, base: str, rounds: int, env: dict) -> None:
    os.environ.update(env)
    from nightshift.core.s3 import client_from_env

    registry = ModelRegistry(client_from_env(), uri)
    for _ in range(rounds):
        sync_once(registry, Path(base))


def test_two_concurrent_serve_syncs_leave_only_complete_verified_folders(s3, bucket, fake_saved_model, tmp_path):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    big = fake_saved_model / "variables" / "variables.data-00000-of-00001"
    big.write_bytes(os.urandom(8 << 20))  # long enough downloads for the two processes to overlap
    registry.publish(fake_saved_model, _fields("run-2"))
    base = tmp_path / "serving"
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_sync_in_process, args=(f"s3://{bucket}/m", str(base), 3, dict(os.environ)))
             for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    manifest = registry.read_manifest(2)
    assert sorted(p.name for p in base.iterdir()) == [".nightshift-sync.lock", "2"]
    assert verify_folder(base / "2", manifest.files) == []


def test_a_sync_starting_mid_download_never_places_a_partial_folder(s3, bucket, fake_saved_model, tmp_path):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    base = tmp_path / "serving"
    halfway = threading.Event()

    class Slow:
        """The client, with every file download taking a while (a big model over a slow link)."""

        def __init__(self):
            self.files = 0

        def __getattr__(self, name):
            return getattr(s3, name)

        def get_object(self, **kwargs):
            if "/1/" in kwargs["Key"]:
                self.files += 1
                if self.files == 2:
                    halfway.set()
                time.sleep(0.4)
            return s3.get_object(**kwargs)

    first = threading.Thread(target=sync_once, args=(ModelRegistry(Slow(), f"s3://{bucket}/m"), base))
    first.start()
    assert halfway.wait(30)
    assert first.is_alive()  # the first round is mid-download (files 3 and on still to come) as the second begins
    second = sync_once(ModelRegistry(Slow(), f"s3://{bucket}/m"), base)  # another sidecar's round begins
    first.join(60)
    assert not first.is_alive()
    assert second.serving == 1 and version_folders(base) == [1]
    assert verify_folder(base / "1", registry.read_manifest(1).files) == []


def test_a_damaged_serving_folder_is_repaired(s3, bucket, fake_saved_model, tmp_path):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"))
    base = tmp_path / "serving"
    sync_once(registry, base)
    (base / "1" / "variables" / "variables.index").write_bytes(b"bit rot")
    (base / "1" / "stray.txt").write_text("x")
    result = sync_once(registry, base)
    assert (result.serving, result.repaired, result.downloaded) == (1, True, True)
    assert not (base / "1" / "stray.txt").exists()
    assert (base / "1" / "variables" / "variables.index").read_bytes() == (
        fake_saved_model / "variables" / "variables.index").read_bytes()
    assert registry.check_files(registry.read_manifest(1)) == []  # the registry itself was never touched

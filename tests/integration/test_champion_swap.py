"""The champion check is part of the pointer move (real SeaweedFS): a publish names the served version its model
was measured against, and the compare-and-swap refuses when another serves by then. Before, the check ran once
before the uploads: a rollback during the pusher was overridden, and a cleared and retrained run published its
second model against its own first one without comparing them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nightshift.core.registry.pointer_moves import ChampionMoved
from nightshift.core.registry.store import ModelRegistry

pytestmark = pytest.mark.integration


def _fields(run_id: str) -> dict:
    return {"model": "m", "pipeline": "p", "run_id": run_id}


def _retrained(model: Path) -> Path:
    """The same run's model after a clear and retrain: other weights, another digest."""
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(4096))
    return model


def test_a_rollback_while_the_challenger_uploads_is_not_overridden(s3, bucket, fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"), measured_against=None)
    registry.publish(_retrained(fake_saved_model), _fields("run-2"), measured_against=1)
    assert registry.read_pointer().version == 2
    # run-3 compiled while v2 served; an operator rolls back to v1 before run-3's pointer move
    registry.rollback(actor="ops", reason="v2 misbehaves", to=1)
    with pytest.raises(ChampionMoved, match="v3 was measured against v2 but v1 is serving now"):
        registry.publish(_retrained(fake_saved_model), _fields("run-3"), measured_against=2)
    assert registry.read_pointer().version == 1
    entries = [e for e in registry.audit_log() if e.change_id == "champion-moved-v3"]
    assert len(entries) == 1 and entries[0].from_version == entries[0].to_version == 1


def test_a_cleared_and_retrained_run_is_measured_against_its_first_model_not_waved_through(
        s3, bucket, fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"), measured_against=None)
    registry.publish(_retrained(fake_saved_model), _fields("run-7"), measured_against=1)  # v2 serves
    # run-7 cleared and trained again: its champion.json still says v1, but its own v2 serves now
    with pytest.raises(ChampionMoved, match="v3 was measured against v1 but v2 is serving now"):
        registry.publish(_retrained(fake_saved_model), _fields("run-7"), measured_against=1)
    assert registry.read_pointer().version == 2


def test_a_retried_publish_of_the_same_model_finishes_without_a_second_version(s3, bucket, fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"), measured_against=None)
    first = registry.publish(_retrained(fake_saved_model), _fields("run-2"), measured_against=1)
    again = registry.publish(fake_saved_model, _fields("run-2"), measured_against=1)  # the task retried
    assert first.version == again.version == 2 and registry.versions() == [1, 2]
    assert registry.read_pointer().version == 2


def test_nothing_served_at_compile_and_something_served_at_the_swap_is_refused(s3, bucket, fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    registry.publish(fake_saved_model, _fields("run-1"), measured_against=None)
    with pytest.raises(ChampionMoved, match="v2 was measured against nothing served but v1 is serving now"):
        registry.publish(_retrained(fake_saved_model), _fields("run-2"), measured_against=None)

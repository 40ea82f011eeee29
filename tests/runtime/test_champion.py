"""Runs in the TFX interpreter: the pusher refuses when the served version moved after the run compared with
it (against a real S3 server)."""

from __future__ import annotations

import pytest
from nightshift_tfx.champion import champion_moved

from nightshift.core.registry.store import ModelRegistry

pytestmark = pytest.mark.integration


def test_a_pointer_moved_during_the_run_stops_the_publish(s3, bucket, fake_saved_model):
    registry = ModelRegistry(s3, f"s3://{bucket}/taxi")
    assert champion_moved(registry, None, "night_1") is None  # nothing served, nothing compared: fair
    registry.publish(fake_saved_model, {"model": "taxi", "pipeline": "taxi", "run_id": "night_1"})
    registry.publish(fake_saved_model, {"model": "taxi", "pipeline": "taxi", "run_id": "night_2"})
    assert champion_moved(registry, 2, "night_3") is None
    registry.rollback(actor="test", reason="v2 misbehaves")  # while night_3 trains against v2
    assert champion_moved(registry, 2, "night_3") == (
        "the served version changed during this run (compared with 2, now serving 1); run again to be measured "
        "against what is served")
    # A retried pusher of the run that moved the pointer itself is not refused.
    registry.promote(2, actor="test", reason="fixed")
    assert champion_moved(registry, 1, "night_2") is None

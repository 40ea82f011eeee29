"""serve-sync's folder is what TF Serving and tf.saved_model.load read (TFX interpreter, real SeaweedFS)."""

from __future__ import annotations

import pytest

from nightshift.core.registry.store import ModelRegistry
from nightshift.core.serve_sync import sync_once

pytestmark = pytest.mark.integration


def _save_model(path, factor: float) -> None:
    import tensorflow as tf

    class Scale(tf.Module):
        def __init__(self):
            self.factor = tf.Variable(factor)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            return x * self.factor

    module = Scale()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})


def test_synced_version_loads_and_is_the_pointers(s3, bucket, tmp_path):
    import tensorflow as tf

    registry = ModelRegistry(s3, f"s3://{bucket}/m")
    for version, factor in ((1, 2.0), (2, 3.0)):
        _save_model(tmp_path / f"src{version}", factor)
        registry.publish(tmp_path / f"src{version}", {"model": "m", "pipeline": "p", "run_id": f"r{version}"})
    base = tmp_path / "serving"
    assert sync_once(registry, base).serving == 2
    loaded = tf.saved_model.load(str(base / "2"))
    assert float(loaded.signatures["serving_default"](tf.constant([1.0]))["output_0"][0]) == 3.0

    registry.rollback(actor="test", reason="r")
    sync_once(registry, base)
    highest = max(int(p.name) for p in base.iterdir() if p.name.isdigit())
    loaded = tf.saved_model.load(str(base / str(highest)))
    assert highest == 1 and float(loaded.signatures["serving_default"](tf.constant([1.0]))["output_0"][0]) == 2.0

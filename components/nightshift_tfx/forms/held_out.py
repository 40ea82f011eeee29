"""The rows an optimised form is measured on: the evaluation split ExampleGen wrote (serialized tf.Examples,
never seen in training), as the `serving_columns` inputs and the labels the model's own tf.Transform derives."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
DEFAULT_MAX_ROWS = 20_000


@dataclass
class HeldOut:
    columns: dict[str, np.ndarray]  # <name> and <name>__present, as the batch scorer builds them
    labels: np.ndarray | None  # class index per row (evaluation.label_key), None if the model cannot derive it
    source: str

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def read_examples(split_dir: Path, max_rows: int = DEFAULT_MAX_ROWS) -> list[bytes]:
    """Up to `max_rows` serialized tf.Examples from a split folder (ExampleGen's gzip'd TFRecord files)."""
    import tensorflow as tf

    files = sorted(str(p) for p in split_dir.glob("*.gz"))
    if not files:
        raise FileNotFoundError(f"{split_dir}: no evaluation examples (*.gz) to measure optimised forms on")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(max_rows)
    return [record.numpy() for record in dataset]


def from_examples(signatures: Mapping[str, Any], serialized: list[bytes], spec: dict[str, dict[str, Any]],
                  label_key: str, source: str) -> HeldOut:
    """Each feature of the model's spec (model_metadata.load_feature_spec) as values + presence mask; the label
    from the SavedModel's `transform_features` signature (`signatures`: the loaded SavedModel's), the
    Evaluator's own way to derive it."""
    import tensorflow as tf

    dtypes = {"float": tf.float32, "int": tf.int64, "string": tf.string}
    parse_spec = {name: tf.io.FixedLenFeature([], dtypes[info["dtype"]]) if info["required"]
                  else tf.io.VarLenFeature(dtypes[info["dtype"]]) for name, info in spec.items()}
    batch = tf.constant(serialized)
    parsed = tf.io.parse_example(batch, parse_spec)
    columns: dict[str, np.ndarray] = {}
    for name, info in spec.items():
        value = parsed[name]
        if isinstance(value, tf.SparseTensor):
            filler = b"" if info["dtype"] == "string" else 0
            dense = tf.sparse.to_dense(tf.SparseTensor(value.indices, value.values, [len(serialized), 1]), filler)
            present = np.zeros(len(serialized), dtype=bool)
            present[value.indices.numpy()[:, 0]] = True
            columns[name], columns[name + "__present"] = dense.numpy()[:, 0], present
        else:
            columns[name], columns[name + "__present"] = value.numpy(), np.ones(len(serialized), dtype=bool)
    return HeldOut(columns, _labels(signatures, batch, label_key), source)


def _labels(signatures: Mapping[str, Any], batch: Any, label_key: str) -> np.ndarray | None:
    """The class index per row as the model's tf.Transform derives it; None (forms are then held to agreement
    alone and a quantised form is refused) when the model has no such output or the rows lack the raw label."""
    import tensorflow as tf

    if "transform_features" not in signatures:
        return None
    try:
        transformed = signatures["transform_features"](examples=batch)
    except tf.errors.InvalidArgumentError as exc:
        log.warning("held-out rows carry no label for %s: %s", label_key, exc.message.splitlines()[0])
        return None
    if label_key not in transformed:
        return None
    value = transformed[label_key]
    if isinstance(value, tf.SparseTensor):
        value = tf.sparse.to_dense(value)
    return np.asarray(value).reshape(-1).astype(np.int64)

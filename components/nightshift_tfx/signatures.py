"""Serving signatures and serving metadata that every nightshift model exports (module files call these).

- serving_default: serialized tf.Examples of raw features in (what TF Serving's REST/gRPC clients send);
- serving_columns: the same raw features as column tensors, for the batch scorer (no tf.Example per row);
- transform_features: the tf.Transform graph, which the Evaluator applies before scoring;
- assets.extra/nightshift_features.json (+ nightshift_classes.json for classifiers): what the scorer needs
  to build inputs and name predictions. TF Serving ignores assets.extra/.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import tensorflow as tf


def fill_in_missing(x, default=None):
    """Densify an optional (sparse, [batch, 1]) feature, filling gaps with `default` ('' or 0 if None)."""
    if not isinstance(x, tf.sparse.SparseTensor):
        return x
    if default is None:
        default = "" if x.dtype == tf.string else 0
    return tf.squeeze(
        tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default), axis=1
    )


def _raw_serving_spec(tf_transform_output, label_key: str) -> dict:
    spec = tf_transform_output.raw_feature_spec()
    spec.pop(label_key, None)
    return spec


def serving_default(model, tf_transform_output, label_key: str):
    model.tft_layer_inference = tf_transform_output.transform_features_layer()

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve(serialized):
        features = tf.io.parse_example(serialized, _raw_serving_spec(tf_transform_output, label_key))
        return {"outputs": model(model.tft_layer_inference(features))}

    return serve


def serving_columns(model, tf_transform_output, label_key: str):
    """Each feature comes as `<name>` (values, any filler where missing) and `<name>__present` (bool): the
    signature rebuilds exactly what parse_example gives serving_default (dense for required features,
    [batch, 1] sparse for optional ones), so both apply the same tf.Transform graph and model."""
    raw_spec = _raw_serving_spec(tf_transform_output, label_key)

    def serve_columns(**columns):
        features = {}
        for name, feature in raw_spec.items():
            values, present = columns[name], columns[name + "__present"]
            if isinstance(feature, tf.io.FixedLenFeature):
                features[name] = tf.reshape(values, [-1, *feature.shape])  # parse_example's shape
                continue
            rows = tf.cast(tf.where(present)[:, 0], tf.int64)
            features[name] = tf.SparseTensor(
                indices=tf.stack([rows, tf.zeros_like(rows)], axis=1),
                values=tf.boolean_mask(values, present),
                dense_shape=tf.stack([tf.shape(values, out_type=tf.int64)[0], tf.constant(1, tf.int64)]),
            )
        return {"outputs": model(model.tft_layer_inference(features))}

    specs = {}
    for name, feature in raw_spec.items():
        specs[name] = tf.TensorSpec([None], feature.dtype, name=name)
        specs[name + "__present"] = tf.TensorSpec([None], tf.bool, name=name + "__present")
    return tf.function(serve_columns).get_concrete_function(**specs)


def transform_features(model, tf_transform_output):
    """What the Evaluator applies before scoring (label included)."""
    model.tft_layer_eval = tf_transform_output.transform_features_layer()

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def transform(serialized):
        features = tf.io.parse_example(serialized, tf_transform_output.raw_feature_spec())
        return model.tft_layer_eval(features)

    return transform


def save_serving_model(model, tf_transform_output, serving_model_dir: str, *, label_key: str,
                       classes: Sequence[str] | None = None) -> None:
    """Save with the three signatures and the serving metadata the batch scorer reads."""
    signatures = {
        "serving_default": serving_default(model, tf_transform_output, label_key),
        "serving_columns": serving_columns(model, tf_transform_output, label_key),
        "transform_features": transform_features(model, tf_transform_output),
    }
    tf.saved_model.save(model, serving_model_dir, signatures=signatures)
    write_serving_metadata(serving_model_dir, tf_transform_output, label_key, classes)


def write_serving_metadata(serving_model_dir: str, tf_transform_output, label_key: str,
                           classes: Sequence[str] | None = None) -> None:
    """Record the raw serving features (and a classifier's class names, in output order) next to the model,
    so scoring jobs build inputs with the exact types the signature parses and name what they predict."""
    spec = {}
    for name, feature in _raw_serving_spec(tf_transform_output, label_key).items():
        dtype = {tf.float32: "float", tf.int64: "int", tf.string: "string"}[feature.dtype]
        spec[name] = {"dtype": dtype, "required": isinstance(feature, tf.io.FixedLenFeature)}
    from nightshift_tfx.model_metadata import CLASSES_FILE, FEATURES_FILE

    tf.io.gfile.makedirs(os.path.join(serving_model_dir, str(FEATURES_FILE.parent)))
    with tf.io.gfile.GFile(os.path.join(serving_model_dir, str(FEATURES_FILE)), "w") as fh:
        fh.write(json.dumps(spec, indent=2, sort_keys=True))
    if classes is not None:
        with tf.io.gfile.GFile(os.path.join(serving_model_dir, str(CLASSES_FILE)), "w") as fh:
            fh.write(json.dumps(list(classes)))

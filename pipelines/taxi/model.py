"""TFX module file for the taxi pipeline: tf.Transform preprocessing and a wide-and-deep Keras model.

Label: was the tip more than 20 % of the fare (as in TFX's Chicago taxi example). This file runs
only inside the TFX runtime interpreter (Transform and Trainer import it), with
TF_USE_LEGACY_KERAS=1 so `tf.keras` is Keras 2, which TFX 1.16 needs.
"""

from __future__ import annotations

import logging

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.tfxio import dataset_options

# Feature lists of the taxi data (columns of tfx/examples/chicago_taxi_pipeline/data/simple/data.csv).
CATEGORICAL_FEATURES = {  # name -> number of distinct integer values
    "trip_start_hour": 24,
    "trip_start_day": 31,
    "trip_start_month": 13,
    "pickup_community_area": 78,
    "dropoff_community_area": 78,
}
DENSE_FLOAT_FEATURES = ["trip_miles", "fare", "trip_seconds"]
BUCKET_FEATURES = ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"]
VOCAB_FEATURES = ["payment_type", "company"]
BUCKET_COUNT = 10
VOCAB_SIZE = 1000
OOV_SIZE = 10
LABEL_KEY = "tips"
FARE_KEY = "fare"
TIP_SHARE = 0.2
# The Trainer's data feed (tfx_bsl) caps batch size; 40 matches TFX's own example.
BATCH_SIZE = 40


def _xf(key: str) -> str:
    return key + "_xf"


def _fill_in_missing(x):
    """Densify an optional (sparse) feature, filling gaps with '' or 0."""
    if not isinstance(x, tf.sparse.SparseTensor):
        return x
    default = "" if x.dtype == tf.string else 0
    return tf.squeeze(
        tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default), axis=1
    )


def preprocessing_fn(inputs):
    """tf.Transform callback: scale, bucketize, vocabularize; derive the binary label."""
    outputs = {}
    for key in DENSE_FLOAT_FEATURES:
        outputs[_xf(key)] = tft.scale_to_z_score(_fill_in_missing(inputs[key]))
    for key in VOCAB_FEATURES:
        outputs[_xf(key)] = tft.compute_and_apply_vocabulary(
            _fill_in_missing(inputs[key]), top_k=VOCAB_SIZE, num_oov_buckets=OOV_SIZE
        )
    for key in BUCKET_FEATURES:
        outputs[_xf(key)] = tft.bucketize(_fill_in_missing(inputs[key]), BUCKET_COUNT)
    for key, size in CATEGORICAL_FEATURES.items():
        # Values outside [0, size) would break one-hot encoding: clip them into range.
        outputs[_xf(key)] = tf.clip_by_value(
            tf.cast(_fill_in_missing(inputs[key]), tf.int64), 0, max(size - 1, 0)
        )
    fare = _fill_in_missing(inputs[FARE_KEY])
    tips = _fill_in_missing(inputs[LABEL_KEY])
    outputs[_xf(LABEL_KEY)] = tf.where(
        tf.math.is_nan(fare),
        tf.zeros_like(fare, dtype=tf.int64),
        tf.cast(tf.greater(tips, fare * TIP_SHARE), tf.int64),
    )
    return outputs


def _dataset(files, accessor: DataAccessor, tf_transform_output, batch_size: int) -> tf.data.Dataset:
    return accessor.tf_dataset_factory(
        files,
        dataset_options.TensorFlowDatasetOptions(batch_size=batch_size, label_key=_xf(LABEL_KEY)),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def build_keras_model(hidden_units: list[int]) -> tf.keras.Model:
    deep_inputs = {
        _xf(k): tf.keras.layers.Input(name=_xf(k), shape=(1,), dtype=tf.float32) for k in DENSE_FLOAT_FEATURES
    }
    wide_sizes = {_xf(k): VOCAB_SIZE + OOV_SIZE for k in VOCAB_FEATURES}
    wide_sizes.update({_xf(k): BUCKET_COUNT for k in BUCKET_FEATURES})
    wide_sizes.update({_xf(k): size for k, size in CATEGORICAL_FEATURES.items()})
    wide_inputs = {
        name: tf.keras.layers.Input(name=name, shape=(1,), dtype="int32") for name in wide_sizes
    }
    deep = tf.keras.layers.concatenate([tf.keras.layers.Normalization()(x) for x in deep_inputs.values()])
    for units in hidden_units:
        deep = tf.keras.layers.Dense(units, activation="relu")(deep)
    wide = tf.keras.layers.concatenate(
        [tf.keras.layers.CategoryEncoding(num_tokens=wide_sizes[name])(x) for name, x in wide_inputs.items()]
    )
    output = tf.keras.layers.Dense(1, activation="sigmoid")(tf.keras.layers.concatenate([deep, wide]))
    output = tf.keras.layers.Reshape((1,))(output)
    model = tf.keras.Model({**deep_inputs, **wide_inputs}, output)
    model.compile(
        loss="binary_crossentropy",
        optimizer=tf.keras.optimizers.Adam(learning_rate=0.001),
        metrics=[tf.keras.metrics.BinaryAccuracy()],
    )
    model.summary(print_fn=logging.info)
    return model


def _serving_signature(model, tf_transform_output):
    """serving_default: serialized tf.Examples of raw features in, tip probability out."""
    model.tft_layer_inference = tf_transform_output.transform_features_layer()

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve(serialized):
        spec = tf_transform_output.raw_feature_spec()
        spec.pop(LABEL_KEY)
        features = tf.io.parse_example(serialized, spec)
        return {"outputs": model(model.tft_layer_inference(features))}

    return serve


def _columns_signature(model, tf_transform_output):
    """serving_columns: the same raw features as column tensors, for batch scoring.

    Each feature comes as `<name>` (values, any filler where missing) and `<name>__present` (bool): the
    signature rebuilds exactly what parse_example gives serving_default (dense for required features,
    [batch, 1] sparse for optional ones), so both apply the same tf.Transform graph and model. A batch
    job fills these straight from Arrow columns, with no tf.Example serialised and parsed again per row."""
    raw_spec = tf_transform_output.raw_feature_spec()
    raw_spec.pop(LABEL_KEY)

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


def _transform_signature(model, tf_transform_output):
    """transform_features: what the Evaluator applies before scoring (label included)."""
    model.tft_layer_eval = tf_transform_output.transform_features_layer()

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def transform(serialized):
        features = tf.io.parse_example(serialized, tf_transform_output.raw_feature_spec())
        return model.tft_layer_eval(features)

    return transform


def _write_feature_spec(serving_model_dir: str, tf_transform_output) -> None:
    """Record the raw serving features next to the SavedModel (assets.extra/, which TF Serving
    ignores), so scoring jobs build tf.Examples with the exact types the signature parses."""
    import json
    import os

    spec = {}
    for name, feature in tf_transform_output.raw_feature_spec().items():
        if name == LABEL_KEY:
            continue
        dtype = {tf.float32: "float", tf.int64: "int", tf.string: "string"}[feature.dtype]
        spec[name] = {"dtype": dtype, "required": isinstance(feature, tf.io.FixedLenFeature)}
    folder = os.path.join(serving_model_dir, "assets.extra")
    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(os.path.join(folder, "nightshift_features.json"), "w") as fh:
        fh.write(json.dumps(spec, indent=2, sort_keys=True))


def run_fn(fn_args: FnArgs) -> None:
    """Trainer callback: fit on transformed examples, save with the serving and transform signatures."""
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = _dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, BATCH_SIZE)
    evaluation = _dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, BATCH_SIZE)
    model = build_keras_model(hidden_units=[100, 70, 48, 34])
    model.fit(
        train,
        steps_per_epoch=fn_args.train_steps,
        validation_data=evaluation,
        validation_steps=fn_args.eval_steps,
        callbacks=[tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")],
    )
    signatures = {
        "serving_default": _serving_signature(model, tf_transform_output),
        "serving_columns": _columns_signature(model, tf_transform_output),
        "transform_features": _transform_signature(model, tf_transform_output),
    }
    tf.saved_model.save(model, fn_args.serving_model_dir, signatures=signatures)
    _write_feature_spec(fn_args.serving_model_dir, tf_transform_output)

"""TFX module file for the `penguins` pipeline: tf.Transform preprocessing and a Keras classifier.

Scaffolded by `nightshift new penguins --from penguins.csv --label species`: a baseline that trains as is.
Edit the feature lists, the preprocessing and the model freely; keep the two callbacks' names
(`preprocessing_fn` for Transform, `run_fn` for Trainer) and the save_serving_model call, which exports
the signatures TF Serving, the Evaluator and the batch scorer use. Runs in the TFX interpreter only.
"""

from __future__ import annotations

import logging

import tensorflow as tf
import tensorflow_transform as tft
from nightshift_tfx.signatures import fill_in_missing, save_serving_model
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.tfxio import dataset_options

NUMERIC_FEATURES = ['bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g', 'year']
CATEGORICAL_FEATURES = ['island', 'sex']  # strings: vocabulary, then one-hot
LABEL_KEY = "species"
SEED = 42  # weights and shuffling; the Trainer's split of the data is by hash, already fixed
# label values in output order; others make Transform fail (the contract catches them first)
CLASSES = ['Adelie', 'Chinstrap', 'Gentoo']
VOCAB_SIZE = 1000
OOV_BUCKETS = 1
HIDDEN_UNITS = [32, 16]
LEARNING_RATE = 0.01
BATCH_SIZE = 32


def _xf(key: str) -> str:
    return key + "_xf"


def preprocessing_fn(inputs):
    """tf.Transform callback: z-score numbers, index strings, map the label to its class index."""
    outputs = {}
    for key in NUMERIC_FEATURES:
        outputs[_xf(key)] = tft.scale_to_z_score(tf.cast(fill_in_missing(inputs[key]), tf.float32))
    for key in CATEGORICAL_FEATURES:
        outputs[_xf(key)] = tft.compute_and_apply_vocabulary(
            fill_in_missing(inputs[key]), top_k=VOCAB_SIZE, num_oov_buckets=OOV_BUCKETS, vocab_filename=key
        )
    label = fill_in_missing(inputs[LABEL_KEY])
    if label.dtype != tf.string:
        label = tf.strings.as_string(label)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(CLASSES), tf.range(len(CLASSES), dtype=tf.int64)), -1
    )
    outputs[_xf(LABEL_KEY)] = table.lookup(label)
    return outputs


def _dataset(files, accessor: DataAccessor, tf_transform_output) -> tf.data.Dataset:
    return accessor.tf_dataset_factory(
        files,
        dataset_options.TensorFlowDatasetOptions(batch_size=BATCH_SIZE, label_key=_xf(LABEL_KEY), shuffle_seed=SEED),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def build_keras_model(tf_transform_output) -> tf.keras.Model:
    inputs, encoded = {}, []
    for key in NUMERIC_FEATURES:
        inputs[_xf(key)] = tf.keras.layers.Input(name=_xf(key), shape=(1,), dtype=tf.float32)
        encoded.append(inputs[_xf(key)])
    for key in CATEGORICAL_FEATURES:
        size = tf_transform_output.vocabulary_size_by_name(key) + OOV_BUCKETS
        inputs[_xf(key)] = tf.keras.layers.Input(name=_xf(key), shape=(1,), dtype=tf.int64)
        encoded.append(tf.keras.layers.CategoryEncoding(num_tokens=size, output_mode="one_hot")(inputs[_xf(key)]))
    x = tf.keras.layers.concatenate(encoded) if len(encoded) > 1 else encoded[0]
    for units in HIDDEN_UNITS:
        x = tf.keras.layers.Dense(units, activation="relu")(x)
    output = tf.keras.layers.Dense(len(CLASSES), activation="softmax")(x)
    model = tf.keras.Model(inputs, output)
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=tf.keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
    )
    model.summary(print_fn=logging.info)
    return model


def run_fn(fn_args: FnArgs) -> None:
    """Trainer callback: fit on transformed examples, save with the serving and transform signatures."""
    tf.keras.utils.set_random_seed(SEED)  # the same data trains the same model: reruns are comparable
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = _dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output)
    evaluation = _dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output)
    model = build_keras_model(tf_transform_output)
    model.fit(train, steps_per_epoch=fn_args.train_steps, validation_data=evaluation,
              validation_steps=fn_args.eval_steps)
    save_serving_model(model, tf_transform_output, fn_args.serving_model_dir, label_key=LABEL_KEY,
                       classes=CLASSES)

"""Runs in the TFX interpreter (.venv-tfx): the ONNX export of a serving graph with the two ops tf2onnx cannot
convert on its own (UpperBound, StringToHashBucketFast), its agreement check, and the refusals.

The model here is small and built in the test (a bucketize, a vocabulary with out-of-vocabulary buckets, a dense
layer) so each op is seen alone; the e2e suite holds the taxi and penguins models' forms to the same rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from nightshift_tfx.forms.agreement import measure, refusals
from nightshift_tfx.forms.build import FORM_FILES, build_forms, onnx_runner, savedmodel_runner, scores
from nightshift_tfx.forms.held_out import HeldOut
from nightshift_tfx.forms.onnx_export import OnnxExportError, export, feed

pytestmark = pytest.mark.unit
VOCAB = ["Cash", "Credit Card", "Zürich Taxi"]
BOUNDARIES = [0.0, 1.0, 2.5, 10.0]
ROWS = 3000


def _save_model(folder: Path, oov_buckets: int) -> Path:
    """A SavedModel shaped like the ones nightshift's modules export: `serving_columns` takes each raw feature as
    values + presence, and applies a bucketize and a vocabulary before a dense layer."""
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.StaticVocabularyTable(
                tf.lookup.KeyValueTensorInitializer(VOCAB, list(range(len(VOCAB))), key_dtype=tf.string,
                                                    value_dtype=tf.int64), num_oov_buckets=oov_buckets)
            rng = np.random.default_rng(7)
            self.kernel = tf.Variable(rng.normal(size=(len(BOUNDARIES) + 1 + len(VOCAB) + oov_buckets + 1, 1))
                                      .astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="fare"),
                                      tf.TensorSpec([None], tf.bool, name="fare__present"),
                                      tf.TensorSpec([None], tf.string, name="payment_type"),
                                      tf.TensorSpec([None], tf.bool, name="payment_type__present")])
        def serve(self, fare, fare__present, payment_type, payment_type__present):
            fare = tf.where(fare__present, fare, tf.zeros_like(fare))
            bucket = tf.raw_ops.UpperBound(sorted_inputs=tf.constant([BOUNDARIES]), values=tf.reshape(fare, [1, -1]),
                                           out_type=tf.int64)[0]
            word = self.table.lookup(tf.where(payment_type__present, payment_type, tf.fill(tf.shape(payment_type), "")))
            wide = tf.concat([tf.one_hot(bucket, len(BOUNDARIES) + 1),
                              tf.one_hot(word, len(VOCAB) + oov_buckets), fare[:, None]], axis=1)
            return {"outputs": tf.sigmoid(tf.matmul(wide, self.kernel))}

    model = Model()
    tf.saved_model.save(model, str(folder), signatures={"serving_columns": model.serve.get_concrete_function()})
    extra = folder / "assets.extra"
    extra.mkdir()
    (extra / "nightshift_features.json").write_text(json.dumps({
        "fare": {"dtype": "float", "required": False}, "payment_type": {"dtype": "string", "required": False}}))
    return folder


def _held_out(rows: int = ROWS) -> HeldOut:
    rng = np.random.default_rng(11)
    fare = rng.uniform(-1, 12, rows).astype(np.float32)
    fare[::50] = np.nan  # NaN goes to the last bucket in both
    fare[1::50] = 2.5  # on a boundary: upper_bound puts it above
    words = np.array(VOCAB + ["Unknown Co", ""], dtype=object)[rng.integers(0, len(VOCAB) + 2, rows)]
    fare_present, word_present = rng.random(rows) > 0.1, rng.random(rows) > 0.1
    fare[~fare_present], words[~word_present] = 0.0, ""  # the fillers score_input.to_column_tensors uses
    columns = {"fare": fare, "fare__present": fare_present,
               "payment_type": np.array([w.encode() for w in words], dtype=object),
               "payment_type__present": word_present}
    return HeldOut(columns, rng.integers(0, 2, rows), "generated rows")


def _signatures(model_dir: Path):
    import tensorflow as tf

    return tf.saved_model.load(str(model_dir)).signatures


@pytest.fixture(scope="module")
def one_bucket(tmp_path_factory) -> Path:
    return _save_model(tmp_path_factory.mktemp("model1") / "model", oov_buckets=1)


def test_the_onnx_form_scores_as_the_savedmodel_on_every_row(one_bucket, tmp_path):
    held_out = _held_out()
    export(one_bucket, tmp_path / "model.onnx")
    reference = scores(savedmodel_runner(_signatures(one_bucket)), held_out)
    agreement = measure(reference, scores(onnx_runner(tmp_path / "model.onnx"), held_out), held_out.labels)
    assert agreement.rows == ROWS and agreement.same_label == 1.0 and agreement.accuracy_delta == 0.0
    assert agreement.max_abs_diff <= 1e-6
    assert refusals(agreement, 1e-4) == []


def test_forms_are_published_with_their_figures_and_the_int8_one_is_held_to_the_accuracy_bound(one_bucket, tmp_path):
    files, records = build_forms(one_bucket, _signatures(one_bucket), _held_out(), {}, tmp_path)
    assert records["onnx"]["published"] and records["onnx"]["path"] == FORM_FILES["onnx"]
    assert files[FORM_FILES["onnx"]] == tmp_path / "model.onnx"
    assert records["onnx"]["size"] == (tmp_path / "model.onnx").stat().st_size
    assert records["onnx_fp16"]["agreement"]["max_abs_diff"] <= 0.05 and records["onnx_fp16"]["published"]
    # int8 activations turn a NaN fare into a number where the SavedModel answers NaN: refused for that.
    int8 = records["onnx_int8"]
    assert int8["published"] is False and FORM_FILES["onnx_int8"] not in files
    assert int8["refused"][0] == (f"{int8['agreement']['nan_mismatches']} output value(s) are NaN in one of the "
                                  f"two models and a number in the other, on {ROWS} held-out rows")
    assert int8["agreement"]["nan_mismatches"] == int(np.sum(np.isnan(_held_out().columns["fare"])))
    assert records["savedmodel"]["rows"] == ROWS
    # Each form that can be scored with has its speed on the same rows; the refused int8 form is never timed.
    assert all(isinstance(records[n]["rows_per_second"], int) and records[n]["rows_per_second"] > 0
               for n in ("savedmodel", "onnx", "onnx_fp16"))
    assert "rows_per_second" not in int8


def test_a_perturbed_form_is_refused_with_the_measured_difference_and_nothing_is_published(one_bucket, tmp_path):
    import onnx
    from onnx import numpy_helper

    def perturb(path: Path) -> None:
        model = onnx.load(str(path))
        weight = next(t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and t.dims
                      and int(np.prod(t.dims)) > 8)
        weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 1.05, weight.name))
        onnx.save(model, str(path))

    files, records = build_forms(one_bucket, _signatures(one_bucket), _held_out(), {}, tmp_path, perturb=perturb)
    assert files == {}
    assert records["onnx"]["published"] is False and "onnx_int8" not in records
    [reason] = records["onnx"]["refused"]
    assert reason.startswith("scores differ from the SavedModel's by up to ") and "(tolerance 0.0001)" in reason
    assert f"on {ROWS} held-out rows" in reason
    assert records["onnx"]["agreement"]["max_abs_diff"] > 1e-4
    assert "rows_per_second" not in records["onnx"]  # never scored with: `auto` keeps the SavedModel


def test_more_than_one_out_of_vocabulary_bucket_is_refused_at_export_with_the_reason(tmp_path):
    model = _save_model(tmp_path / "model10", oov_buckets=10)
    with pytest.raises(OnnxExportError, match="StringToHashBucketFast with 10 buckets .*num_oov_buckets=1"):
        export(model, tmp_path / "model.onnx")
    files, records = build_forms(model, _signatures(model), _held_out(200), {}, tmp_path)
    assert files == {} and records["onnx"]["published"] is False
    assert records["onnx"]["refused"][0].startswith("export failed: OnnxExportError: StringToHashBucketFast")


def test_strings_reach_onnx_runtime_as_utf8_text():
    got = feed({"s": np.array([b"Z\xc3\xbcrich", b""], dtype=object), "n": np.array([1.0])}, ["s", "n"])
    assert got["s"].tolist() == ["Zürich", ""] and got["n"].tolist() == [1.0]


@pytest.mark.parametrize(("form", "labels", "bound", "expected"), [
    (np.array([[0.9], [0.2]]), np.array([1, 0]), 0.005, []),
    (np.array([[0.4], [0.2]]), np.array([1, 0]), 0.005,
     ["scores differ from the SavedModel's by up to 0.5 (tolerance 0.1) on 2 held-out rows",
      "accuracy 0.5000 is 0.5000 below the SavedModel's 1.0000 (bound 0.005)"]),
    (np.array([[0.9], [0.2]]), None, 0.005,
     ["its accuracy could not be measured: the held-out rows have no labels"]),
    (np.array([[np.nan], [0.2]]), np.array([1, 0]), None,
     ["1 output value(s) are NaN in one of the two models and a number in the other, on 2 held-out rows"]),
])
def test_refusals_name_each_measured_reason(form, labels, bound, expected):
    agreement = measure(np.array([[0.9], [0.2]]), form, labels)
    assert refusals(agreement, 0.1, bound) == expected


def test_category_encodings_convert_exactly_counts_binary_and_values_out_of_range(tmp_path):
    """DenseBincount (Keras' CategoryEncoding) gets its own conversion (ScatterElements, not tf2onnx's Unique +
    ScatterND): one value per row and three, counted and binary, values from `size` up left out."""
    import tensorflow as tf

    size = 5

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="code"),
                                      tf.TensorSpec([None], tf.bool, name="code__present")])
        def serve(self, code, code__present):
            one = tf.reshape(tf.cast(code, tf.int32), [-1, 1])
            three = tf.concat([one, one, (one + 2) % 8], axis=1)  # a repeated value, and values up to 7
            empty = tf.constant([], tf.float32)
            parts = [tf.raw_ops.DenseBincount(input=x, size=size, weights=empty, binary_output=binary)
                     for x in (one, three) for binary in (False, True)]
            return {"outputs": tf.concat(parts, axis=1)}

    model = Model()
    tf.saved_model.save(model, str(tmp_path / "model"), signatures={"serving_columns": model.serve})
    export(tmp_path / "model", tmp_path / "model.onnx")
    codes = np.arange(8, dtype=np.int64).repeat(3)  # 5, 6 and 7 are beyond size
    columns = {"code": codes, "code__present": np.ones(len(codes), dtype=bool)}
    held_out = HeldOut(columns, None, "codes 0-7")
    expected = scores(savedmodel_runner(_signatures(tmp_path / "model")), held_out)
    got = scores(onnx_runner(tmp_path / "model.onnx"), held_out)
    assert got.shape == expected.shape == (24, 4 * size)
    assert np.array_equal(got, expected)
    assert expected[:, :size].sum() == 15 and expected[:, 2 * size:3 * size].max() == 2  # what was compared
    import onnx

    ops = {n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert "ScatterElements" in ops and "Unique" not in ops


def test_a_linear_layer_over_one_hot_columns_becomes_lookups_with_the_same_scores(tmp_path):
    """The wide part of a wide-and-deep model (tf.math.bincount as Keras' CategoryEncoding calls it, concatenated
    with a dense column, times one weight matrix) is exported as weight-row lookups (forms.onnx_wide), and scores
    as TensorFlow does, out-of-range codes included."""
    import onnx
    import tensorflow as tf

    rng = np.random.default_rng(3)

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(rng.normal(size=(1 + 5 + 3, 2)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="code"),
                                      tf.TensorSpec([None], tf.bool, name="code__present"),
                                      tf.TensorSpec([None], tf.float32, name="fare"),
                                      tf.TensorSpec([None], tf.bool, name="fare__present")])
        def serve(self, code, code__present, fare, fare__present):
            column = tf.reshape(code, [-1, 1])
            wide = [tf.math.bincount(column % modulo, minlength=size, maxlength=size, binary_output=True, axis=-1,
                                     dtype=tf.float32) for modulo, size in ((7, 5), (3, 3))]
            joined = tf.concat([tf.reshape(fare, [-1, 1]), *wide], axis=1)
            return {"outputs": tf.sigmoid(tf.matmul(joined, self.kernel))}

    model = Model()
    tf.saved_model.save(model, str(tmp_path / "model"), signatures={"serving_columns": model.serve})
    export(tmp_path / "model", tmp_path / "model.onnx")
    codes = np.arange(21, dtype=np.int64)  # code % 7 reaches 5 and 6: beyond the first encoding's 5 columns
    columns = {"code": codes, "code__present": np.ones(21, dtype=bool),
               "fare": rng.normal(size=21).astype(np.float32), "fare__present": np.ones(21, dtype=bool)}
    held_out = HeldOut(columns, None, "codes 0-20")
    expected = scores(savedmodel_runner(_signatures(tmp_path / "model")), held_out)
    got = scores(onnx_runner(tmp_path / "model.onnx"), held_out)
    assert got.shape == expected.shape == (21, 2)
    assert np.max(np.abs(got - expected)) <= 1e-6
    ops = [n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node]
    assert ops.count("Gather") >= 2 and "ScatterElements" not in ops and ops.count("MatMul") == 1

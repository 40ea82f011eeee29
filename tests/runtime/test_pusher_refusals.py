"""Runs in the TFX interpreter: the pusher's verdict on real TFMA output. The spec's absolute bound and the
majority-class baseline each hold a model back on its own, and the refusal names the check with both figures.

TFMA evaluates without a model here: the examples carry the prediction beside the label (TFMA's model-agnostic
evaluation), through the eval config the Evaluator gets from the spec. The third check, the champion comparison,
needs TFMA to load a second model (model-agnostic evaluation has no champion), so it is proven end to end:
tests/e2e/test_taxi_nightly.py's worse challenger.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from apache_beam.options.pipeline_options import PipelineOptions
from nightshift_tfx.eval_config import build_eval_config
from nightshift_tfx.evaluation_report import refusal_reasons

from nightshift.core.spec import EvaluationSpec

pytestmark = pytest.mark.integration
ROWS = 1000
SPEC = EvaluationSpec(label_key="label", thresholds={"binary_accuracy": 0.6})  # margin: the default 0.02


def _predictions(labels: list[int], accuracy: float, seed: int) -> list[float]:
    """Confident scores, right on a share `accuracy` of the rows (exactly, by position in a shuffled order)."""
    right = set(random.Random(seed).sample(range(len(labels)), round(accuracy * len(labels))))
    return [(0.9 if y else 0.1) if i in right else (0.1 if y else 0.9) for i, y in enumerate(labels)]


def _accuracy(labels: list[int], scores: list[float]) -> float:
    return sum((s > 0.5) == bool(y) for y, s in zip(labels, scores, strict=True)) / len(labels)


def _evaluate(tmp_path: Path, labels: list[int], candidate: list[float]) -> tuple[str, bool]:
    """TFMA's output folder and its verdict (what the Evaluator writes as the ModelBlessing)."""
    data = str(tmp_path / "examples.tfrecord")
    with tf.io.TFRecordWriter(data) as writer:
        for i, y in enumerate(labels):
            feature = {"label": tf.train.Feature(int64_list=tf.train.Int64List(value=[y])),
                       "candidate": tf.train.Feature(float_list=tf.train.FloatList(value=[candidate[i]]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    config = build_eval_config(SPEC, gate_lower_bound=SPEC.thresholds["binary_accuracy"])
    del config.model_specs[:]
    config.model_specs.add(name=tfma.CANDIDATE_KEY, label_key="label", prediction_key="candidate")
    # As TFX's Evaluator does on a first run: no champion, so its change threshold is dropped.
    config = tfma.utils.update_eval_config_with_defaults(config, has_baseline=False, rubber_stamp=True)
    out = str(tmp_path / "evaluation")
    tfma.run_model_analysis(eval_config=config, data_location=data, output_path=out,
                            pipeline_options=PipelineOptions(["--runner=BundleBasedDirectRunner"]))
    return out, tfma.load_validation_result(out).validation_ok


def test_the_absolute_bound_alone_refuses(tmp_path):
    labels = [i % 2 for i in range(ROWS)]  # balanced: the trivial model is right half the time
    scores = _predictions(labels, 0.56, seed=1)  # beats 0.50 + 0.02, misses the spec's 0.6
    accuracy = _accuracy(labels, scores)
    out, blessed = _evaluate(tmp_path, labels, scores)
    reasons, baseline = refusal_reasons(out, blessed, "binary_accuracy", SPEC.baseline_margin)
    assert (blessed, baseline.passed, baseline.trivial) == (False, True, 0.5)
    assert reasons == [f"binary_accuracy (overall) = {accuracy:.4f} fails threshold lower bound 0.6"]


def test_the_majority_class_baseline_alone_refuses(tmp_path):
    labels = [1 if i % 5 else 0 for i in range(ROWS)]  # 80 % positive
    scores = _predictions(labels, 0.75, seed=2)  # above the spec's 0.6, below always answering "yes"
    accuracy = _accuracy(labels, scores)
    majority = max(sum(labels), ROWS - sum(labels)) / ROWS
    out, blessed = _evaluate(tmp_path, labels, scores)
    reasons, baseline = refusal_reasons(out, blessed, "binary_accuracy", SPEC.baseline_margin)
    assert (blessed, baseline.passed) == (True, False)
    assert (baseline.model, baseline.trivial) == (pytest.approx(accuracy, abs=1e-6), pytest.approx(majority))
    assert reasons == [f"binary_accuracy = {accuracy:.4f} does not beat the majority-class baseline {majority:.4f} "
                       f"+ margin 0.02 = {majority + 0.02:.4f}"]


def test_a_model_that_passes_both_checks_is_published(tmp_path):
    labels = [1 if i % 5 else 0 for i in range(ROWS)]  # 80 % positive
    out, blessed = _evaluate(tmp_path, labels, _predictions(labels, 0.85, seed=3))
    reasons, baseline = refusal_reasons(out, blessed, "binary_accuracy", SPEC.baseline_margin)
    assert (blessed, baseline.passed, reasons) == (True, True, [])

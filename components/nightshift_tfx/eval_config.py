"""TFMA EvalConfig from a pipeline spec: value thresholds per metric, champion-vs-challenger on one."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from nightshift.core.metrics import BINARY, METRICS, reported_metrics
from nightshift.core.spec import EvaluationSpec
from nightshift_tfx.skew import HISTOGRAM_BINS  # the scorer's score histogram: the same bins


def build_eval_config(evaluation: EvaluationSpec, *, gate_lower_bound: float) -> tfma.EvalConfig:
    """`gate_lower_bound` replaces the spec's bound for the gate metric (the trigger form's override)."""
    bounds = dict(evaluation.thresholds)
    bounds[evaluation.gate_metric] = gate_lower_bound
    metrics = [tfma.MetricConfig(class_name="ExampleCount"), label_distribution_metric(evaluation),
               *output_distribution_metrics(evaluation)]
    for name in reported_metrics(evaluation.gate_metric):
        threshold = None
        if name in bounds:
            change = None
            if name == evaluation.gate_metric:
                # Ignored by TFMA when the resolver found no champion (first run).
                change = tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={"value": -evaluation.champion_tolerance - 1e-10},
                )
            threshold = tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={"value": bounds[name]}),
                change_threshold=change,
            )
        if threshold is None:
            metrics.append(tfma.MetricConfig(class_name=METRICS[name].tfma_class))
        else:
            # Gate on the overall slice only; per-slice values (e.g. one hour's few hundred trips) are
            # reported in the manifest, but are too noisy to veto a model on their own.
            metrics.append(tfma.MetricConfig(
                class_name=METRICS[name].tfma_class,
                per_slice_thresholds=[tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()],
                                                                   threshold=threshold)],
            ))
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                label_key=evaluation.label_key,
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[s]) for s in evaluation.slices],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )


def label_distribution_metric(evaluation: EvaluationSpec) -> tfma.MetricConfig:
    """What the majority-class baseline is computed from (nightshift.core.baseline): the evaluation split's label
    mean for a 0/1 label, its confusion matrix (actual class counts) for a multi-class one."""
    if METRICS[evaluation.gate_metric].kind == BINARY:
        return tfma.MetricConfig(class_name="MeanLabel")
    return tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot")


def output_distribution_metrics(evaluation: EvaluationSpec) -> list[tfma.MetricConfig]:
    """What the evaluation split's outputs look like, for scoring runs to be compared with: the score histogram
    of a binary model (a calibration plot with the scorer's bins); a multi-class model's predicted class counts
    are in the confusion matrix its baseline already needs."""
    if METRICS[evaluation.gate_metric].kind != BINARY:
        return []
    return [tfma.MetricConfig(class_name="CalibrationPlot",
                              config=f'{{"num_buckets": {HISTOGRAM_BINS}, "left": 0.0, "right": 1.0}}')]

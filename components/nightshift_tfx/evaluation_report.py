"""Read the Evaluator's output: metrics per slice for the manifest, failed thresholds for the log."""

from __future__ import annotations

from typing import Any

import tensorflow_model_analysis as tfma

from nightshift.core.baseline import BaselineCheck, binary_class_counts, majority_share
from nightshift.core.metrics import BINARY, METRICS
from nightshift_tfx.skew import HISTOGRAM_BINS

CANDIDATE_NAMES = {"", "candidate"}
METRIC_NAMES = {m.tfma_key: m.name for m in METRICS.values()} | {"example_count": "example_count"}


def _slice_name(slice_key: Any) -> tuple[str, str] | None:
    keys = list(slice_key.single_slice_keys)
    if not keys:
        return None
    key = keys[0]
    kind = key.WhichOneof("kind")
    value = getattr(key, kind)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return key.column, str(value)


def load_metrics(evaluation_uri: str) -> dict[str, Any]:
    """{"overall": {metric: value}, "slices": {column: {value: {metric: value}}}} for the candidate."""
    overall: dict[str, float] = {}
    slices: dict[str, dict[str, dict[str, float]]] = {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        target = overall
        named = _slice_name(metrics_for_slice.slice_key)
        if named is not None:
            target = slices.setdefault(named[0], {}).setdefault(named[1], {})
        for kv in metrics_for_slice.metric_keys_and_values:
            key = kv.key
            if key.is_diff or key.model_name not in CANDIDATE_NAMES or key.name not in METRIC_NAMES:
                continue
            if kv.value.HasField("double_value"):
                target[METRIC_NAMES[key.name]] = round(kv.value.double_value.value, 6)
    return {"overall": overall, "slices": slices}


def blessing_failures(evaluation_uri: str) -> list[str]:
    """One line per failed threshold: metric, slice, observed value and the threshold it missed."""
    try:
        result = tfma.load_validation_result(evaluation_uri)
    except Exception:  # no validation file means nothing to explain
        return []
    lines = []
    values = _values_by_model(evaluation_uri)
    for per_slice in result.metric_validations_per_slice:
        named = _slice_name(per_slice.slice_key)
        where = "overall" if named is None else f"{named[0]}={named[1]}"
        for failure in per_slice.failures:
            key = failure.metric_key
            what = f"change vs. champion in {key.name}" if key.is_diff else key.name
            line = (f"{what} ({where}) = {failure.metric_value.double_value.value:.4f} "
                    f"fails threshold {_threshold_text(failure.metric_threshold)}")
            if key.is_diff:
                challenger = values.get((where, "candidate", key.name))
                champion = values.get((where, "baseline", key.name))
                if challenger is not None and champion is not None:
                    line += f": challenger {challenger:.4f}, champion (the served version) {champion:.4f}"
            lines.append(line)
    return lines


def _values_by_model(evaluation_uri: str) -> dict[tuple[str, str, str], float]:
    """(slice, model name, metric) -> value; with a champion, TFX names the models candidate and baseline."""
    values = {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        named = _slice_name(metrics_for_slice.slice_key)
        where = "overall" if named is None else f"{named[0]}={named[1]}"
        for kv in metrics_for_slice.metric_keys_and_values:
            if not kv.key.is_diff and kv.value.HasField("double_value"):
                values[(where, kv.key.model_name, kv.key.name)] = kv.value.double_value.value
    return values


def _threshold_text(threshold: Any) -> str:
    parts = []
    if threshold.HasField("value_threshold"):
        vt = threshold.value_threshold
        if vt.HasField("lower_bound"):
            parts.append(f"lower bound {vt.lower_bound.value:g}")
        if vt.HasField("upper_bound"):
            parts.append(f"upper bound {vt.upper_bound.value:g}")
    if threshold.HasField("change_threshold"):
        ct = threshold.change_threshold
        if ct.HasField("absolute"):
            parts.append(f"change vs. champion >= {ct.absolute.value:g}")
    return " and ".join(parts) or " ".join(str(threshold).split())


def _overall_candidate_values(evaluation_uri: str) -> dict[str, float]:
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        if _slice_name(metrics_for_slice.slice_key) is None:
            return {kv.key.name: kv.value.double_value.value for kv in metrics_for_slice.metric_keys_and_values
                    if not kv.key.is_diff and kv.key.model_name in CANDIDATE_NAMES
                    and kv.value.HasField("double_value")}
    return {}


def class_counts(evaluation_uri: str, kind: str) -> dict[int, float]:
    """The evaluation split's label distribution as TFMA measured it (eval_config.label_distribution_metric)."""
    if kind == BINARY:
        values = _overall_candidate_values(evaluation_uri)
        if "mean_label" not in values or "example_count" not in values:
            raise LookupError(f"{evaluation_uri}: the evaluation has no mean_label/example_count; "
                              "the Evaluator's config predates the baseline gate")
        return binary_class_counts(values["mean_label"], values["example_count"])
    counts: dict[int, float] = {}
    for plots in tfma.load_plots(evaluation_uri):
        if _slice_name(plots.slice_key) is not None:
            continue
        for kv in plots.plot_keys_and_values:
            if kv.key.model_name not in CANDIDATE_NAMES:
                continue
            for matrix in kv.value.multi_class_confusion_matrix_at_thresholds.matrices[:1]:
                for entry in matrix.entries:
                    counts[entry.actual_class_id] = counts.get(entry.actual_class_id, 0.0) \
                        + entry.num_weighted_examples
    if not counts:
        raise LookupError(f"{evaluation_uri}: the evaluation has no multi-class confusion matrix; "
                          "the Evaluator's config predates the baseline gate")
    return counts


def _overall_plots(evaluation_uri: str) -> list[Any]:
    return [kv.value for plots in tfma.load_plots(evaluation_uri) if _slice_name(plots.slice_key) is None
            for kv in plots.plot_keys_and_values if kv.key.model_name in CANDIDATE_NAMES]


def score_histogram(plots: list[Any], bins: int) -> list[float]:
    """Example counts per score bin over [0, 1] from TFMA calibration plots of `bins` buckets (TFMA adds
    (-inf, 0) and [1, inf) around them: they join the first and last bin, as numpy's histogram counts 1.0)."""
    counts = [0.0] * bins
    for plot in plots:
        for bucket in plot.calibration_histogram_buckets.buckets:
            low = bucket.lower_threshold_inclusive
            index = min(max(int(round(low * bins)) if low > float("-inf") else 0, 0), bins - 1)
            counts[index] += bucket.num_weighted_examples.value
    return [round(c, 3) for c in counts]


def eval_outputs(evaluation_uri: str, kind: str, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """The evaluation split's outputs, shaped as the scorer records its own (nightshift_tfx.skew): a binary
    model's score histogram over [0, 1] in `bins` bins; a multi-class model's predicted class shares by id."""
    if kind == BINARY:
        counts = score_histogram(_overall_plots(evaluation_uri), bins)
        return {"score_histogram": {"bins": bins, "counts": counts}} if sum(counts) else {}
    predicted: dict[int, float] = {}
    for plot in _overall_plots(evaluation_uri):
        for matrix in plot.multi_class_confusion_matrix_at_thresholds.matrices[:1]:
            for entry in matrix.entries:
                predicted[entry.predicted_class_id] = predicted.get(entry.predicted_class_id, 0.0) \
                    + entry.num_weighted_examples
    total = sum(predicted.values())
    return {"predicted_shares": {str(k): round(v / total, 6) for k, v in sorted(predicted.items())}} if total else {}


def baseline_check(evaluation_uri: str, gate_metric: str, margin: float) -> BaselineCheck:
    """The challenger's gate metric against always answering the evaluation split's majority class."""
    model = load_metrics(evaluation_uri)["overall"].get(gate_metric)
    if model is None:
        raise LookupError(f"{evaluation_uri}: the evaluation has no overall {gate_metric}")
    trivial = majority_share(class_counts(evaluation_uri, METRICS[gate_metric].kind))
    return BaselineCheck(metric=gate_metric, model=float(model), trivial=round(trivial, 6), margin=margin)


def refusal_reasons(evaluation_uri: str, blessed: bool, gate_metric: str, margin: float
                    ) -> tuple[list[str], BaselineCheck]:
    """Why the pusher must not publish, one line per check that failed (empty: publish), with the trivial-model
    check it ran: the Evaluator's thresholds (absolute bounds, the champion comparison) and the majority-class
    baseline are independent, and each alone holds a model back."""
    baseline = baseline_check(evaluation_uri, gate_metric, margin)
    reasons = [] if blessed else (blessing_failures(evaluation_uri) or ["the Evaluator did not bless the model"])
    if not baseline.passed:
        reasons.append(baseline.describe())
    return reasons, baseline

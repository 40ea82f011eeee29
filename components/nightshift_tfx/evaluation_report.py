"""Read the Evaluator's output: metrics per slice for the manifest, failed thresholds for the log."""

from __future__ import annotations

from typing import Any

import tensorflow_model_analysis as tfma

from nightshift.metrics import METRICS

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
    except Exception:  # noqa: BLE001 - no validation file means nothing to explain
        return []
    lines = []
    for per_slice in result.metric_validations_per_slice:
        named = _slice_name(per_slice.slice_key)
        where = "overall" if named is None else f"{named[0]}={named[1]}"
        for failure in per_slice.failures:
            key = failure.metric_key
            what = f"change vs. champion in {key.name}" if key.is_diff else key.name
            lines.append(
                f"{what} ({where}) = {failure.metric_value.double_value.value:.4f} "
                f"fails threshold {_threshold_text(failure.metric_threshold)}"
            )
    return lines


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

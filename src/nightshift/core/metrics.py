"""The evaluation metrics a spec may gate on: one table read by the spec loader, TFMA config and reports.

Each metric belongs to one task kind. A pipeline's thresholds all share a kind, and the Evaluator reports every
metric of that kind, so a binary model gets precision/recall/AUC and a multi-class one its accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

BINARY, MULTICLASS = "binary", "multiclass"


@dataclass(frozen=True)
class Metric:
    name: str  # the spelling in specs, manifests and reports
    tfma_class: str  # tfma.MetricConfig class_name
    tfma_key: str  # the metric key name TFMA writes
    kind: str


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("binary_accuracy", "BinaryAccuracy", "binary_accuracy", BINARY),
    Metric("auc", "AUC", "auc", BINARY),
    Metric("precision", "Precision", "precision", BINARY),
    Metric("recall", "Recall", "recall", BINARY),
    Metric("f1", "F1Score", "f1_score", BINARY),
    Metric("sparse_categorical_accuracy", "SparseCategoricalAccuracy", "sparse_categorical_accuracy", MULTICLASS),
)}


def metrics_of_kind(kind: str) -> tuple[str, ...]:
    return tuple(name for name, m in METRICS.items() if m.kind == kind)


def reported_metrics(gate_metric: str) -> tuple[str, ...]:
    """Everything the Evaluator computes for a pipeline gated on `gate_metric`."""
    return metrics_of_kind(METRICS[gate_metric].kind)

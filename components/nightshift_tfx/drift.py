"""Drift of a run's statistics against the previous run's, with TFDV's own comparators.

L-infinity distance for categorical (string) features, Jensen-Shannon divergence for numeric ones;
bounds come from the pipeline spec's `drift:` section (0 = that kind is not checked).
"""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from nightshift.spec import DriftSpec

log = logging.getLogger(__name__)


def set_comparators(schema: schema_pb2.Schema, drift: DriftSpec) -> list[str]:
    """Attach drift comparators to the schema's features; returns the features that got one."""
    checked = []
    for feature in schema.feature:
        bound = drift.features.get(feature.name)
        if feature.type == schema_pb2.BYTES:
            bound = drift.categorical_linf if bound is None else bound
            if bound > 0:
                feature.drift_comparator.infinity_norm.threshold = bound
                checked.append(feature.name)
        elif feature.type in (schema_pb2.INT, schema_pb2.FLOAT):
            bound = drift.numeric_js if bound is None else bound
            if bound > 0:
                feature.drift_comparator.jensen_shannon_divergence.threshold = bound
                checked.append(feature.name)
    return checked


def drift_problems(current, previous, schema: schema_pb2.Schema, drift: DriftSpec) -> list[str]:
    """One line per drifted feature: name, measure, value and bound."""
    schema = schema_pb2.Schema.FromString(schema.SerializeToString())
    if not set_comparators(schema, drift):
        return []
    anomalies = tfdv.validate_statistics(current, schema, previous_statistics=previous)
    lines = []
    for name, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason:
            # Only the comparator results: schema anomalies are ExampleValidator's to report.
            if anomalies_pb2.AnomalyInfo.Type.Name(reason.type).startswith("COMPARATOR_"):
                lines.append(f"feature {name!r}: {reason.short_description}: {reason.description}")
    return lines


def load_split_stats(statistics_uri: str, split: str = "train"):
    return tfdv.load_stats_binary(str(Path(statistics_uri) / f"Split-{split}" / "FeatureStats.pb"))

"""Drift of a run's statistics against a baseline's (the served version's run), with TFDV's own comparators,
and the run's statistics against the served version's schema.

L-infinity distance for categorical (string) features, Jensen-Shannon divergence for numeric ones;
bounds come from the pipeline spec's `drift:` section (0 = that kind is not checked).
"""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from nightshift.core.spec import DriftSpec

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


def load_schema(schema_uri: str) -> schema_pb2.Schema:
    """SchemaGen's output folder (schema.pbtxt inside)."""
    return tfdv.load_schema_text(str(Path(schema_uri) / "schema.pbtxt"))


STRUCTURAL_ANOMALIES = {"UNEXPECTED_DATA_TYPE", "SCHEMA_MISSING_COLUMN", "SCHEMA_NEW_COLUMN",
                        "FEATURE_TYPE_NOT_PRESENT"}


def _structural(type_name: str) -> bool:
    """A column that changed type, disappeared or appeared. Domains (a new string value) and presence are the
    contract's and ExampleValidator's to judge: an inferred schema's domain is only what one window held."""
    return (type_name in STRUCTURAL_ANOMALIES
            or "_NOT_" in type_name or "_NOW_" in type_name or type_name.endswith("_EXPECTED"))


def schema_problems(statistics, schema: schema_pb2.Schema) -> list[str]:
    """The structural anomalies TFDV finds when this data is held to another run's schema (the served version's):
    a column that changed type, disappeared or appeared."""
    anomalies = tfdv.validate_statistics(statistics, schema)
    lines = []
    for name, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason:
            if _structural(anomalies_pb2.AnomalyInfo.Type.Name(reason.type)):
                lines.append(f"feature {name!r}: {reason.short_description}: {reason.description}")
    return lines

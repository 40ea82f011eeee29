"""Training/serving skew of a scoring input: its TFDV statistics against those the scored version trained on.

The scorer feeds each chunk's raw features (the list columns it builds anyway) to `SkewSample`, which keeps up
to `max_rows` of them; TFDV then computes the sample's statistics in memory and compares them, feature by
feature, with the training split's statistics of the run that trained the version (found through ML Metadata,
as the nightly's drift check finds them), using the spec's drift bounds: L-infinity distance for string
features, Jensen-Shannon divergence for numeric ones. The result is data for the prediction marker; scoring
never fails because of it (monitoring reports, it does not block).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

log = logging.getLogger(__name__)
DEFAULT_MAX_ROWS = 200_000
HISTOGRAM_BINS = 10


class SkewSample:
    """The first `max_rows` rows' raw features, and the distribution of every score (all rows)."""

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS):
        self.max_rows = max_rows
        self.batches: list[pa.RecordBatch] = []
        self.rows = 0
        self.histogram = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
        self.labels: dict[int, int] = {}

    @property
    def wants_features(self) -> bool:
        return self.rows < self.max_rows

    def add(self, features: pa.RecordBatch | None, scores: np.ndarray, labels: np.ndarray) -> None:
        if features is not None and self.rows < self.max_rows:
            take = features.slice(0, self.max_rows - self.rows)
            self.batches.append(take)
            self.rows += take.num_rows
        self.histogram += np.histogram(np.clip(scores, 0.0, 1.0), bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0]
        for value, count in zip(*np.unique(labels, return_counts=True), strict=True):
            self.labels[int(value)] = self.labels.get(int(value), 0) + int(count)

    def outputs(self, classes: list[str] | None) -> dict[str, Any]:
        total = sum(self.labels.values())
        names = {i: (classes[i] if classes and i < len(classes) else str(i)) for i in self.labels}
        return {"score_histogram": {"bins": HISTOGRAM_BINS, "counts": self.histogram.tolist()},
                "predicted_shares": {names[i]: round(n / total, 6) for i, n in sorted(self.labels.items())}
                if total else {}}


def training_statistics(manifest: Any) -> tuple[Any, str]:
    """(train split statistics, where they came from) of the run that trained the version, or (None, why not)."""
    import tensorflow_data_validation as tfdv

    from nightshift_tfx.run_artifacts import run_artifacts

    extra = manifest.extra or {}
    mlmd = extra.get("mlmd_mysql") or extra.get("mlmd_sqlite") or ""
    if not mlmd or (not mlmd.startswith("mysql://") and not Path(mlmd).is_file()):
        return None, f"version {manifest.version} names no reachable ML Metadata store"
    try:
        artifacts = run_artifacts(mlmd, manifest.run_id)
    except LookupError:
        return None, f"run {manifest.run_id} (which trained version {manifest.version}) is not in ML Metadata"
    stats = [a["uri"] for a in artifacts if a["producer"] == "StatisticsGen" and a["type"] == "ExampleStatistics"]
    path = Path(stats[-1]) / "Split-train" / "FeatureStats.pb" if stats else None
    if path is None or not path.is_file():
        return None, f"run {manifest.run_id} has no training statistics on this machine"
    return tfdv.load_stats_binary(str(path)), f"run {manifest.run_id}'s training split"


def measure(sample: SkewSample, manifest: Any, drift: Any, classes: list[str] | None) -> dict[str, Any]:
    """The marker's `skew` entry: per-feature distance and bound, the breaches, the output distribution."""
    result: dict[str, Any] = {"rows_sampled": sample.rows, **sample.outputs(classes)}
    result["outputs_vs_evaluation"] = outputs_vs_evaluation(result, (manifest.extra or {}).get("eval_outputs"),
                                                            classes)
    if not (drift.categorical_linf or drift.numeric_js or any(drift.features.values())):
        return {**result, "status": "not measured: the spec sets no drift bounds"}
    try:
        train, source = training_statistics(manifest)
        if train is None:
            return {**result, "status": f"not measured: {source}"}
        if not sample.batches:
            return {**result, "status": "not measured: no rows"}
        features = _distances(pa.Table.from_batches(sample.batches).combine_chunks().to_batches()[0], train, drift)
    except Exception as exc:  # monitoring reports; it never stops a scoring run
        log.warning("skew not measured: %s", exc)
        return {**result, "status": f"not measured: {type(exc).__name__}: {exc}"}
    breaches = [f"{name} {f['measure']} {f['value']:.4f} > {f['bound']:g}" for name, f in sorted(features.items())
                if f["value"] > f["bound"]]
    status = ("breach: " + "; ".join(breaches)) if breaches else f"ok ({len(features)} features)"
    return {**result, "status": status, "baseline": source, "features": features, "breaches": breaches}


def _distances(batch: pa.RecordBatch, train: Any, drift: Any) -> dict[str, dict[str, Any]]:
    """Per scored feature: its distance from the training data, the measure and the bound.

    String features: TFDV's own L-infinity comparator. Numeric features: Jensen-Shannon divergence over the
    training statistics' quantile buckets (deciles). TFDV's numeric comparator works on equal-width
    histograms, so one outlier stretches the buckets: every third row of the taxi file against the rest
    differs by 0.70 on trip_miles that way (0.002 over deciles), and every scoring run would breach 0.3."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory
    from tensorflow_metadata.proto.v0 import schema_pb2

    from nightshift_tfx.drift import set_comparators

    scored = set(batch.schema.names)
    schema = tfdv.infer_schema(train)
    for feature in list(schema.feature):  # only what scoring reads: the label is not in a scoring input
        if feature.name not in scored:
            schema.feature.remove(feature)
    set_comparators(schema, drift)
    numeric = [f.name for f in schema.feature if f.type != schema_pb2.BYTES]
    for feature in schema.feature:
        if feature.type != schema_pb2.BYTES:
            feature.ClearField("drift_comparator")
    out: dict[str, dict[str, Any]] = {}
    anomalies = tfdv.validate_statistics(generate_statistics_in_memory(batch), schema, previous_statistics=train)
    for info in anomalies.drift_skew_info:
        for m in info.drift_measurements:
            out[info.path.step[-1]] = {"measure": "linf", "value": round(float(m.value), 6),
                                       "bound": float(m.threshold)}
    train_features = {f.path.step[-1] if f.path.step else f.name: f for f in train.datasets[0].features}
    for name in numeric:
        bound = float(drift.features.get(name, drift.numeric_js))
        values = batch.column(batch.schema.get_field_index(name)).flatten().to_numpy(zero_copy_only=False)
        value = quantile_js(train_features[name], values.astype("float64")) if name in train_features else None
        if bound > 0 and value is not None:
            out[name] = {"measure": "js", "value": round(value, 6), "bound": bound}
    return out


def quantile_js(train_feature: Any, values: np.ndarray) -> float | None:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between the training quantile buckets' shares and the
    shares of `values` in the same buckets. A bucket belongs to the interval its low value opens, so a
    point mass (low == high) and the scored values equal to it land together."""
    hist = next((h for h in train_feature.num_stats.histograms if h.type == h.QUANTILES), None)
    values = values[~np.isnan(values)]
    if hist is None or not hist.buckets or not len(values):
        return None
    lows = np.array([b.low_value for b in hist.buckets])
    interior = np.unique(np.append(lows, hist.buckets[-1].high_value))[1:-1]
    expected = np.bincount(np.searchsorted(interior, lows, side="right"),
                           weights=[b.sample_count for b in hist.buckets], minlength=len(interior) + 1)
    observed = np.bincount(np.searchsorted(interior, values, side="right"), minlength=len(interior) + 1)
    return js_divergence(expected, observed)


def js_divergence(expected: np.ndarray, observed: np.ndarray) -> float:
    """Jensen-Shannon divergence, base 2 (0 = the same shares, 1 = disjoint), of two count vectors."""
    p, q = expected / expected.sum(), observed / observed.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nonzero = a > 0
        return float((a[nonzero] * np.log2(a[nonzero] / m[nonzero])).sum())

    return 0.5 * kl(p) + 0.5 * kl(q)


def outputs_vs_evaluation(scored: dict[str, Any], evaluation: dict[str, Any] | None,
                          classes: list[str] | None) -> dict[str, Any]:
    """How far this run's outputs are from the evaluation split's (recorded at publish): the score histograms'
    JS divergence for a binary model, the largest difference of a predicted class share for a multi-class one.
    Recorded, not alerted on: a new population may rightly score differently; the input skew is the alarm."""
    if not evaluation:
        return {"status": "not recorded: the version's manifest has no evaluation outputs"}
    if "score_histogram" in evaluation:
        expected = np.array(evaluation["score_histogram"]["counts"], dtype=float)
        observed = np.array(scored["score_histogram"]["counts"], dtype=float)
        if len(expected) != len(observed) or not observed.sum() or not expected.sum():
            return {"status": "not measured: no scores, or histograms of different bins"}
        return {"measure": "js", "value": round(js_divergence(expected, observed), 6),
                "evaluation": evaluation["score_histogram"]}
    names = {str(i): (classes[i] if classes and i < len(classes) else str(i)) for i in range(len(classes or []))}
    expected_shares = {names.get(k, k): v for k, v in evaluation["predicted_shares"].items()}
    observed_shares = scored.get("predicted_shares", {})
    keys = set(expected_shares) | set(observed_shares)
    if not observed_shares:
        return {"status": "not measured: no rows"}
    return {"measure": "linf", "value": round(max(abs(expected_shares.get(k, 0.0) - observed_shares.get(k, 0.0))
                                                  for k in keys), 6), "evaluation": expected_shares}

"""Runs in the TFX interpreter (.venv-tfx): the scorer's skew report on the real taxi rows."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from nightshift_tfx.score_input import to_examples_batch
from nightshift_tfx.skew import HISTOGRAM_BINS, SkewSample, _distances, measure

from nightshift.core.spec import DriftSpec

pytestmark = pytest.mark.unit
FEATURES = {"fare": {"dtype": "float", "required": False}, "trip_miles": {"dtype": "float", "required": False},
            "payment_type": {"dtype": "string", "required": False},
            "trip_start_hour": {"dtype": "int", "required": False}}
DRIFT = DriftSpec(categorical_linf=0.3, numeric_js=0.3)


@pytest.fixture(scope="module")
def taxi() -> pa.Table:
    import tfx

    csv = Path(tfx.__file__).parent / "examples" / "chicago_taxi_pipeline" / "data" / "simple" / "data.csv"
    read = pacsv.read_csv(csv, convert_options=pacsv.ConvertOptions(include_columns=list(FEATURES)))
    return pa.Table.from_batches([to_examples_batch(b, FEATURES, str(csv)) for b in read.to_batches(4096)])


def _batch(table: pa.Table) -> pa.RecordBatch:
    return table.combine_chunks().to_batches()[0]


def _split(taxi: pa.Table, part: int) -> pa.Table:
    """Two of every three trips train, the third is scored: the same distribution (the file is ordered)."""
    index = np.arange(taxi.num_rows)
    return taxi.take(pa.array(index[(index % 3 == 2) == bool(part)]))


def _train_stats(taxi: pa.Table):
    from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory

    return generate_statistics_in_memory(_batch(_split(taxi, 0)))


def test_held_out_rows_are_within_the_bounds_and_every_feature_is_measured(taxi):
    distances = _distances(_batch(_split(taxi, 1)), _train_stats(taxi), DRIFT)
    assert set(distances) == set(FEATURES)
    assert all(d["value"] <= d["bound"] == 0.3 for d in distances.values()), distances
    assert {name: d["measure"] for name, d in distances.items()} == {
        "fare": "js", "trip_miles": "js", "payment_type": "linf", "trip_start_hour": "js"}


def test_a_shifted_feature_is_named_with_its_distance(taxi):
    held = _split(taxi, 1)
    cash = pa.ListArray.from_arrays(pa.array(np.arange(held.num_rows + 1, dtype=np.int32)),
                                    pa.array([b"Cash"] * held.num_rows, pa.binary()))
    shifted = held.set_column(held.schema.get_field_index("payment_type"), "payment_type", cash)
    distances = _distances(_batch(shifted), _train_stats(taxi), DRIFT)
    over = sorted(name for name, d in distances.items() if d["value"] > d["bound"])
    assert over == ["payment_type"], distances
    # Every fare five times what it was: the numeric measure names it, nothing else moves.
    fares = held.column("fare").combine_chunks()
    five_times = pa.ListArray.from_arrays(fares.offsets, pa.compute.multiply(fares.flatten(), 5.0))
    distances = _distances(_batch(held.set_column(held.schema.get_field_index("fare"), "fare", five_times)),
                           _train_stats(taxi), DRIFT)
    assert sorted(name for name, d in distances.items() if d["value"] > d["bound"]) == ["fare"], distances


def test_the_sample_keeps_at_most_max_rows_and_counts_every_score():
    sample = SkewSample(max_rows=150)
    features = pa.RecordBatch.from_arrays([pa.array(np.arange(100.0))], ["x"])
    for _ in range(3):
        assert sample.wants_features == (sample.rows < 150)
        sample.add(features if sample.wants_features else None, np.linspace(0, 1, 100), np.repeat([0, 1], 50))
    assert sample.rows == 150 and sum(b.num_rows for b in sample.batches) == 150
    outputs = sample.outputs(None)
    assert sum(outputs["score_histogram"]["counts"]) == 300
    assert len(outputs["score_histogram"]["counts"]) == HISTOGRAM_BINS
    assert outputs["predicted_shares"] == {"0": 0.5, "1": 0.5}
    assert sample.outputs(["no", "yes"])["predicted_shares"] == {"no": 0.5, "yes": 0.5}


def test_without_training_statistics_skew_is_reported_as_not_measured(tmp_path):
    manifest = SimpleNamespace(version=3, run_id="manual__x", extra={"mlmd_sqlite": str(tmp_path / "absent.sqlite")})
    result = measure(SkewSample(), manifest, DRIFT, None)
    assert result["status"] == "not measured: version 3 names no reachable ML Metadata store"
    assert measure(SkewSample(), manifest, DriftSpec(), None)["status"] == \
        "not measured: the spec sets no drift bounds"


def test_outputs_are_compared_with_the_evaluation_splits():
    from nightshift_tfx.skew import outputs_vs_evaluation

    scored = {"score_histogram": {"bins": 10, "counts": [50, 10, 0, 0, 0, 0, 0, 0, 10, 30]}}
    same = outputs_vs_evaluation(scored, {"score_histogram": {"bins": 10, "counts": [5, 1, 0, 0, 0, 0, 0, 0, 1, 3]}},
                                 None)
    assert same["measure"] == "js" and same["value"] == 0.0
    # The evaluation split's scores all in the middle bins, where this run has none: disjoint, the maximum.
    apart = outputs_vs_evaluation(scored, {"score_histogram": {"bins": 10, "counts": [0, 0, 0, 0, 7, 3, 0, 0, 0, 0]}},
                                  None)
    assert apart["value"] == pytest.approx(1.0)
    shares = outputs_vs_evaluation({"predicted_shares": {"Adelie": 0.5, "Gentoo": 0.5}},
                                   {"predicted_shares": {"0": 0.4, "1": 0.3, "2": 0.3}},
                                   ["Adelie", "Chinstrap", "Gentoo"])
    assert shares == {"measure": "linf", "value": 0.3, "evaluation": {"Adelie": 0.4, "Chinstrap": 0.3, "Gentoo": 0.3}}
    assert outputs_vs_evaluation(scored, None, None)["status"].startswith("not recorded")


def test_a_binary_evaluation_plots_its_score_histogram_in_the_scorers_bins():
    from nightshift_tfx.eval_config import build_eval_config

    from nightshift.core.spec import EvaluationSpec

    binary = build_eval_config(EvaluationSpec(label_key="y", thresholds={"binary_accuracy": 0.6}),
                               gate_lower_bound=0.6)
    plots = [m for m in binary.metrics_specs[0].metrics if m.class_name == "CalibrationPlot"]
    assert [p.config for p in plots] == ['{"num_buckets": 10, "left": 0.0, "right": 1.0}']
    multi = build_eval_config(EvaluationSpec(label_key="y", thresholds={"sparse_categorical_accuracy": 0.4},
                                             gate_metric="sparse_categorical_accuracy"), gate_lower_bound=0.4)
    assert not [m for m in multi.metrics_specs[0].metrics if m.class_name == "CalibrationPlot"]


def test_the_evaluation_calibration_plot_becomes_the_scorers_histogram():
    from nightshift_tfx.evaluation_report import score_histogram
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2

    plot = metrics_for_slice_pb2.PlotData()
    edges = [float("-inf"), *[i / 10 for i in range(11)]]  # underflow, ten bins, overflow [1, inf)
    for i, low in enumerate(edges):
        bucket = plot.calibration_histogram_buckets.buckets.add(lower_threshold_inclusive=low)
        bucket.num_weighted_examples.value = float(i)
    # underflow (0) joins bin 0, overflow (11) joins bin 9
    assert score_histogram([plot], 10) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0 + 11.0]

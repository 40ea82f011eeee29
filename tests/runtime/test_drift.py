"""Runs in the TFX interpreter (.venv-tfx): TFDV drift comparators on real statistics."""

from __future__ import annotations

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from nightshift_tfx.drift import drift_problems

from nightshift.spec import DriftSpec

pytestmark = pytest.mark.unit


def _stats(df: pd.DataFrame):
    return tfdv.generate_statistics_from_dataframe(df)


@pytest.fixture(scope="module")
def baseline() -> pd.DataFrame:
    n = 2000
    return pd.DataFrame({
        "payment_type": ["Cash"] * (n * 2 // 3) + ["Credit Card"] * (n - n * 2 // 3),
        "fare": [5.0 + (i % 40) for i in range(n)],
    })


def test_same_distribution_has_no_drift(baseline):
    stats = _stats(baseline)
    schema = tfdv.infer_schema(stats)
    assert drift_problems(stats, _stats(baseline.sample(frac=1.0, random_state=1)), schema,
                          DriftSpec(categorical_linf=0.1, numeric_js=0.1)) == []


def test_categorical_and_numeric_drift_are_named(baseline):
    shifted = baseline.assign(payment_type="Credit Card", fare=baseline["fare"] * 10)
    schema = tfdv.infer_schema(_stats(baseline))
    problems = drift_problems(_stats(shifted), _stats(baseline), schema,
                              DriftSpec(categorical_linf=0.1, numeric_js=0.1))
    assert any("'payment_type'" in p for p in problems), problems
    assert any("'fare'" in p for p in problems), problems


def test_zero_bounds_switch_the_check_off(baseline):
    shifted = baseline.assign(payment_type="Credit Card")
    schema = tfdv.infer_schema(_stats(baseline))
    assert drift_problems(_stats(shifted), _stats(baseline), schema, DriftSpec()) == []
    # a per-feature override turns it back on for that feature only
    assert drift_problems(_stats(shifted), _stats(baseline), schema,
                          DriftSpec(features={"payment_type": 0.1}))

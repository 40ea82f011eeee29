"""Runs in the TFX interpreter (.venv-tfx): TFDV drift comparators on real statistics."""

from __future__ import annotations

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from nightshift_tfx.drift import drift_problems

from nightshift.core.spec import DriftSpec

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
    # One line per drifted feature, sorted by name, each naming its comparator's value and bound.
    assert [p.split(": ", 1)[0] for p in problems] == ["feature 'fare'", "feature 'payment_type'"], problems
    # Fares ten times larger share no histogram bucket with the old ones: the divergence is 1.
    assert "Jensen-Shannon divergence between current and previous is 1 " in problems[0], problems
    # Every Cash row became Credit Card: the L-infinity distance is the share of Cash in the baseline.
    moved = (baseline["payment_type"] == "Cash").mean()
    assert f"Linfty distance between current and previous is {moved:g} " in problems[1], (moved, problems)
    assert all("above the threshold 0.1" in p for p in problems), problems


def test_zero_bounds_switch_the_check_off(baseline):
    shifted = baseline.assign(payment_type="Credit Card")
    schema = tfdv.infer_schema(_stats(baseline))
    assert drift_problems(_stats(shifted), _stats(baseline), schema, DriftSpec()) == []
    # a per-feature override turns it back on for that feature only
    assert drift_problems(_stats(shifted), _stats(baseline), schema,
                          DriftSpec(features={"payment_type": 0.1}))


def test_a_column_that_changed_type_is_named_against_the_served_schema(baseline):
    from nightshift_tfx.drift import schema_problems

    served_schema = tfdv.infer_schema(_stats(baseline))
    changed = baseline.assign(fare=[f"{v:.2f} USD" for v in baseline["fare"]])  # a number became a string
    problems = schema_problems(_stats(changed), served_schema)
    assert len(problems) == 1 and problems[0].startswith("feature 'fare': "), problems


def test_a_new_value_of_a_string_column_is_not_a_structural_change(baseline):
    from nightshift_tfx.drift import schema_problems

    served_schema = tfdv.infer_schema(_stats(baseline))
    assert schema_problems(_stats(baseline.assign(payment_type="Mobile")), served_schema) == []
    assert schema_problems(_stats(baseline), served_schema) == []

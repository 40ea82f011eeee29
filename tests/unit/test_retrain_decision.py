"""When the monitor asks for a retrain, and what it says: the served version only, realized bounds and
skew that persists."""

from __future__ import annotations

import dataclasses

import pytest

from nightshift.control.monitoring import PartitionReport, retrain_reason
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.spec_loading import load_spec

pytestmark = pytest.mark.unit
SPEC = load_spec(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml", PROJECT_ROOT)


def _report(day: int, version: int, *, skew: str = "ok (10 features)", breaches: tuple[str, ...] = ()):
    return PartitionReport(partition=f"date=2030-01-0{day}", predictions="", model_version=version, scoring_run="r",
                           rows_scored=100, skew=skew, breaches=list(breaches))


def test_nothing_breached_asks_for_nothing():
    assert retrain_reason(SPEC, [_report(1, 4), _report(2, 4)], served_version=4) is None


def test_a_realized_breach_of_the_served_version_names_the_latest_partition():
    reports = [_report(1, 4, breaches=("realized binary_accuracy 0.5000 < 0.7 on 300 labelled rows",)),
               _report(2, 4, breaches=("realized binary_accuracy 0.4000 < 0.7 on 200 labelled rows",))]
    assert retrain_reason(SPEC, reports, served_version=4) == (
        "taxi v4 on date=2030-01-02: realized binary_accuracy 0.4000 < 0.7 on 200 labelled rows "
        "(and 1 earlier partition(s))")
    assert retrain_reason(SPEC, reports, served_version=5) is None  # already replaced by v5


def test_skew_retrains_only_when_it_persists_for_skew_runs_partitions():
    breach = "breach: payment_type linf 0.6000 > 0.3"
    assert SPEC.monitoring.skew_runs == 3
    two = [_report(1, 4), _report(2, 4, skew=breach), _report(3, 4, skew=breach)]
    assert retrain_reason(SPEC, two, served_version=4) is None
    three = [*two, _report(4, 4, skew=breach)]
    assert retrain_reason(SPEC, three, served_version=4) == (
        "taxi v4: skew in each of the last 3 scored partitions (date=2030-01-02 to date=2030-01-04), "
        "latest: payment_type linf 0.6000 > 0.3")
    both = [*three[:-1], _report(4, 4, skew=breach, breaches=("realized auc 0.5000 < 0.6 on 100 labelled rows",))]
    assert retrain_reason(SPEC, both, served_version=4) == (
        "taxi v4 on date=2030-01-04: realized auc 0.5000 < 0.6 on 100 labelled rows; skew in each of the last 3 "
        "scored partitions (date=2030-01-02 to date=2030-01-04), latest: payment_type linf 0.6000 > 0.3")
    off = dataclasses.replace(SPEC, monitoring=dataclasses.replace(SPEC.monitoring, skew_runs=0))
    assert retrain_reason(off, three, served_version=4) is None

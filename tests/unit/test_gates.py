"""The gates a run passes before its model is published: the trivial-model baseline and the trigger form's
bound. Plain functions, so their rules are tested here without TFX or Airflow."""

from __future__ import annotations

import pytest

from nightshift.core.baseline import BaselineCheck, binary_class_counts, majority_share
from nightshift.core.run_config import ParamsRefused, resolve_gate

pytestmark = pytest.mark.unit


def test_the_issue_s_constant_guesser_is_refused():
    """The data engineer's model: 0.7714 accuracy where always answering the majority class scores 0.7716."""
    counts = {0: 21_530, 1: 6_372}  # 27,902 rows, 77.16 % in class 0
    trivial = majority_share(counts)
    assert round(trivial, 4) == 0.7716
    check = BaselineCheck(metric="binary_accuracy", model=0.7714, trivial=trivial, margin=0.02)
    assert not check.passed
    assert check.describe() == ("binary_accuracy = 0.7714 does not beat the majority-class baseline 0.7716 "
                                "+ margin 0.02 = 0.7916")


@pytest.mark.parametrize(("model", "passed"), [(0.7916, True), (0.7915, False), (0.85, True)])
def test_the_bar_is_the_baseline_plus_the_margin_inclusive(model, passed):
    check = BaselineCheck(metric="binary_accuracy", model=model, trivial=0.7716, margin=0.02)
    assert check.required == 0.7916 and check.passed is passed
    assert check.as_dict() == {"metric": "binary_accuracy", "model": model, "trivial": 0.7716, "margin": 0.02,
                               "required": 0.7916, "passed": passed}


def test_binary_counts_come_from_tfma_s_mean_label():
    assert binary_class_counts(0.25, 400) == {0: 300.0, 1: 100.0}
    assert majority_share(binary_class_counts(0.8, 50)) == pytest.approx(0.8)  # positives may be the majority


def test_a_multiclass_baseline_is_the_largest_class_share():
    assert majority_share({0: 152, 1: 68, 2: 124}) == pytest.approx(152 / 344)


def test_an_empty_evaluation_split_has_no_baseline():
    with pytest.raises(ValueError, match="no labelled examples"):
        majority_share({0: 0.0, 1: 0.0})


def _gate(**overrides):
    args = {"spec_bound": 0.6, "gate_threshold": 0.6, "experiment_gate_threshold": None, "publish": True,
            "run_type": "manual", "conf": {}}
    return resolve_gate(**{**args, **overrides})


def test_the_form_can_raise_the_bar():
    assert _gate(gate_threshold=0.8) == (0.8, True)


def test_a_lower_bar_is_refused_for_a_published_model_and_names_the_bound():
    with pytest.raises(ParamsRefused, match=r"experiment_gate_threshold 0.1 is only allowed with publish false; "
                                            r"a published model must reach the spec's bound 0.6"):
        _gate(experiment_gate_threshold=0.1)
    with pytest.raises(ParamsRefused, match=r"gate_threshold 0.5 is below the spec's bound 0.6"):
        _gate(gate_threshold=0.5)


def test_an_experiment_may_lower_the_bar_when_nothing_is_published():
    assert _gate(experiment_gate_threshold=0.1, publish=False) == (0.1, False)


@pytest.mark.parametrize(("conf", "expected"), [({}, False), ({"publish": True}, True), ({"publish": False}, False)])
def test_a_backfill_publishes_only_when_its_conf_says_so(conf, expected):
    assert _gate(run_type="backfill", conf=conf, publish=conf.get("publish", True)) == (0.6, expected)


def test_a_backfill_may_run_an_experiment_bar_because_it_does_not_publish():
    assert _gate(run_type="backfill", experiment_gate_threshold=0.3) == (0.3, False)


def test_a_run_config_written_before_the_rename_reads_its_bar_as_the_gate_threshold(tmp_path):
    import json
    from dataclasses import asdict

    from nightshift.core.run_config import RunConfig

    current = RunConfig(pipeline="taxi", spec_path="s", run_id="r", run_dir=str(tmp_path), input_base="i",
                        pipeline_root="p", mlmd_sqlite="m", train_steps=10, eval_steps=5, gate_threshold=0.7,
                        publish=True)
    old = asdict(current)
    old["min_accuracy"] = old.pop("gate_threshold")
    (tmp_path / "run_config.json").write_text(json.dumps(old))
    assert RunConfig.read(tmp_path) == current

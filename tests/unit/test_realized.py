"""Joining late labels to predictions, and the realized metrics computed from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nightshift.control.realized import (
    TRUTH,
    LabelFeedError,
    auc,
    breaches,
    fingerprints,
    join_labels,
    realized_metrics,
)

pytestmark = pytest.mark.unit


def _scored(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    fare = rng.uniform(3, 40, n).round(2)
    tips = np.where(rng.random(n) < 0.3, fare * 0.3, fare * 0.05).round(2)
    scored = pd.DataFrame({"fare": fare, "company": rng.choice(["a", "b", None], n), "hour": rng.integers(0, 24, n)})
    score = np.clip((tips > 0.2 * fare) * 0.6 + rng.uniform(0, 0.4, n), 0, 1).astype("float32")
    predictions = pd.DataFrame({"row_number": np.arange(n), "score": score,
                                "predicted_label": (score >= 0.5).astype("int8")})
    return scored, predictions, tips


def test_the_scored_rows_with_their_label_added_join_every_row_in_any_order():
    scored, predictions, tips = _scored(500)
    labels = scored.assign(tips=tips).sample(frac=1.0, random_state=3)  # shuffled, label column added
    joined = join_labels(predictions, scored, labels, label_column="tips", label_rule="tips > 0.2 * fare",
                         key_column=None, where="labels.csv")
    assert len(joined) == 500
    by_row = joined.set_index("row_number")[TRUTH].sort_index().to_numpy()
    assert (by_row == (tips > 0.2 * scored["fare"].to_numpy()).astype(int)).all()


def test_labels_read_back_from_csv_join_rows_read_as_other_dtypes(tmp_path):
    scored, predictions, tips = _scored(200)
    scored.loc[:9, "hour"] = None  # an int column with gaps: float64 in one file
    path = tmp_path / "labels.csv"
    scored.iloc[10:].assign(tips=tips[10:]).to_csv(path, index=False)  # no gaps: int64 when read back
    joined = join_labels(predictions, scored, pd.read_csv(path), label_column="tips", label_rule=None,
                         key_column=None, where=str(path))
    assert sorted(joined["row_number"]) == list(range(10, 200))


def test_duplicate_rows_pair_one_to_one():
    scored = pd.DataFrame({"x": [1.0, 1.0, 1.0, 2.0]})
    predictions = pd.DataFrame({"row_number": range(4), "score": [0.9, 0.9, 0.9, 0.1], "predicted_label": [1, 1, 1, 0]})
    labels = pd.DataFrame({"x": [1.0, 1.0, 2.0], "y": [1, 0, 0]})
    joined = join_labels(predictions, scored, labels, label_column="y", label_rule=None, key_column=None, where="l")
    assert len(joined) == 3  # two of the three copies of x=1 have a label; none counted twice
    assert sorted(joined[TRUTH].tolist()) == [0, 0, 1]


def test_a_key_column_joins_without_features():
    predictions = pd.DataFrame({"row_number": range(3), "trip": ["t1", "t2", "t3"], "score": [0.8, 0.2, 0.7],
                                "predicted_label": [1, 0, 1]})
    labels = pd.DataFrame({"trip": ["t3", "t1", "t9"], "big_tip": [0, 1, 1]})
    joined = join_labels(predictions, None, labels, label_column="big_tip", label_rule=None, key_column="trip",
                         where="l")
    assert dict(zip(joined["trip"], joined[TRUTH], strict=True)) == {"t1": 1, "t3": 0}


def test_feeds_that_cannot_join_name_the_file_and_what_is_missing():
    scored, predictions, tips = _scored(20)
    with pytest.raises(LabelFeedError, match=r"l\.csv: label column 'tips' is missing"):
        join_labels(predictions, scored, scored, label_column="tips", label_rule=None, key_column=None,
                    where="l.csv")
    with pytest.raises(LabelFeedError, match="shares no feature column"):
        join_labels(predictions, scored, pd.DataFrame({"tips": tips}), label_column="tips", label_rule=None,
                    key_column=None, where="l.csv")
    with pytest.raises(LabelFeedError, match="changed after scoring"):
        join_labels(predictions, scored.iloc[:10], scored.assign(tips=tips), label_column="tips",
                    label_rule=None, key_column=None, where="l.csv")
    with pytest.raises(LabelFeedError, match="label_rule 'tipz > 1' does not evaluate"):
        join_labels(predictions, scored, scored.assign(tips=tips), label_column="tips", label_rule="tipz > 1",
                    key_column=None, where="l.csv")


def test_binary_metrics_match_their_definitions_and_the_majority_baseline_comes_from_the_labels():
    scored, predictions, tips = _scored(1000, seed=5)
    joined = join_labels(predictions, scored, scored.assign(tips=tips), label_column="tips",
                         label_rule="tips > 0.2 * fare", key_column=None, where="l")
    m = realized_metrics(joined, ("binary_accuracy", "auc", "precision", "recall", "f1"), "l")
    truth = (tips > 0.2 * scored["fare"].to_numpy()).astype(int)
    predicted = predictions["predicted_label"].to_numpy()
    assert m["binary_accuracy"] == pytest.approx((truth == predicted).mean())
    assert m["majority_baseline"] == pytest.approx(max(truth.mean(), 1 - truth.mean()))
    tp = ((truth == 1) & (predicted == 1)).sum()
    assert m["precision"] == pytest.approx(tp / predicted.sum())
    assert m["recall"] == pytest.approx(tp / truth.sum())
    # AUC by its definition: the share of (positive, negative) pairs ranked the right way, ties half.
    s = predictions["score"].to_numpy()
    pos, neg = s[truth == 1], s[truth == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert m["auc"] == pytest.approx(pairs / (len(pos) * len(neg)))


def test_flipped_labels_turn_accuracy_into_its_complement_and_breach_the_bound():
    scored, predictions, tips = _scored(400, seed=2)
    labels = scored.assign(big=(tips <= 0.2 * scored["fare"]).astype(int))  # the opposite of the truth
    right = realized_metrics(join_labels(predictions, scored, scored.assign(big=1 - labels["big"]),
                                         label_column="big", label_rule=None, key_column=None, where="l"),
                             ("binary_accuracy",), "l")
    wrong = realized_metrics(join_labels(predictions, scored, labels, label_column="big", label_rule=None,
                                         key_column=None, where="l"), ("binary_accuracy",), "l")
    assert wrong["binary_accuracy"] == pytest.approx(1 - right["binary_accuracy"])
    assert breaches(wrong, {"binary_accuracy": 0.7}, 400, 100) == [
        f"realized binary_accuracy {wrong['binary_accuracy']:.4f} < 0.7 on 400 labelled rows"]
    assert breaches(wrong, {"binary_accuracy": 0.7}, 99, 100) == []  # too few labels to judge
    assert breaches(right, {"binary_accuracy": 0.7}, 400, 100) == []


def test_multiclass_accuracy_compares_class_names():
    joined = pd.DataFrame({"predicted_label": [0, 1, 2, 2], "predicted_class": ["Adelie", "Gentoo", "Chinstrap",
                                                                                  "Chinstrap"],
                           TRUTH: ["Adelie", "Gentoo", "Gentoo", "Gentoo"]})
    m = realized_metrics(joined, ("sparse_categorical_accuracy",), "l")
    assert m == {"sparse_categorical_accuracy": 0.5, "majority_baseline": 0.75}


def test_binary_labels_must_be_classes():
    joined = pd.DataFrame({"predicted_label": [0, 1], "score": [0.1, 0.9], TRUTH: [3.5, 0.0]})
    with pytest.raises(LabelFeedError, match="must be 0 or 1"):
        realized_metrics(joined, ("binary_accuracy",), "l.csv")


def test_auc_is_none_with_one_class_and_fingerprints_count_occurrences():
    assert auc(np.array([1, 1]), np.array([0.2, 0.3])) is None
    prints = fingerprints(pd.DataFrame({"a": [1, 1, 2]}), ["a"])
    assert prints.iloc[:, 1].tolist() == [0, 1, 0]
    assert prints.iloc[0, 0] == prints.iloc[1, 0] != prints.iloc[2, 0]

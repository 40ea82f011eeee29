"""Realized performance: join labels that arrived later to the predictions they judge, and score them.

A label row finds its prediction by the scoring input's key column when the spec names one; otherwise by a
fingerprint of the feature values the label feed shares with the scored input, so the scored file with its
label column added joins. Equal rows are paired in order (the n-th copy of a row in the labels with the n-th
copy in the scored input), so duplicates neither multiply nor vanish.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nightshift.core.errors import NightshiftError
from nightshift.core.metrics import BINARY, METRICS

if TYPE_CHECKING:
    import pandas as pd

FINGERPRINT, OCCURRENCE, TRUTH = "_nightshift_fingerprint", "_nightshift_occurrence", "_nightshift_truth"


class LabelFeedError(NightshiftError):
    """A label feed cannot be joined or read as labels (a column missing, a rule that does not evaluate)."""


def _canonical(column: pd.Series) -> pd.Series:
    """One text per value, equal for equal values whichever file and dtype they came from: an int column
    read with a gap becomes float in pandas, so numbers are compared as float64; a missing value is empty."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(column):
        column = column.astype("float64")
    if pd.api.types.is_numeric_dtype(column):
        as_float = column.astype("float64")
        return as_float.map(repr).where(as_float.notna(), "")
    numeric = pd.to_numeric(column, errors="coerce")
    text = column.astype("string").fillna("")
    # A column of numbers that one file holds as text (a quoted CSV, a string Parquet column) still matches.
    return numeric.map(repr).where(numeric.notna(), text).astype(str)


def fingerprints(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """(fingerprint, occurrence) per row: a 64-bit hash of the row's values in `columns`, and how many
    earlier rows had the same one."""
    import pandas as pd

    canonical = pd.DataFrame({c: _canonical(frame[c]) for c in columns}, index=frame.index)
    hashed = pd.util.hash_pandas_object(canonical, index=False)
    out = pd.DataFrame({FINGERPRINT: hashed.to_numpy()}, index=frame.index)
    out[OCCURRENCE] = out.groupby(FINGERPRINT).cumcount()
    return out


def true_classes(labels: pd.DataFrame, label_column: str, label_rule: str | None, where: str) -> pd.Series:
    """The class each label row holds: the label column, or the spec's rule evaluated on the row."""
    if label_rule:
        try:
            truth = labels.eval(label_rule, engine="python")
        except Exception as exc:  # pandas raises many kinds for a bad expression
            raise LabelFeedError(f"{where}: monitoring.label_rule {label_rule!r} does not evaluate on its columns "
                                 f"({', '.join(map(str, labels.columns))}): {exc}") from exc
        return truth.astype("int64") if truth.dtype == bool else truth
    if label_column not in labels.columns:
        raise LabelFeedError(f"{where}: label column {label_column!r} is missing; columns found: "
                             f"{', '.join(map(str, labels.columns))}")
    return labels[label_column]


def join_labels(predictions: pd.DataFrame, scored: pd.DataFrame | None, labels: pd.DataFrame, *,
                label_column: str, label_rule: str | None, key_column: str | None, where: str) -> pd.DataFrame:
    """The predictions that have a label, with the true class in `TRUTH`.

    `predictions` is the committed prediction file (row_number[, key], score, predicted_label[,
    predicted_class]); `scored` is the input it scored, needed only for the fingerprint join."""
    import pandas as pd

    truth = true_classes(labels, label_column, label_rule, where)
    if key_column:
        if key_column not in labels.columns:
            raise LabelFeedError(f"{where}: key column {key_column!r} (the spec's scoring.key_column) is missing")
        left = predictions.assign(**{FINGERPRINT: predictions[key_column].astype(str)})
        right = pd.DataFrame({FINGERPRINT: labels[key_column].astype(str).to_numpy(), TRUTH: truth.to_numpy()})
    else:
        if scored is None:
            raise LabelFeedError(f"{where}: no key column, and the scored input is not readable to fingerprint")
        if len(scored) != len(predictions):
            raise LabelFeedError(f"{where}: the scored input now has {len(scored)} rows, the predictions "
                                 f"{len(predictions)}; it changed after scoring, so its rows cannot be matched")
        shared = [c for c in scored.columns if c in labels.columns and c != label_column]
        if not shared:
            raise LabelFeedError(f"{where}: shares no feature column with the scored input (it has "
                                 f"{', '.join(map(str, labels.columns))}); add the features or a key column")
        prints = fingerprints(scored.reset_index(drop=True), shared)
        left = predictions.sort_values("row_number").reset_index(drop=True)
        left = left.assign(**{FINGERPRINT: prints[FINGERPRINT].to_numpy(), OCCURRENCE: prints[OCCURRENCE].to_numpy()})
        label_prints = fingerprints(labels.reset_index(drop=True), shared)
        right = label_prints.assign(**{TRUTH: truth.to_numpy()})
        return left.merge(right, on=[FINGERPRINT, OCCURRENCE], how="inner")
    left[OCCURRENCE] = left.groupby(FINGERPRINT).cumcount()
    right[OCCURRENCE] = right.groupby(FINGERPRINT).cumcount()
    return left.merge(right, on=[FINGERPRINT, OCCURRENCE], how="inner")


def _binary_truth(truth: pd.Series, where: str) -> np.ndarray:
    values = truth.to_numpy()
    try:
        as_int = values.astype("float64")
    except (TypeError, ValueError):
        as_int = np.array([np.nan])
    if not np.isin(as_int, (0.0, 1.0)).all():
        found = sorted({str(v) for v in values[:1000]})[:5]
        raise LabelFeedError(f"{where}: a binary model's labels must be 0 or 1 (or a label_rule that gives them); "
                             f"found {', '.join(found)}")
    return as_int.astype("int64")


def auc(truth: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum identity (ties count half); None when only one class is present."""
    from scipy.stats import rankdata

    positives = int(truth.sum())
    negatives = len(truth) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[truth == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def realized_metrics(joined: pd.DataFrame, metric_names: tuple[str, ...], where: str) -> dict[str, float | None]:
    """The spec's evaluation metrics on the labelled predictions, and the share of the majority true class
    (what always answering that class would score: the baseline any accuracy is read against)."""
    if joined.empty:
        return {name: None for name in (*metric_names, "majority_baseline")}
    out: dict[str, float | None] = {}
    kind = METRICS[metric_names[0]].kind
    if kind == BINARY:
        truth = _binary_truth(joined[TRUTH], where)
        predicted = joined["predicted_label"].to_numpy().astype("int64")
        tp = int(((predicted == 1) & (truth == 1)).sum())
        precision = tp / int(predicted.sum()) if predicted.sum() else None
        recall = tp / int(truth.sum()) if truth.sum() else None
        values: dict[str, float | None] = {
            "binary_accuracy": float((predicted == truth).mean()),
            "auc": auc(truth, joined["score"].to_numpy()),
            "precision": precision, "recall": recall,
            "f1": (2 * precision * recall / (precision + recall)) if precision and recall else None,
        }
        majority = max(truth.mean(), 1 - truth.mean())
    else:
        if "predicted_class" in joined.columns and not _numeric(joined[TRUTH]):
            hits = joined["predicted_class"].astype(str).to_numpy() == joined[TRUTH].astype(str).to_numpy()
        else:
            hits = joined["predicted_label"].to_numpy().astype("int64") == joined[TRUTH].to_numpy().astype("int64")
        values = {"sparse_categorical_accuracy": float(hits.mean())}
        majority = float(joined[TRUTH].astype(str).value_counts(normalize=True).iloc[0])
    for name in metric_names:
        out[name] = values.get(name)
    out["majority_baseline"] = float(majority)
    return out


def _numeric(series: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series))


def breaches(metrics: dict[str, Any], bounds: dict[str, float], labelled: int, min_rows: int) -> list[str]:
    """Each bound a realized metric fell below, as text; none while too few rows are labelled to judge."""
    if labelled < min_rows:
        return []
    found = []
    for name, bound in sorted(bounds.items()):
        value = metrics.get(name)
        if value is not None and value < bound:
            found.append(f"realized {name} {value:.4f} < {bound:g} on {labelled} labelled rows")
    return found

"""How closely an optimised form's outputs follow the SavedModel's on the same rows. Plain numpy: the rule that
decides whether a form is published is tested without TensorFlow or ONNX Runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from nightshift_tfx.model_metadata import summarise


@dataclass(frozen=True)
class Agreement:
    rows: int
    max_abs_diff: float  # over every output value (a binary model's probability, or each class's), NaN-free ones
    same_label: float  # share of rows whose predicted class is the same
    accuracy: float | None  # the form's, against the held-out labels
    reference_accuracy: float | None  # the SavedModel's, on the same rows
    nan_mismatches: int = 0  # output values that are NaN in one and a number in the other

    @property
    def accuracy_delta(self) -> float | None:
        """The form's accuracy minus the SavedModel's (negative: the form is worse)."""
        if self.accuracy is None or self.reference_accuracy is None:
            return None
        return self.accuracy - self.reference_accuracy

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"accuracy_delta": self.accuracy_delta}


def measure(reference: np.ndarray, form: np.ndarray, labels: np.ndarray | None = None) -> Agreement:
    reference, form = np.asarray(reference, dtype=np.float64), np.asarray(form, dtype=np.float64)
    if reference.shape != form.shape:
        raise ValueError(f"outputs differ in shape: SavedModel {reference.shape}, form {form.shape}")
    _, ref_labels = summarise(reference)
    _, form_labels = summarise(form)
    rows = len(ref_labels)
    accuracy = reference_accuracy = None
    if labels is not None and rows:
        accuracy = float(np.mean(form_labels == labels))
        reference_accuracy = float(np.mean(ref_labels == labels))
    gaps = np.abs(reference - form)
    gaps[np.isnan(reference) & np.isnan(form)] = 0.0  # NaN in, NaN out: the same answer from both
    mismatched = np.isnan(gaps)  # NaN where the other has a number: counted apart, never agrees
    diff = float(gaps[~mismatched].max()) if (~mismatched).any() else 0.0
    return Agreement(rows, diff, float(np.mean(ref_labels == form_labels)) if rows else 1.0, accuracy,
                     reference_accuracy, int(mismatched.sum()))


def refusals(agreement: Agreement, max_abs_diff: float, max_accuracy_drop: float | None = None) -> list[str]:
    """Why a form must not be published (empty: it may be). Every reason carries the measured figure."""
    reasons = []
    if agreement.rows == 0:
        reasons.append("no held-out rows to measure it on")
    if agreement.nan_mismatches:
        reasons.append(f"{agreement.nan_mismatches} output value(s) are NaN in one of the two models and a number "
                       f"in the other, on {agreement.rows} held-out rows")
    if not agreement.max_abs_diff <= max_abs_diff:
        reasons.append(f"scores differ from the SavedModel's by up to {agreement.max_abs_diff:.3g} "
                       f"(tolerance {max_abs_diff:g}) on {agreement.rows} held-out rows")
    delta = agreement.accuracy_delta
    if max_accuracy_drop is not None and delta is None:
        reasons.append("its accuracy could not be measured: the held-out rows have no labels")
    elif max_accuracy_drop is not None and delta is not None and delta < -max_accuracy_drop:
        reasons.append(f"accuracy {agreement.accuracy:.4f} is {-delta:.4f} below the SavedModel's "
                       f"{agreement.reference_accuracy:.4f} (bound {max_accuracy_drop:g})")
    return reasons

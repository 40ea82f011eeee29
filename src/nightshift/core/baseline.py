"""The trivial-model gate: a model is published only if it beats always answering the most common class.

An absolute bound such as "accuracy >= 0.77" blesses a constant guesser on data where 77 % of rows share one
label. The bar here comes from the evaluation split itself: the majority class's share (what the constant
guesser scores) plus the spec's margin. For binary models the spec's AUC bound (default 0.6) does the same job
against the class prior, whose AUC is 0.5; that one is a plain TFMA threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class BaselineCheck:
    metric: str  # the spec's gate metric (an accuracy)
    model: float  # the challenger's value on the evaluation split
    trivial: float  # always answering the majority class, on the same split
    margin: float  # from the spec: evaluation.baseline_margin

    @property
    def required(self) -> float:
        return round(self.trivial + self.margin, 6)

    @property
    def passed(self) -> bool:
        return self.model >= self.required

    def describe(self) -> str:
        verdict = "beats" if self.passed else "does not beat"
        return (f"{self.metric} = {self.model:.4f} {verdict} the majority-class baseline {self.trivial:.4f} "
                f"+ margin {self.margin:g} = {self.required:.4f}")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "required": self.required, "passed": self.passed}


def majority_share(class_counts: dict[Any, float]) -> float:
    """The accuracy of always answering the most common class."""
    total = sum(class_counts.values())
    if total <= 0:
        raise ValueError("no labelled examples in the evaluation split: the baseline is undefined")
    return max(class_counts.values()) / total


def binary_class_counts(mean_label: float, examples: float) -> dict[int, float]:
    """Class counts of a 0/1 label from its mean (TFMA's MeanLabel) and the example count."""
    return {0: (1.0 - mean_label) * examples, 1: mean_label * examples}

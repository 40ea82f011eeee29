"""What a published model records about itself beside its SavedModel (written by nightshift_tfx.signatures at
export, read by the batch scorer): its raw features and, for classifiers, the class names in output order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FEATURES_FILE = Path("assets.extra") / "nightshift_features.json"
CLASSES_FILE = Path("assets.extra") / "nightshift_classes.json"
LABEL_THRESHOLD = 0.5


def load_classes(model_dir: Path) -> list[str] | None:
    """A classifier's class names in output order, if its module recorded them."""
    path = model_dir / CLASSES_FILE
    return json.loads(path.read_text()) if path.exists() else None


def summarise(outputs: Any) -> tuple[Any, Any]:
    """(score, predicted class index) per row. One output column is a binary model's positive-class
    probability (class 1 from 0.5); k columns are class probabilities (the most probable class wins)."""
    import numpy as np

    values = np.asarray(outputs, dtype=np.float32)
    if values.ndim == 1 or values.shape[-1] == 1:
        scores = values.reshape(-1)
        return scores, (scores >= LABEL_THRESHOLD).astype(np.int8)
    return values.max(axis=-1), values.argmax(axis=-1).astype(np.int8)


def load_feature_spec(model_dir: Path) -> dict[str, dict[str, Any]]:
    path = model_dir / FEATURES_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: the model does not record its raw features (trained by an old module?)")
    return json.loads(path.read_text())

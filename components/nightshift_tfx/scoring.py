"""Load a published model from the registry (checksums verified) and score raw CSV rows with it.

The batch-scoring DAG (a later issue) builds on this; today it is what the end-to-end test and
operators use to check a published model really loads and predicts.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

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


def rows_to_examples(rows: list[dict[str, str]], spec: dict[str, dict[str, Any]], where: str) -> list[bytes]:
    import tensorflow as tf

    out = []
    for i, row in enumerate(rows):
        feats = {}
        for name, info in spec.items():
            raw = (row.get(name) or "").strip()
            if raw == "":
                if info["required"]:
                    raise ValueError(f"{where}: row {i + 1}: column {name!r} is empty but the model requires it")
                continue
            try:
                if info["dtype"] == "float":
                    feats[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(raw)]))
                elif info["dtype"] == "int":
                    feats[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(raw))]))
                else:
                    feats[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[raw.encode()]))
            except ValueError as exc:
                raise ValueError(
                    f"{where}: row {i + 1}: column {name!r}: expected {info['dtype']}, got {raw!r}"
                ) from exc
        out.append(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    return out


def score_rows(model_dir: Path, rows: list[dict[str, str]], where: str = "input") -> list[float]:
    import tensorflow as tf

    spec = load_feature_spec(model_dir)
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    examples = rows_to_examples(rows, spec, where)
    scores, _ = summarise(serve(examples=tf.constant(examples))["outputs"].numpy())
    return [float(v) for v in scores]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nightshift_tfx.scoring")
    parser.add_argument("--model-uri", required=True, help="s3://bucket/<model>")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--version", type=int)
    args = parser.parse_args(argv)

    from nightshift.registry.store import ModelRegistry
    from nightshift.s3 import client_from_env

    with Path(args.csv).open(newline="", encoding="utf-8") as fh:
        rows = [row for _, row in zip(range(args.limit), csv.DictReader(fh), strict=False)]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = ModelRegistry(client_from_env(), args.model_uri).download_serving(Path(tmp), args.version)
        scores = score_rows(Path(tmp), rows, args.csv)
    print(json.dumps({"version": manifest.version, "rows": len(rows), "scores": scores}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

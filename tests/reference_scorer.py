"""Reference scorer for the end-to-end tests: one tf.Example per CSV row through `serving_default`, as TF Serving
would score it. Slow and simple on purpose: the batch scorer's fast path (serving_columns on Arrow batches)
is checked against it. Runs in the TFX interpreter: `.venv-tfx/bin/python tests/reference_scorer.py ...`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from nightshift_tfx.model_metadata import load_feature_spec, summarise


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
    parser = argparse.ArgumentParser(prog="tests/reference_scorer.py")
    parser.add_argument("--model-uri", required=True, help="s3://bucket/<model>")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--version", type=int)
    args = parser.parse_args(argv)

    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.s3 import client_from_env

    with Path(args.csv).open(newline="", encoding="utf-8") as fh:
        rows = [row for _, row in zip(range(args.limit), csv.DictReader(fh), strict=False)]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = ModelRegistry(client_from_env(), args.model_uri).download_serving(Path(tmp), args.version)
        scores = score_rows(Path(tmp), rows, args.csv)
    print(json.dumps({"version": manifest.version, "rows": len(rows), "scores": scores}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

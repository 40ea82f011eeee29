"""Benchmark: batch scoring of 1,000,000 and 5,000,000 taxi rows vs. the model's own signature, and each scoring
engine (the SavedModel in TensorFlow, the ONNX forms in ONNX Runtime) side by side on the same input.

Three phases, each in a fresh process so its peak RSS is its own:
  direct   the SavedModel's signatures called on pre-built batches (building them is not timed):
           serving_default on serialized tf.Examples, and serving_columns on column tensors (the
           scorer's own entry, so the stricter limit);
  1M, 5M   `score_file`, what `nightshift score` and the taxi_batch_score DAG run: CSV read in Arrow
           batches, encoded by tfx_bsl, scored, streamed into Parquet; once per engine (--engines).
A model without its ONNX forms (published before they existed) gets them exported into a copy here.
Rows are resampled (with replacement) from the real taxi CSV, without the label column, in chunks, so
the parent never holds the big files in memory.

The model: --model-dir (a serving folder) or, by default, the serving version of the registry in the
local stack's .env (`make up && make demo` publishes one); it is downloaded and checksum-verified.

At the smallest --rows, --repeat rounds (default 3) each run the signatures and then every scorer, and the
ratios are paired within a round: the signature's own speed moves by up to 20 % between processes here.

Usage (TFX interpreter): .venv-tfx/bin/python bench/score_throughput.py [--rows 1000000 5000000]
       [--repeat 3] [--direct-rows N] [--chunk-rows 32768] [--model-dir DIR | --model-uri s3://bucket/taxi]
       [--engines savedmodel onnx onnx_fp16 onnx_int8] [--parquet]
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from phases import run_phase  # bench/phases.py

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_input(source: Path, rows: int, dest: Path, seed: int = 11) -> None:
    """`rows` trips resampled from `source` (label dropped), written 100k rows at a time."""
    import numpy as np

    with source.open(newline="") as fh:
        data = list(csv.reader(fh))
    header, body = data[0], data[1:]
    drop = header.index("tips")
    header = [h for i, h in enumerate(header) if i != drop]
    rendered = io.StringIO()
    csv.writer(rendered, lineterminator="\n").writerows([v for i, v in enumerate(r) if i != drop] for r in body)
    lines = rendered.getvalue().splitlines()  # a taxi row has no embedded newline
    rng = np.random.default_rng(seed)
    with dest.open("w", newline="") as out:
        out.write(",".join(header) + "\n")
        for start in range(0, rows, 100_000):
            idx = rng.integers(0, len(lines), min(100_000, rows - start))
            out.write("\n".join(lines[i] for i in idx) + "\n")


def to_parquet(source: Path, model_dir: Path) -> Path:
    """`source`'s rows as Parquet, typed as a data lake holds them (float64, int64, string), written in row
    groups of ~130k rows without holding the file in memory."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from nightshift_tfx.model_metadata import load_feature_spec

    kinds = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}
    types = {name: kinds[info["dtype"]] for name, info in load_feature_spec(model_dir).items()}
    dest = source.with_suffix(".parquet")
    reader = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=16 << 20),
                            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True))
    with pq.ParquetWriter(dest, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
    return dest


def _phase_direct(model_dir: str, input_path: str, rows: int, chunk_rows: int, queue: mp.Queue) -> None:
    """The signatures alone on pre-built inputs (built before the clock starts): serving_default on
    serialized tf.Examples (TF Serving's entry) and, when the model has it, serving_columns on column
    tensors (the batch scorer's entry)."""
    import tensorflow as tf
    from nightshift_tfx.model_metadata import load_feature_spec
    from nightshift_tfx.score_input import iter_batches, to_column_tensors, to_examples_batch
    from tfx_bsl.coders import example_coder

    spec = load_feature_spec(Path(model_dir))
    signatures = tf.saved_model.load(model_dir).signatures
    encoder = example_coder.RecordBatchToExamplesEncoder(None)
    examples, columns, n = [], [], 0
    for batch in iter_batches(Path(input_path), spec, chunk_rows):
        examples.append(tf.constant(encoder.encode(to_examples_batch(batch, spec, input_path))))
        columns.append({k: tf.constant(v) for k, v in to_column_tensors(batch, spec, input_path).items()})
        n += batch.num_rows
        if n >= rows:
            break
    results = []
    for name, inputs in (("serving_default", [{"examples": e} for e in examples]), ("serving_columns", columns)):
        if name not in signatures:
            continue
        fn = signatures[name]
        fn(**inputs[0])  # the first call warms up; neither scorer pays it per row
        t = time.perf_counter()
        for kwargs in inputs:
            fn(**kwargs)["outputs"].numpy()
        label = "serialized tf.Examples" if name == "serving_default" else "column tensors"
        results.append((f"{name} on pre-built {label}", time.perf_counter() - t, n, _peak_mb()))
    queue.put(results)


def _phase_score(model_dir: str, input_path: str, chunk_rows: int, engine: str, queue: mp.Queue) -> None:
    from nightshift_tfx.batch_score import check_output, score_file

    out = Path(input_path).with_suffix(f".{engine}.parquet")
    stats = score_file(Path(model_dir), Path(input_path), out, model_version=0, run_id="bench",
                       chunk_rows=chunk_rows, engine=engine)
    problems = check_output(out, stats.rows)
    assert not problems, problems
    out.unlink()
    # score_file's own clock starts after the model is loaded, like the direct phase's
    source = " on Parquet" if input_path.endswith(".parquet") else ""
    queue.put((f"score_file {engine}{source}, {stats.rows:,} rows", stats.seconds, stats.rows, _peak_mb()))


def _with_forms(model_dir: Path, tmp: Path) -> Path:
    """`model_dir`, or a copy with the ONNX forms exported (unchecked: a benchmark measures speed only)."""
    import shutil

    from nightshift_tfx.forms.build import QUANTISERS
    from nightshift_tfx.forms.onnx_export import export

    from nightshift.core.registry.forms import FORM_FILES

    if (model_dir / FORM_FILES["onnx"]).is_file():
        return model_dir
    copy = tmp / "model_with_forms"
    shutil.copytree(model_dir, copy)
    export(copy, copy / FORM_FILES["onnx"])
    for name, quantise in QUANTISERS.items():
        quantise(copy / FORM_FILES["onnx"], copy / FORM_FILES[name])
    print("forms: exported here (the model was published without them)")
    return copy




def _model_dir(args: argparse.Namespace, tmp: Path) -> tuple[Path, Any]:
    """(the serving folder, its manifest: None for --model-dir)."""
    if args.model_dir:
        return Path(args.model_dir), None
    from nightshift.core.config import PROJECT_ROOT
    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.s3 import client_from_env
    from nightshift.core.spec_loading import load_spec

    uri = args.model_uri or load_spec(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml", PROJECT_ROOT).push.uri
    manifest = ModelRegistry(client_from_env(), uri).download_serving(tmp / "model")
    print(f"model: {uri} version {manifest.version} (downloaded, {len(manifest.files)} files verified)")
    return tmp / "model", manifest


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--direct-rows", type=int, help="rows the signatures run on (default: the smallest --rows)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds at the smallest --rows, direct then scoring")
    parser.add_argument("--chunk-rows", type=int, default=32_768)
    parser.add_argument("--model-dir")
    parser.add_argument("--model-uri")
    parser.add_argument("--engines", nargs="+", default=["savedmodel", "onnx", "onnx_fp16", "onnx_int8"])
    parser.add_argument("--parquet", action="store_true", help="also score the same rows from Parquet (savedmodel)")
    args = parser.parse_args()
    import tfx

    taxi_csv = Path(tfx.__file__).parent / "examples/chicago_taxi_pipeline/data/simple/data.csv"
    smallest = min(args.rows)
    # Each round: the signatures, then every scorer, each in a fresh process, on the same rows. The signature's
    # own speed moves by up to 20 % between processes here, so ratios are paired within a round and the
    # median round is the figure.
    rounds: list[dict[str, tuple]] = []
    larger: list[tuple] = []
    with tempfile.TemporaryDirectory(prefix="nightshift-bench-") as tmp_name:
        tmp = Path(tmp_name)
        model_dir, manifest = _model_dir(args, tmp)
        if set(args.engines) - {"savedmodel"}:
            model_dir = _with_forms(model_dir, tmp)
        for rows in sorted(args.rows):
            path = tmp / f"score_{rows}.csv"
            make_input(taxi_csv, rows, path)
            print(f"input: {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB CSV", flush=True)
            parquet = None
            if args.parquet:
                parquet = to_parquet(path, model_dir)
                print(f"input: the same rows as Parquet, {parquet.stat().st_size / 1e6:.0f} MB", flush=True)
            for _ in range(args.repeat if rows == smallest else 1):
                found: dict[str, tuple] = {}
                if rows == smallest:
                    for result in run_phase(_phase_direct, str(model_dir), str(path), args.direct_rows or rows,
                                       args.chunk_rows):
                        found[result[0]] = result
                for engine in args.engines:
                    result = run_phase(_phase_score, str(model_dir), str(path), args.chunk_rows, engine)
                    found[result[0]] = result
                if parquet:
                    result = run_phase(_phase_score, str(model_dir), str(parquet), args.chunk_rows, "savedmodel")
                    found[result[0]] = result
                if rows == smallest:
                    rounds.append(found)
                    print("round", len(rounds), ", ".join(f"{name.split(',')[0]} {r[2] / r[1]:,.0f} rows/s"
                                                          for name, r in found.items()), flush=True)
                else:
                    larger += found.values()
            if parquet:
                parquet.unlink()
            path.unlink()
    print(f"\n== batch scoring, chunks of {args.chunk_rows:,} rows; each phase in its own fresh process; "
          f"{len(rounds)} round(s) at {smallest:,} rows, medians ==")
    names = list(rounds[0])
    for name in names:
        runs = [r[name] for r in rounds]
        seconds = statistics.median([r[1] for r in runs])
        print(f"{name:50s} {seconds:8.2f} s  {runs[0][2] / seconds:10,.0f} rows/s  peak RSS "
              f"{max(r[3] for r in runs):7.0f} MB")
    for name, seconds, rows, peak in larger:
        print(f"{name:50s} {seconds:8.2f} s  {rows / seconds:10,.0f} rows/s  peak RSS {peak:7.0f} MB")
    direct = [n for n in names if not n.startswith("score_file")]
    scorers = [n for n in names if n.startswith("score_file")]  # every engine, against each signature
    for name in scorers:
        for ref in direct:
            ratios = [(r[name][2] / r[name][1]) / (r[ref][2] / r[ref][1]) for r in rounds]
            print(f"{name}: throughput {statistics.median(ratios):.2f}x {ref} (goal >= 0.8x; rounds: "
                  f"{', '.join(f'{x:.2f}' for x in ratios)})")
    saved_large = [r for r in larger if r[0].startswith("score_file savedmodel,")]
    saved_small = next((rounds[0][n] for n in names if n.startswith("score_file savedmodel,")), None)
    for name, seconds, rows, peak in saved_large:
        ref = [n for n in direct if n.startswith("serving_columns")] or direct
        ref_speed = statistics.median([r[ref[0]][2] / r[ref[0]][1] for r in rounds])
        print(f"{name}: throughput {rows / seconds / ref_speed:.2f}x {ref[0]} (median of the rounds' speed)")
        if saved_small:
            print(f"peak RSS {name} / {saved_small[0]}: {peak / saved_small[3]:.2f}x (goal <= 1.5x)")
    for name in names:
        engine = name.split(",")[0].removeprefix("score_file ")
        if name.startswith("score_file") and engine not in ("savedmodel", "savedmodel on Parquet"):
            ref = f"score_file savedmodel, {rounds[0][name][2]:,} rows"
            ratios = [r[ref][1] / r[name][1] for r in rounds]
            print(f"{smallest:,} rows, {engine} vs savedmodel: throughput {statistics.median(ratios):.2f}x, peak RSS "
                  f"{rounds[0][name][3] / rounds[0][ref][3]:.2f}x")
    _print_auto(manifest, [n for n in scorers if " on Parquet" not in n])
    return 0


def _print_auto(manifest: Any, scorers: list[str]) -> None:
    """Which engine `auto`, the default, scores this version with: its figures are that engine's above."""
    if manifest is None:
        print("auto (the default engine): chosen from the version's manifest, which --model-dir has none of")
        return
    from nightshift.core.registry.forms import choose_engine

    engine, why = choose_engine(manifest)
    measured = any(n.startswith(f"score_file {engine},") for n in scorers)
    print(f"auto (the default engine) scores version {manifest.version} with {engine} ({why})"
          + ("" if measured else f"; {engine} was not among --engines"))


if __name__ == "__main__":
    sys.exit(main())

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

Usage (TFX interpreter): .venv-tfx/bin/python bench/score_throughput.py [--rows 1000000 5000000]
       [--direct-rows 500000] [--chunk-rows 32768] [--model-dir DIR | --model-uri s3://bucket/taxi]
       [--engines savedmodel onnx onnx_fp16 onnx_int8] [--parquet]
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

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


def _run(target, *args) -> tuple:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    while True:  # a phase that dies (an engine without its form, out of memory) ends the benchmark, not hangs it
        try:
            out = queue.get(timeout=1)
            break
        except Empty:
            if not proc.is_alive():
                raise SystemExit(f"{target.__name__} ended with exit code {proc.exitcode} and no result") from None
    proc.join()
    return out


def _model_dir(args: argparse.Namespace, tmp: Path) -> Path:
    if args.model_dir:
        return Path(args.model_dir)
    from nightshift.core.config import PROJECT_ROOT
    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.s3 import client_from_env
    from nightshift.core.spec_loading import load_spec

    uri = args.model_uri or load_spec(PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml", PROJECT_ROOT).push.uri
    manifest = ModelRegistry(client_from_env(), uri).download_serving(tmp / "model")
    print(f"model: {uri} version {manifest.version} (downloaded, {len(manifest.files)} files verified)")
    return tmp / "model"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--direct-rows", type=int, default=500_000)
    parser.add_argument("--chunk-rows", type=int, default=32_768)
    parser.add_argument("--model-dir")
    parser.add_argument("--model-uri")
    parser.add_argument("--engines", nargs="+", default=["savedmodel", "onnx", "onnx_fp16", "onnx_int8"])
    parser.add_argument("--parquet", action="store_true", help="also score the same rows from Parquet (savedmodel)")
    args = parser.parse_args()
    import tfx

    taxi_csv = Path(tfx.__file__).parent / "examples/chicago_taxi_pipeline/data/simple/data.csv"

    with tempfile.TemporaryDirectory(prefix="nightshift-bench-") as tmp_name:
        tmp = Path(tmp_name)
        model_dir = _model_dir(args, tmp)
        if set(args.engines) - {"savedmodel"}:
            model_dir = _with_forms(model_dir, tmp)
        direct: list[tuple] = []
        results = []
        on_parquet: list[tuple] = []
        for rows in sorted(args.rows):
            path = tmp / f"score_{rows}.csv"
            make_input(taxi_csv, rows, path)
            print(f"input: {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB CSV", flush=True)
            if not direct:
                direct = _run(_phase_direct, str(model_dir), str(path), args.direct_rows, args.chunk_rows)
            for engine in args.engines:
                results.append((rows, engine, *_run(_phase_score, str(model_dir), str(path), args.chunk_rows,
                                                    engine)))
            if args.parquet:
                parquet = to_parquet(path, model_dir)
                print(f"input: the same rows as Parquet, {parquet.stat().st_size / 1e6:.0f} MB", flush=True)
                on_parquet.append(_run(_phase_score, str(model_dir), str(parquet), args.chunk_rows, "savedmodel"))
                parquet.unlink()
            path.unlink()
    print(f"\n== batch scoring, chunks of {args.chunk_rows:,} rows; each phase in its own fresh process ==")
    for name, seconds, rows, peak in [*direct, *(r[2:] for r in results), *on_parquet]:
        print(f"{name:50s} {seconds:8.1f} s  {rows / seconds:10,.0f} rows/s  peak RSS {peak:7.0f} MB")
    saved = [r[2:] for r in results if r[1] == "savedmodel"]
    for name, seconds, rows, _peak in [*saved, *on_parquet]:
        for ref, ref_s, ref_rows, _ in direct:
            print(f"{name}: throughput {rows / seconds / (ref_rows / ref_s):.2f}x {ref} (goal >= 0.8x)")
    if len(saved) >= 2:
        print(f"peak RSS {saved[-1][0]} / {saved[0][0]}: {saved[-1][3] / saved[0][3]:.2f}x (goal <= 1.5x)")
    by_rows = {(r[0], r[1]): r[2:] for r in results}
    for (rows, engine), (_name, seconds, _n, peak) in by_rows.items():
        if engine != "savedmodel" and (rows, "savedmodel") in by_rows:
            _, ref_s, _, ref_peak = by_rows[(rows, "savedmodel")]
            print(f"{rows:,} rows, {engine} vs savedmodel: throughput {ref_s / seconds:.2f}x, "
                  f"peak RSS {peak / ref_peak:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

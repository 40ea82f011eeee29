"""Batch scoring with exactly the published model, in bounded memory, at close to the signature's speed.

Input (CSV, optionally gzip'd, or Parquet; local or s3://) is read in Arrow record batches of bounded
size and scored through the model's `serving_columns` signature: the raw feature columns go in as tensors
straight from Arrow, and the signature applies the same tf.Transform graph and model as `serving_default`.
(Serialising each row into a tf.Example only for the signature to parse it again cost more than the model
itself: tfx_bsl's C++ encoder took 0.9 s per 200k rows against 0.7 s of scoring.) A model without that
signature is scored through `serving_default` with tfx_bsl's encoder. Output streams into one Parquet
file, checked (one row per input row, no null scores, scores within [0, 1]) before it is committed; see
`nightshift.core.predictions`.

    python -m nightshift_tfx.batch_score --model-uri s3://b/taxi --input URI --output URI [--version N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nightshift.core import exit_codes
from nightshift.core.prefetch import prefetch
from nightshift.core.registry.forms import AUTO, choose_engine
from nightshift.core.spec import SCORING_ENGINES
from nightshift_tfx import skew
from nightshift_tfx.model_metadata import load_classes, load_feature_spec, summarise
from nightshift_tfx.score_input import (
    ScoringInputError,
    iter_batches,
    placeholder_batch,
    to_column_tensors,
    to_examples_batch,
)

log = logging.getLogger(__name__)
DEFAULT_CHUNK_ROWS = 32_768
PROGRESS_SECONDS = 10.0
# Exit codes the scoring operator reads (nightshift.core.exit_codes): each is a problem a retry cannot fix.
EXIT_INPUT_ERROR = exit_codes.DATA_REJECTED  # the input cannot be scored (a column missing, a wrong type)
EXIT_OUTPUT_ERROR = exit_codes.OUTPUT_REJECTED  # the predictions fail the output gate
EXIT_DATA_ERROR = exit_codes.NOT_OWNED  # the output location is not nightshift's, or the input changed


@dataclass
class ScoreStats:
    rows: int
    chunks: int
    seconds: float
    peak_rss_mb: float
    model_version: int | None = None
    load_seconds: float = 0.0  # loading and warming up the engine, before `seconds` starts
    engine: str = ""  # the form that scored (an `auto` request resolved)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def load_scorer(model_dir: Path) -> tuple[Any, str]:
    """The model's batch-scoring entry: `serving_columns` (column tensors in) when the model exports it,
    else `serving_default` (serialized tf.Examples in, built by tfx_bsl's encoder)."""
    import tensorflow as tf

    signatures = tf.saved_model.load(str(model_dir)).signatures
    if "serving_columns" in signatures:
        return signatures["serving_columns"], "serving_columns"
    return signatures["serving_default"], "serving_default"


class EngineUnavailable(ScoringInputError):
    """The version has no published form for the engine asked for (never built, or refused when published)."""


@dataclass
class Engine:
    """A loaded, warmed-up scoring engine: `prepare` turns a record batch into the model's inputs, `run` those
    inputs into the model's outputs."""
    name: str
    prepare: Callable[[pa.RecordBatch], Any]
    run: Callable[[Any], np.ndarray]
    described: str
    load_seconds: float


def load_engine(model_dir: Path, engine: str, where: str, warm_rows: int = DEFAULT_CHUNK_ROWS) -> Engine:
    """`engine` (a form's name; `auto` is resolved before, from the manifest) loaded from `model_dir` and called
    once on `warm_rows` placeholder rows: a freshly loaded TensorFlow function's first call costs 0.4-0.5 s on
    this machine (graph optimisation, thread pools, first allocations) against ~0.06 s for the next, and TF
    Serving warms its models up for the same reason. `main` loads the engine while the input downloads."""
    started = time.perf_counter()
    spec = load_feature_spec(model_dir)
    prepare, run, described = _open_engine(model_dir, engine, spec, where)
    run(prepare(placeholder_batch(spec, warm_rows)))
    return Engine(engine, prepare, run, described, time.perf_counter() - started)


def _open_engine(model_dir: Path, engine: str, spec: dict[str, dict[str, Any]], where: str
                 ) -> tuple[Callable[[pa.RecordBatch], Any], Callable[[Any], np.ndarray], str]:
    """(prepare a batch's inputs, run them to the model's outputs, a description) for `engine`. The SavedModel
    runs its signature; an ONNX engine runs the version's form in ONNX Runtime, the file downloaded (and hashed
    against the manifest) with the version."""
    if engine == "savedmodel":
        import tensorflow as tf
        from tfx_bsl.coders import example_coder

        serve, entry = load_scorer(model_dir)
        if entry == "serving_columns":
            def prepare(batch: pa.RecordBatch) -> Any:
                return {k: tf.constant(v) for k, v in to_column_tensors(batch, spec, where).items()}
        else:
            encoder = example_coder.RecordBatchToExamplesEncoder(None)

            def prepare(batch: pa.RecordBatch) -> Any:
                return {"examples": tf.constant(encoder.encode(to_examples_batch(batch, spec, where)))}
        return prepare, lambda inputs: serve(**inputs)["outputs"].numpy(), f"the SavedModel's {entry} signature"
    from nightshift.core.registry.forms import FORM_FILES
    from nightshift_tfx.forms.onnx_export import feed, session

    path = model_dir / FORM_FILES[engine]
    if not path.is_file():
        raise EngineUnavailable(f"{where}: engine {engine!r} needs the version's {FORM_FILES[engine]}, which was "
                                "not published with it (see `nightshift models show`); score with the SavedModel")
    sess = session(path)
    names = [i.name for i in sess.get_inputs()]
    return (lambda batch: feed(to_column_tensors(batch, spec, where), names),
            lambda inputs: sess.run(["outputs"], inputs)[0], f"ONNX Runtime on {FORM_FILES[engine]}")


def score_file(model_dir: Path, input_path: Path, output_path: Path, *, model_version: int, run_id: str,
               chunk_rows: int = DEFAULT_CHUNK_ROWS, key_column: str | None = None,
               where: str | None = None, sample: Any = None, engine: str | Engine = "savedmodel") -> ScoreStats:
    """`engine`: an engine's name, or one `load_engine` already loaded from `model_dir`. `sample`
    (nightshift_tfx.skew.SkewSample) collects raw features and outputs for the skew report. The clock starts
    when the engine is loaded and warmed up (ScoreStats.load_seconds is what that took)."""
    where = where or str(input_path)
    spec = load_feature_spec(model_dir)
    if isinstance(engine, str):
        engine = load_engine(model_dir, engine, where, chunk_rows)
    log.info("scoring through %s (loaded and warmed up in %.1f s)", engine.described, engine.load_seconds)
    key_field = [pa.field(key_column, pa.string())] if key_column else []
    classes = load_classes(model_dir)
    class_field = [pa.field("predicted_class", pa.string())] if classes else []
    schema = pa.schema([pa.field("row_number", pa.int64()), *key_field, pa.field("score", pa.float32()),
                        pa.field("predicted_label", pa.int8()), *class_field, pa.field("model_version", pa.int32()),
                        pa.field("run_id", pa.string())])
    def prepared() -> Iterator[tuple[pa.RecordBatch, Any]]:
        for batch in iter_batches(input_path, spec, chunk_rows, key_column, where):
            if batch.num_rows:
                yield batch, engine.prepare(batch)

    rows = chunks = 0
    started = last_report = time.perf_counter()
    every = float(os.environ.get("NIGHTSHIFT_PROGRESS_SECONDS") or PROGRESS_SECONDS)  # 1 s under a terminal's bar
    # Dictionary pages only where few values repeat: tried on every column (Parquet's default), the writer
    # hashes each row number and score before giving up, which took half its time (0.17 -> 0.08 s per 1M rows).
    repeated = ["predicted_label", *(["predicted_class"] if classes else []), "model_version", "run_id"]
    with pq.ParquetWriter(str(output_path), schema, use_dictionary=repeated) as writer:
        for batch, inputs in prefetch(prepared(), depth=2):
            n = batch.num_rows
            scores, labels = summarise(engine.run(inputs))
            if sample is not None:
                sample.add(to_examples_batch(batch, spec, where) if sample.wants_features else None, scores, labels)
            columns = [pa.array(np.arange(rows, rows + n, dtype=np.int64))]
            if key_column:
                columns.append(batch.column(batch.schema.get_field_index(key_column)).cast(pa.string()))
            columns += [pa.array(scores), pa.array(labels)]
            if classes:
                columns.append(pa.DictionaryArray.from_arrays(pa.array(labels), pa.array(classes)).cast(pa.string()))
            columns += [pa.array(np.full(n, model_version, dtype=np.int32)),
                        pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int8)),
                                                       pa.array([run_id])).cast(pa.string())]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            rows += n
            chunks += 1
            if (now := time.perf_counter()) - last_report >= every:  # long inputs show they move
                log.info("scored %d rows so far (%.0f rows/s)", rows, rows / (now - started))
                last_report = now
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return ScoreStats(rows, chunks, time.perf_counter() - started, peak, model_version, engine.load_seconds,
                      engine.name)


def check_output(output_path: Path, expected_rows: int) -> list[str]:
    """The output gate: one row per input row, no null, NaN or infinite score, scores within [0, 1]."""
    problems = []
    pf = pq.ParquetFile(str(output_path))
    if pf.metadata.num_rows != expected_rows:
        problems.append(f"{output_path}: {pf.metadata.num_rows} predictions for {expected_rows} input rows")
    nulls, nans, low, high = 0, 0, None, None
    for i in range(pf.num_row_groups):
        scores = pf.read_row_group(i, columns=["score"]).column("score")
        nulls += scores.null_count
        nans += pa.compute.sum(pa.compute.is_nan(scores)).as_py() or 0  # min_max below skips NaN
        mm = pa.compute.min_max(scores)
        if mm["min"].is_valid:
            low = mm["min"].as_py() if low is None else min(low, mm["min"].as_py())
            high = mm["max"].as_py() if high is None else max(high, mm["max"].as_py())
    if nulls:
        problems.append(f"{output_path}: {nulls} null score(s)")
    if nans:
        problems.append(f"{output_path}: {nans} NaN score(s)")
    if low is not None and (low < 0.0 or high > 1.0 or np.isnan(low) or np.isnan(high)):
        problems.append(f"{output_path}: scores span [{low}, {high}], expected within [0, 1]")
    return problems


def build_parser() -> argparse.ArgumentParser:
    """The command line nightshift.core.batch_score_command.BatchScoreRequest writes."""
    parser = argparse.ArgumentParser(prog="python -m nightshift_tfx.batch_score")
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True, help="s3://bucket/prefix/ or a local folder for the partition")
    parser.add_argument("--version", type=int)
    parser.add_argument("--run-id", default="manual")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    parser.add_argument("--key-column")
    parser.add_argument("--input-fingerprint", help="the ETag (or sha256:) the input gate checked; refuse others")
    parser.add_argument("--expected-rows", type=int, help="rows the input gate counted")
    parser.add_argument("--engine", choices=SCORING_ENGINES, default=AUTO,
                        help="auto: the faster exact form by the speeds measured at publish; savedmodel; onnx / "
                             "onnx_fp16 / onnx_int8: ONNX Runtime on that published form of the version")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout, force=True)

    from nightshift.core.config import load_settings
    from nightshift.core.errors import ChecksumMismatch
    from nightshift.core.predictions import OutputNotOwned, check_output_location, commit_output, protected_prefixes
    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.s3 import client_from_env
    from nightshift.core.scoring_input import InputChanged, fetch_input
    from nightshift.core.spec_loading import spec_publishing_to

    client = client_from_env() if "s3://" in (args.model_uri + args.input + args.output) else None
    protected = protected_prefixes(load_settings().pipelines_dir, args.model_uri)
    try:
        check_output_location(client, args.output, protected)  # before any work: nothing is written
    except OutputNotOwned as exc:
        log.error("%s", exc)
        return EXIT_DATA_ERROR
    with tempfile.TemporaryDirectory(prefix="nightshift-score-") as tmp:
        tmp_path = Path(tmp)
        try:
            manifest = ModelRegistry(client or client_from_env(), args.model_uri).download_serving(
                tmp_path / "model", args.version)
        except ChecksumMismatch as exc:  # the stored bytes differ from their manifest: a retry reads the same
            log.error("%s", exc)
            return EXIT_INPUT_ERROR
        log.info("model %s version %d verified (%d files, sha256 each)", args.model_uri, manifest.version,
                 len(manifest.files))
        engine_name, why = choose_engine(manifest, args.engine)
        log.info("engine %s: %s", engine_name, why)
        with ThreadPoolExecutor(1, thread_name_prefix="load-engine") as pool:  # loads while the input downloads
            engine = pool.submit(load_engine, tmp_path / "model", engine_name, args.input, args.chunk_rows)
            try:
                local_input, fingerprint = fetch_input(client, args.input, tmp_path / "input",
                                                       expect=args.input_fingerprint)
            except InputChanged as exc:
                log.error("%s", exc)
                return EXIT_DATA_ERROR
            out_file = tmp_path / "part-00000.parquet"
            sample = skew.SkewSample()
            try:
                stats = score_file(tmp_path / "model", local_input, out_file, model_version=manifest.version,
                                   run_id=args.run_id, chunk_rows=args.chunk_rows, key_column=args.key_column,
                                   where=args.input, sample=sample, engine=engine.result())
            except ScoringInputError as exc:
                log.error("%s", exc)
                return EXIT_INPUT_ERROR
        problems = check_output(out_file, stats.rows)
        if args.expected_rows is not None and stats.rows != args.expected_rows:
            problems.append(f"{args.input}: {stats.rows} rows scored, the input gate counted {args.expected_rows}")
        if problems:
            for p in problems:
                log.error("OUTPUT GATE FAILED: %s", p)
            return EXIT_OUTPUT_ERROR
        spec = spec_publishing_to(load_settings().pipelines_dir, args.model_uri)
        measured = skew.measure(sample, manifest, spec.drift, load_classes(tmp_path / "model")) if spec else \
            {"status": f"not measured: no pipeline spec publishes to {args.model_uri}"}
        (log.warning if measured["status"].startswith("breach") else log.info)("skew: %s", measured["status"])
        if stats.rows == 0:
            log.warning("%s holds no rows: committing an empty prediction file (rows=0 in the marker)", args.input)
        try:
            marker = commit_output(client, out_file, args.output, rows=stats.rows, model_version=manifest.version,
                                   run_id=args.run_id, model_uri=args.model_uri, source=args.input,
                                   protected=protected, source_fingerprint=fingerprint, skew=measured,
                                   engine=stats.engine)
        except OutputNotOwned as exc:
            log.error("%s", exc)
            return EXIT_DATA_ERROR
    log.info("scored %d rows in %d chunks, %.1f s (%.0f rows/s), peak RSS %.0f MB; committed %s", stats.rows,
             stats.chunks, stats.seconds, stats.rows_per_second, stats.peak_rss_mb, marker)
    print("RESULT " + json.dumps({**asdict(stats), "output": args.output, "marker": marker}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build, measure and decide the optimised forms of one blessed model (the pusher calls this before publishing).

    onnx        the whole serving graph in ONNX (forms.onnx_export), scored by ONNX Runtime
    onnx_fp16   the ONNX form with its float weights stored as float16 (half the size, float32 arithmetic)
    onnx_int8   the ONNX form with int8 weights (ONNX Runtime's dynamic quantisation)

Each form is measured against the SavedModel on the same held-out rows (forms.held_out) and published only if
it agrees within the spec's bounds (forms.agreement.refusals); a refused or failed form is recorded with its
reason and figures, and the SavedModel publishes without it. Each form's speed on the same rows is recorded too:
the scorer's `auto` engine picks the faster exact form by it (nightshift.core.registry.forms.choose_engine).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nightshift.core.registry.forms import FORM_FILES
from nightshift_tfx.forms.agreement import Agreement, measure, refusals
from nightshift_tfx.forms.held_out import HeldOut

log = logging.getLogger(__name__)
CHUNK_ROWS = 32_768  # the batch scorer's default chunk: forms are measured at the scorer's batch size
SPEED_PASSES = 3
Runner = Callable[[dict[str, np.ndarray]], np.ndarray]  # one chunk of held-out columns -> the model's outputs


def _chunks(columns: dict[str, np.ndarray], rows: int):
    for start in range(0, rows, CHUNK_ROWS):
        yield {k: v[start:start + CHUNK_ROWS] for k, v in columns.items()}


def savedmodel_runner(signatures: Mapping[str, Any]) -> Runner:
    """The reference every form is held to: `serving_columns` of the loaded SavedModel's `signatures`."""
    import tensorflow as tf

    serve = signatures["serving_columns"]
    return lambda chunk: serve(**{k: tf.constant(v) for k, v in chunk.items()})["outputs"].numpy()


def onnx_runner(path: Path) -> Runner:
    from nightshift_tfx.forms.onnx_export import feed, session

    sess = session(path)
    names = [i.name for i in sess.get_inputs()]
    return lambda chunk: sess.run(["outputs"], feed(chunk, names))[0]


def scores(run: Runner, held_out: HeldOut) -> np.ndarray:
    return np.concatenate([run(chunk) for chunk in _chunks(held_out.columns, held_out.rows)])


def rows_per_second(run: Runner, held_out: HeldOut, rows: int = CHUNK_ROWS, passes: int = SPEED_PASSES) -> float:
    """Rows scored per second from pre-built columns, on the held-out rows repeated up to the scorer's chunk:
    TensorFlow pays tens of milliseconds per call whatever its size, so timing the ~5,000 rows of an
    evaluation split would rank the engines by that overhead. The best of `passes`, after a warm-up call (a
    batch size TensorFlow has not seen costs ~0.15 s more the first time)."""
    if not held_out.rows:
        return 0.0
    batch = {k: np.resize(v, rows) for k, v in held_out.columns.items()}
    run(batch)
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter()
        run(batch)
        best = min(best, time.perf_counter() - started)
    return rows / best if best > 0 else 0.0


def quantise_int8(source: Path, output: Path) -> None:
    """int8 weights, activations quantised per batch: no calibration data needed; only MatMul/Gemm change, so
    the tf.Transform part (lookups, hashing, bucketizing) stays exact."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(output), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                     per_channel=True)


def quantise_fp16(source: Path, output: Path, min_elements: int = 16) -> None:
    """Store each float32 weight of at least `min_elements` values as float16 behind a Cast back to float32.

    Written here rather than with onnxconverter-common's float16 conversion: that one moves the arithmetic to
    float16 too, which ONNX Runtime's CPU provider has no kernels for in parts of this graph. Stored-only halves
    are exact to float16 rounding (about 1e-3 relative)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=init.name + "__to_fp32"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.save(model, str(output))


QUANTISERS = {"onnx_fp16": quantise_fp16, "onnx_int8": quantise_int8}


def _record(name: str, path: Path, agreement: Agreement | None, reasons: list[str], seconds: float,
            speed: float | None = None) -> dict:
    record: dict[str, Any] = {"published": not reasons, "seconds": round(seconds, 1)}
    if speed is not None:
        record["rows_per_second"] = round(speed)
    if path.exists():
        record["size"] = path.stat().st_size
    if agreement is not None:
        record["agreement"] = agreement.as_dict()
    if reasons:
        record["refused"] = reasons
    else:
        record["path"] = FORM_FILES[name]
    return record


def build_forms(model_dir: Path, signatures: Mapping[str, Any], held_out: HeldOut, policy: dict[str, Any],
                workdir: Path, perturb: Callable[[Path], None] | None = None
                ) -> tuple[dict[str, Path], dict[str, Any]]:
    """(files to publish: path inside the version -> local file, the manifest's record of every form).

    `signatures`: the SavedModel at `model_dir`, loaded once by the caller (which derived the held-out labels
    with it: a load costs ~1 s here). `policy` is the spec's `forms` section (nightshift.core.spec.FormsSpec as
    a dict). `perturb` alters the exported ONNX file before it is measured: tests use it to show a wrong form
    is refused."""
    files: dict[str, Path] = {}
    records: dict[str, Any] = {}
    if not policy.get("onnx", True):
        return files, records
    from nightshift_tfx.forms.onnx_export import export

    reference_run = savedmodel_runner(signatures)
    reference = scores(reference_run, held_out)
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    records["savedmodel"] = {"published": True, "size": size,
                             "accuracy": measure(reference, reference, held_out.labels).accuracy,
                             "rows": held_out.rows, "held_out": held_out.source,
                             "rows_per_second": round(rows_per_second(reference_run, held_out))}
    onnx_path = workdir / "model.onnx"
    started = time.perf_counter()
    try:
        export(model_dir, onnx_path)
        if perturb is not None:
            perturb(onnx_path)
        run = onnx_runner(onnx_path)
        agreement = measure(reference, scores(run, held_out), held_out.labels)
        reasons = refusals(agreement, float(policy.get("max_abs_diff", 1e-4)))
        speed = None if reasons else rows_per_second(run, held_out)  # a refused form is never scored with
    except Exception as exc:  # an optimised form never stops the publish of the model it came from
        log.warning("ONNX form not built: %s: %s", type(exc).__name__, exc)
        records["onnx"] = _record("onnx", onnx_path, None, [f"export failed: {type(exc).__name__}: {exc}"],
                                  time.perf_counter() - started)
        return files, records
    records["onnx"] = _record("onnx", onnx_path, agreement, reasons, time.perf_counter() - started, speed)
    _log("onnx", records["onnx"])
    if reasons:
        return files, records
    files[FORM_FILES["onnx"]] = onnx_path
    if policy.get("quantised", True):
        for name in QUANTISERS:
            files.update(_quantised(name, onnx_path, reference, held_out, policy, workdir, records))
    return files, records


def _quantised(name: str, onnx_path: Path, reference: np.ndarray, held_out: HeldOut, policy: dict[str, Any],
               workdir: Path, records: dict[str, Any]) -> dict[str, Path]:
    path = workdir / Path(FORM_FILES[name]).name
    started = time.perf_counter()
    agreement = speed = None
    try:
        QUANTISERS[name](onnx_path, path)
        run = onnx_runner(path)
        agreement = measure(reference, scores(run, held_out), held_out.labels)
        reasons = refusals(agreement, float(policy.get("quantised_max_abs_diff", 0.05)),
                           float(policy.get("quantised_max_accuracy_drop", 0.005)))
        speed = None if reasons else rows_per_second(run, held_out)  # as for the ONNX form
    except Exception as exc:  # as above: the model and its ONNX form publish without it
        log.warning("form %s not built: %s: %s", name, type(exc).__name__, exc)
        reasons = [f"quantisation failed: {type(exc).__name__}: {exc}"]
    records[name] = _record(name, path, agreement, reasons, time.perf_counter() - started, speed)
    _log(name, records[name])
    return {} if reasons else {FORM_FILES[name]: path}


def _log(name: str, record: dict[str, Any]) -> None:
    agreement = record.get("agreement", {})
    delta = agreement.get("accuracy_delta")
    figures = (f"{record.get('size', 0) / 1e6:.2f} MB; max |score difference| "
               f"{agreement.get('max_abs_diff', float('nan')):.3g}; same label "
               f"{agreement.get('same_label', float('nan')):.4%}; accuracy delta "
               f"{'n/a' if delta is None else f'{delta:+.4f}'}"
               + (f"; {record['rows_per_second']:,} held-out rows/s" if "rows_per_second" in record else ""))
    if record["published"]:
        log.info("form %s published: %s", name, figures)
    else:
        log.warning("form %s NOT published (%s): %s", name, "; ".join(record["refused"]), figures)

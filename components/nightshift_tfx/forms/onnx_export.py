"""Export a nightshift SavedModel's `serving_columns` signature (raw feature columns in, probabilities out, the
tf.Transform graph included) to standard ONNX with tf2onnx, loadable by any ONNX Runtime (Triton's included).

Two TensorFlow ops of the tf.Transform graph have no ONNX form in tf2onnx; the handlers below give them one:
- `UpperBound` (tft.bucketize's searchsorted): a comparison against the boundaries and a count; exact for
  sorted boundaries, NaN included (a NaN is below no boundary, so it gets the last bucket, as std::upper_bound
  gives it);
- `StringToHashBucketFast` (the out-of-vocabulary buckets of tft.compute_and_apply_vocabulary): TensorFlow's
  Fingerprint64 of the string modulo the bucket count. No ONNX op computes Fingerprint64: onnxruntime-extensions
  has an op of that name, but measured here it puts 4 of 6 strings in another bucket than TensorFlow does
  ("" included, which is every missing value). With one bucket the result is 0 whatever the hash, so that case
  is exact; with more, export stops and says so (a module sets num_oov_buckets=1 to get an ONNX form).
The result is still checked against the SavedModel on held-out rows before anything publishes it (forms.build).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper
from tf2onnx import tf_loader
from tf2onnx.graph_builder import GraphBuilder
from tf2onnx.handler import tf_op

log = logging.getLogger(__name__)
SIGNATURE = "serving_columns"
OPSET = 17


class OnnxExportError(RuntimeError):
    """The model could not be converted; the SavedModel is still published, without this form."""


@tf_op("UpperBound")
class UpperBound:
    """tf.raw_ops.UpperBound(sorted_inputs [R, N], values [R, M]) -> [R, M]: for each value, how many boundaries
    it is not below, i.e. the index std::upper_bound returns."""

    @classmethod
    def version_13(cls, ctx, node, **kwargs):
        boundaries, values = node.input
        builder = GraphBuilder(ctx)
        column = builder.make_unsqueeze({"data": values, "axes": [-1]})  # [R, M, 1]
        row = builder.make_unsqueeze({"data": boundaries, "axes": [-2]})  # [R, 1, N]
        below = ctx.make_node("Less", [column, row]).output[0]
        not_below = ctx.make_node("Not", [below]).output[0]
        counted = ctx.make_node("Cast", [not_below], attr={"to": TensorProto.INT64}).output[0]
        total = builder.make_reduce_sum({"data": counted, "axes": [-1], "keepdims": 0, "noop_with_empty_axes": 0})
        shapes, dtypes = node.output_shapes, node.output_dtypes
        ctx.remove_node(node.name)
        ctx.make_node("Cast", [total], attr={"to": dtypes[0]}, name=node.name, outputs=node.output,
                      shapes=shapes, dtypes=dtypes)


@tf_op("StringToHashBucketFast")
class StringToHashBucketFast:
    """One bucket: every string's bucket is 0, which needs no hash. More: refused (see the module's docstring)."""

    @classmethod
    def version_13(cls, ctx, node, **kwargs):
        buckets = node.get_attr_int("num_buckets")
        if buckets != 1:
            raise OnnxExportError(
                f"StringToHashBucketFast with {buckets} buckets (tft.compute_and_apply_vocabulary's num_oov_buckets):"
                " no ONNX op reproduces TensorFlow's Fingerprint64, so out-of-vocabulary strings would land in other"
                " buckets; with num_oov_buckets=1 the module gets an exact ONNX form")
        shape = ctx.make_node("Shape", [node.input[0]]).output[0]
        shapes, dtypes = node.output_shapes, node.output_dtypes
        ctx.remove_node(node.name)
        zero = helper.make_tensor("zero", TensorProto.INT64, [1], [0])
        ctx.make_node("ConstantOfShape", [shape], attr={"value": zero}, name=node.name, outputs=node.output,
                      shapes=shapes, dtypes=dtypes)


def export(model_dir: Path, output: Path) -> list[str]:
    """Write `output` (an .onnx file); returns the ONNX model's input names. Raises OnnxExportError when an op
    is left unconverted (tf2onnx only logs those and writes a model no runtime can load)."""
    # tf2onnx's Python API has no SavedModel entry point; its command line (tf2onnx.convert.main, --saved-model)
    # calls these two functions, and so does this.
    from tf2onnx.convert import _convert_common

    graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
        str(model_dir), None, None, tag="serve", signatures=[SIGNATURE], return_initialized_tables=True,
        return_tensors_to_rename=True)
    model, _ = _convert_common(graph_def, name=SIGNATURE, opset=OPSET, input_names=inputs, output_names=outputs,
                               initialized_tables=tables, tensors_to_rename=renames, output_path=None)
    known = ("", "ai.onnx.ml")
    unknown = sorted({n.op_type for n in model.graph.node if n.domain not in known})
    if unknown:
        raise OnnxExportError(f"{model_dir}: tf2onnx left TensorFlow ops unconverted: {', '.join(unknown)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(model.SerializeToString())
    return [i.name for i in model.graph.input]


def session(path: Path):
    """An ONNX Runtime session on the CPU (standard ops only: no custom op library to register)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def feed(columns: dict[str, np.ndarray], input_names: list[str]) -> dict[str, np.ndarray]:
    """`serving_columns` inputs (score_input.to_column_tensors) as ONNX Runtime takes them: strings as str
    (given bytes, ONNX Runtime hashes and looks up their repr, so every value would be out of vocabulary)."""
    out = {}
    for name in input_names:
        value = columns[name]
        if value.dtype.kind in "OS":
            value = np.char.decode(value.astype(bytes), "utf-8").astype(object)
        elif value.dtype.kind == "U":
            value = value.astype(object)
        out[name] = value
    return out

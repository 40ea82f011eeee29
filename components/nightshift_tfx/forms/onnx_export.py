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
One more op is converted here for speed: `DenseBincount` (Keras' CategoryEncoding, the wide part of a
wide-and-deep model). tf2onnx builds it as Unique over (row, value) pairs and a ScatterND into an int64 matrix
of zeros, then a Cast: 80 % of ONNX Runtime's time on the taxi model. A ScatterElements into a matrix of the
output's type computes the same counts (see `DenseBincount`).
The result is still checked against the SavedModel on held-out rows before anything publishes it (forms.build).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
from onnx import TensorProto, helper
from tf2onnx import tf_loader
from tf2onnx.graph_builder import GraphBuilder
from tf2onnx.handler import tf_op
from tf2onnx.onnx_opset.tensor import Bincount as Tf2onnxBincount  # registers tf2onnx's own first

from nightshift_tfx.forms.onnx_wide import fold_one_hot_products

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


@tf_op("DenseBincount")
class DenseBincount:
    """tf.raw_ops.DenseBincount(input [R, C] ints, size, weights empty) -> [R, size]: per row, how often each
    value in [0, size) occurs (1 for "at least once" with binary_output); a value from size up is not counted
    (a negative one TensorFlow refuses; it is not counted here either).

    Here: a ScatterElements of ones into a matrix of zeros of the output's type, along the value axis. An index
    outside [0, size) would make ScatterElements fail, so such a value writes a 0 at column 0 instead. With one
    value per row every write lands on its own cell; with more, the writes add up (and are capped at 1 for
    binary_output). Measured on [32768, 1] into 1001 columns: 16 ms a call, against 52 ms for OneHot.
    Weighted counts keep tf2onnx's conversion."""

    @classmethod
    def version_13(cls, ctx, node, **kwargs):
        values, size, weights = node.input
        shape, weights_shape = ctx.get_shape(values), ctx.get_shape(weights)
        if shape is None or len(shape) != 2 or weights_shape is None or 0 not in weights_shape:
            Tf2onnxBincount.version_13(ctx, node, **kwargs)
            return
        builder = GraphBuilder(ctx)
        dtype = ctx.get_dtype(weights)
        np_dtype = helper.tensor_dtype_to_np_dtype(dtype)
        values = ctx.make_node("Cast", [values], attr={"to": TensorProto.INT64}).output[0]
        width = _static_size(ctx, size)
        if width is not None:  # a constant: the output's width is known, which onnx_wide needs
            depth = ctx.make_const(f"{node.name}__depth", np.array([width], np.int64)).output[0]
        else:
            one_dim = ctx.make_const(f"{node.name}__one_dim", np.array([1], np.int64)).output[0]
            depth = ctx.make_node("Reshape", [ctx.make_node("Cast", [size], attr={"to": TensorProto.INT64})
                                              .output[0], one_dim]).output[0]  # [size]: a scalar in TensorFlow
        zero = ctx.make_const(f"{node.name}__zero", np.array(0, np.int64)).output[0]
        negative = ctx.make_node("Less", [values, zero]).output[0]
        below_size = ctx.make_node("Less", [values, depth]).output[0]
        in_range = ctx.make_node("And", [ctx.make_node("Not", [negative]).output[0], below_size]).output[0]
        index = ctx.make_node("Where", [in_range, values, zero]).output[0]
        ones = ctx.make_node("Cast", [in_range], attr={"to": dtype}).output[0]
        rows = builder.make_slice({"data": ctx.make_node("Shape", [values]).output[0], "starts": [0], "ends": [1],
                                   "axes": [0]})
        out_shape = ctx.make_node("Concat", [rows, depth], attr={"axis": 0}).output[0]
        zeros = ctx.make_node("ConstantOfShape", [out_shape],
                              attr={"value": helper.make_tensor("value", dtype, [1], [np_dtype.type(0)])}).output[0]
        single = shape[1] == 1  # one value per row: each write has its own cell, binary or not
        counts = ctx.make_node("ScatterElements", [zeros, index, ones],
                               attr={"axis": 1, "reduction": "none" if single else "add"}).output[0]
        if not single and node.get_attr_value("binary_output", False):
            one = ctx.make_const(f"{node.name}__one", np.array(1, np_dtype)).output[0]
            counts = ctx.make_node("Min", [counts, one]).output[0]
        ctx.replace_all_inputs(node.output[0], counts)
        ctx.remove_node(node.name)


def _static_size(ctx, size: str) -> int | None:
    """The bincount's size when it is a constant. tf.math.bincount(minlength=n, maxlength=n), which Keras'
    CategoryEncoding calls, computes it as Minimum(n, Maximum(n, max + 1)): n whatever the data."""
    node = ctx.get_node_by_output(size)
    if node.is_const():
        return _scalar(node)
    if node.type not in ("Minimum", "Min") or len(node.inputs) != 2:
        return None
    consts = [i for i in node.inputs if i.is_const()]
    inner = [i for i in node.inputs if not i.is_const()]
    if len(consts) != 1 or len(inner) != 1 or inner[0].type not in ("Maximum", "Max"):
        return None
    bound = _scalar(consts[0])
    floors = [_scalar(i) for i in inner[0].inputs if i.is_const()]
    return bound if bound is not None and floors == [bound] else None


def _scalar(const) -> int | None:
    value = np.asarray(const.get_tensor_value(as_list=False)).reshape(-1)
    return int(value[0]) if value.size == 1 else None


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
    folded = fold_one_hot_products(model)
    if folded:
        log.info("ONNX form: %d product(s) of one-hot columns with weights turned into lookups", folded)
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
        if value.dtype.kind in "OS":  # through Arrow: 4x less CPU than np.char.decode (0.2 s per 2M strings)
            value = pa.array(value, pa.binary()).cast(pa.string()).to_numpy(zero_copy_only=False)
        elif value.dtype.kind == "U":
            value = value.astype(object)
        out[name] = value
    return out

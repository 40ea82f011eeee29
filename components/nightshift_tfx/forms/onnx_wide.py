"""The wide part of a wide-and-deep model as lookups, not as a product with a matrix of one-hot rows.

Keras' CategoryEncoding turns each categorical feature into a [rows, size] matrix with one 1 per row
(onnx_export.DenseBincount builds it), the model concatenates them and multiplies by the last Dense layer's
weights: on the taxi model a [32768, 2300] float matrix per batch, written, copied into the concatenation and
read back, to pick one weight row per feature per row. So a MatMul(Concat([x, onehot_1, ... onehot_k]), W)
with constant W becomes MatMul(x, W_x) + Gather(W_1, index_1) * present_1 + ... , the same sum in another
order (agreement with the SavedModel is measured before a form is published, forms.build).

A one-hot input is recognised by the nodes onnx_export.DenseBincount writes for one value per row:
ScatterElements(ConstantOfShape(zeros of [rows, n] with n a constant), index [rows, 1], present [rows, 1]).
Anything else is left as it is; so is a product with more than one input of unknown width.

Written here because neither tf2onnx's optimizers nor ONNX Runtime's graph optimisations turn such a product
into lookups (ONNX Runtime only fuses the MatMul with its bias), and the rewrite is a few nodes on the ONNX
graph as tf2onnx leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper


@dataclass
class _OneHot:
    index: str  # [rows, 1] int64: the column of the 1 (0 where the value was out of range)
    present: str  # [rows, 1] float: 1, or 0 where the value was out of range
    width: int


def _attribute(node: onnx.NodeProto, name: str, default=None):
    found = [a for a in node.attribute if a.name == name]
    return helper.get_attribute_value(found[0]) if found else default


def _one_hot(name: str, producers: dict[str, onnx.NodeProto], constants: dict[str, np.ndarray],
             dtype: int) -> _OneHot | None:
    """`name` as a one-hot matrix of `dtype` (the weights' type), or None."""
    scatter = producers.get(name)
    if scatter is None or scatter.op_type != "ScatterElements" or _attribute(scatter, "axis") != 1:
        return None
    if _attribute(scatter, "reduction", b"none") not in (b"none", "none"):
        return None
    zeros = producers.get(scatter.input[0])
    if zeros is None or zeros.op_type != "ConstantOfShape":
        return None
    value = _attribute(zeros, "value")
    if value is None or numpy_helper.to_array(value).reshape(-1).tolist() != [0]:
        return None
    shape = producers.get(zeros.input[0])
    if shape is None or shape.op_type != "Concat" or len(shape.input) != 2 or shape.input[1] not in constants:
        return None
    width = constants[shape.input[1]].reshape(-1)
    present = producers.get(scatter.input[2])
    if width.size != 1 or present is None or present.op_type != "Cast" or _attribute(present, "to") != dtype:
        return None
    return _OneHot(scatter.input[1], scatter.input[2], int(width[0]))


def fold_one_hot_products(model: onnx.ModelProto) -> int:
    """Rewrite each product of a concatenation of one-hot matrices with constant weights (see the module's
    docstring) in place; returns how many products were rewritten."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    folded = 0
    for product in list(graph.node):
        if product.op_type != "MatMul" or product.input[1] not in constants:
            continue
        weights = constants[product.input[1]]
        concat = producers.get(product.input[0])
        if (weights.ndim != 2 or concat is None or concat.op_type != "Concat"
                or _attribute(concat, "axis") not in (1, -1) or consumers.get(concat.output[0]) != 1):
            continue
        dtype = helper.np_dtype_to_tensor_dtype(weights.dtype)
        parts = [_one_hot(name, producers, constants, dtype) for name in concat.input]
        unknown = sum(part is None for part in parts)
        known = sum(part.width for part in parts if part is not None)
        spare = weights.shape[0] - known  # the width of the one input that is no one-hot, if there is one
        if unknown == len(parts) or unknown > 1 or spare < 0 or (unknown == 0 and spare != 0):
            continue
        widths = [part.width if part is not None else spare for part in parts]
        axis = f"{product.name}__axis1"
        graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), axis))
        terms, nodes, offset = [], [], 0
        for i, (name, part, width) in enumerate(zip(concat.input, parts, widths, strict=True)):
            rows = numpy_helper.from_array(weights[offset:offset + width], f"{product.name}__w{i}")
            graph.initializer.append(rows)
            offset += width
            out = f"{product.name}__term{i}"
            if part is None:
                nodes.append(helper.make_node("MatMul", [name, rows.name], [out], name=out))
            else:
                nodes += [helper.make_node("Squeeze", [part.index, axis], [out + "_index"], name=out + "_index"),
                          helper.make_node("Gather", [rows.name, out + "_index"], [out + "_rows"], axis=0,
                                           name=out + "_rows"),
                          helper.make_node("Mul", [out + "_rows", part.present], [out], name=out)]
            terms.append(out)
        nodes.append(helper.make_node("Sum", terms, [product.output[0]], name=f"{product.name}__sum"))
        at = list(graph.node).index(product)
        graph.node.remove(product)
        graph.node.remove(concat)
        for offset_in_graph, node in enumerate(nodes):
            graph.node.insert(at - 1 + offset_in_graph, node)
        folded += 1
    if folded:
        _drop_unused(graph)
    return folded


def _drop_unused(graph: onnx.GraphProto) -> None:
    """Nodes and initializers nothing reads any more (the one-hot matrices and the old weights)."""
    needed = {out.name for out in graph.output}
    kept = []
    for node in reversed(list(graph.node)):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(node.input)
            needed.update(_read_by_subgraphs(node))
    del graph.node[:]
    graph.node.extend(reversed(kept))
    declared = {i.name for i in graph.input}  # an initializer listed as an input too stays (older IR versions)
    initializers = [init for init in graph.initializer if init.name in needed or init.name in declared]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _read_by_subgraphs(node: onnx.NodeProto) -> set[str]:
    """Names an If, Loop or Scan body reads (it may read the outer graph's values by name)."""
    names: set[str] = set()
    for attribute in node.attribute:
        for body in ([attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)):
            for inner in body.node:
                names.update(inner.input)
                names.update(_read_by_subgraphs(inner))
    return names

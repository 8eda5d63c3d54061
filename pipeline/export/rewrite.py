"""tf2onnx's BERT graph -> the shapes ONNX Runtime's transformer fusions recognise.

ONNX Runtime's optimizer (``onnxruntime.transformers``) fuses attention, GELU and LayerNorm by
matching the subgraphs PyTorch exports. A Keras BERT exported by tf2onnx computes the same
values with other subgraphs, so only LayerNorm fused (the fp32 graph ran at 1.06x the TF path
at batch 32). Four rewrites, each exact in value and each leaving the graph alone where its
pattern is not found (``for_fusion`` returns what each changed, export.json records it):

- ``tensordot_as_matmul``: a Keras Dense on a (batch, length, hidden) input is a Tensordot:
  Reshape to 2-D, MatMul, Reshape back through Shape/Gather/Concat. ONNX's MatMul broadcasts
  over the batch, so the MatMul takes the 3-D input directly (and ~250 shape nodes go).
- ``mask_as_unsqueeze``: the (batch, 1, 1, length) attention mask is ``Reshape(mask, [0, 1, 1,
  -1])``; written as two Unsqueezes, and the constant 1e-9 added to every attention score
  (softmax does not change when all its inputs move by one constant) is dropped.
- ``scale_as_div``: the scores are scaled by ``Mul(q k, 1/sqrt(d))``; written ``Div(q k,
  sqrt(d))`` (otherwise the matcher takes that Mul for the mask's).
- ``gelu_as_erf``: exact GELU arrives as ``0.5 x (1 - erf(-x * 0.7071))`` (TF's ``erfc``, with
  the Erfc handler of convert.py); written ``0.5 x (1 + erf(x / 1.4142))``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np


class _Index:
    """Who produces and who reads each tensor, and the graph's constants, of ``graph``."""

    def __init__(self, graph: Any) -> None:
        from onnx import numpy_helper

        self.graph = graph
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list[Any]] = defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        self.consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}

    def source(self, name: str) -> Any:
        """The node producing ``name``, looking through Casts."""
        node = self.producer.get(name)
        while node is not None and node.op_type == "Cast":
            node = self.producer.get(node.input[0])
        return node

    def scalar(self, node: Any) -> tuple[str, float] | None:
        """(name, value) of ``node``'s one-element constant input, if it has one."""
        for name in node.input:
            if name in self.consts and self.consts[name].size == 1:
                return name, float(self.consts[name].ravel()[0])
        return None

    def add_const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        if name not in self.consts:
            self.graph.initializer.append(numpy_helper.from_array(value, name))
            self.consts[name] = value
        return name


def tensordot_as_matmul(graph: Any) -> int:
    """``Reshape(MatMul(Reshape(x, [-1, k]), W), concat(shape(x)[:2], [n]))`` -> ``MatMul(x,
    W)``. Returns how many Dense layers were rewritten."""
    ix = _Index(graph)
    done = 0
    for matmul in [n for n in graph.node if n.op_type == "MatMul"]:
        flat = ix.producer.get(matmul.input[0])
        weight = ix.consts.get(matmul.input[1])
        if flat is None or flat.op_type != "Reshape" or weight is None or weight.ndim != 2:
            continue
        if list(ix.consts.get(flat.input[1], [])) != [-1, weight.shape[0]]:
            continue
        users = ix.consumers[matmul.output[0]]
        if len(users) != 1 or users[0].op_type != "Reshape":
            continue
        back = users[0]
        concat = ix.source(back.input[1])
        if concat is None or concat.op_type != "Concat" or len(concat.input) != 2:
            continue
        gather = ix.source(concat.input[0])
        if gather is None or gather.op_type != "Gather":
            continue
        if list(ix.consts.get(gather.input[1], [])) != [0, 1]:
            continue
        if list(ix.consts.get(concat.input[1], [])) != [weight.shape[1]]:
            continue
        shape = ix.source(gather.input[0])
        if shape is None or shape.op_type != "Shape" or shape.input[0] != flat.input[0]:
            continue
        matmul.input[0] = flat.input[0]
        matmul.output[0] = back.output[0]
        graph.node.remove(back)
        done += 1
    _drop_dead(graph)
    return done


def mask_as_unsqueeze(graph: Any) -> int:
    """``Reshape(attention_mask, [0, 1, 1, -1])`` -> two Unsqueezes, and a scalar constant
    added to the mask (before it is added to the scores) dropped. Returns the changes made."""
    from onnx import helper

    ix = _Index(graph)
    done = 0
    for node in list(graph.node):
        if node.op_type != "Reshape" or node.input[0] != "attention_mask":
            continue
        if list(ix.consts.get(node.input[1], [])) != [0, 1, 1, -1]:
            continue
        one = ix.add_const("mask_axis_1", np.array([1], dtype=np.int64))
        two = ix.add_const("mask_axis_2", np.array([2], dtype=np.int64))
        middle = f"{node.name}_unsqueezed"
        first = helper.make_node("Unsqueeze", [node.input[0], one], [middle], name=middle)
        graph.node.insert(list(graph.node).index(node), first)
        node.op_type = "Unsqueeze"
        node.input[:] = [middle, two]
        done += 1
    for node in list(graph.node):
        scalar = ix.scalar(node) if node.op_type == "Add" else None
        other = [i for i in node.input if scalar and i != scalar[0]]
        mask = ix.producer.get(other[0]) if len(other) == 1 else None
        if mask is None or mask.op_type != "Mul" or ix.scalar(mask) is None:
            continue
        users = ix.consumers[node.output[0]]
        # Every reader adds it to attention scores that go straight into a Softmax.
        if not users or not all(_feeds_softmax(ix, user) for user in users):
            continue
        for user in users:
            user.input[:] = [other[0] if i == node.output[0] else i for i in user.input]
        graph.node.remove(node)
        done += 1
    return done


def _feeds_softmax(ix: _Index, node: Any) -> bool:
    users = ix.consumers[node.output[0]]
    return node.op_type == "Add" and len(users) == 1 and users[0].op_type == "Softmax"


def scale_as_div(graph: Any) -> int:
    """``Mul(q k, c)`` feeding the score Add before a Softmax -> ``Div(q k, 1 / c)``."""
    ix = _Index(graph)
    done = 0
    for node in graph.node:
        scalar = ix.scalar(node) if node.op_type == "Mul" else None
        users = ix.consumers[node.output[0]]
        if scalar is None or scalar[1] <= 0 or len(users) != 1 or not _feeds_softmax(ix, users[0]):
            continue
        product = ix.producer.get(next(i for i in node.input if i != scalar[0]))
        if product is None or product.op_type != "MatMul":
            continue
        dtype = ix.consts[scalar[0]].dtype
        inverse = ix.add_const(f"{scalar[0]}_inverse", np.array(1.0 / scalar[1], dtype=dtype))
        node.op_type = "Div"
        node.input[:] = [product.output[0], inverse]
        done += 1
    return done


def gelu_as_erf(graph: Any) -> int:
    """``1 - erf(neg(x) * 0.7071)`` -> ``erf(x / 1.4142) + 1`` (erfc(-y) = 1 + erf(y))."""
    ix = _Index(graph)
    done = 0
    for erf in [n for n in graph.node if n.op_type == "Erf"]:
        scale = ix.producer.get(erf.input[0])
        users = ix.consumers[erf.output[0]]
        if scale is None or scale.op_type != "Mul" or len(users) != 1 or users[0].op_type != "Sub":
            continue
        sub, c = users[0], ix.scalar(scale)
        neg = [ix.producer.get(i) for i in scale.input if i not in ix.consts]
        if c is None or abs(c[1] - 0.70710677) > 1e-4 or not neg or neg[0] is None:
            continue
        if neg[0].op_type != "Neg" or sub.input[1] != erf.output[0]:
            continue
        one = sub.input[0]
        if one not in ix.consts or float(ix.consts[one].ravel()[0]) != 1.0:
            continue
        dtype = ix.consts[c[0]].dtype
        sqrt2 = ix.add_const("gelu_sqrt2", np.array(np.sqrt(2.0), dtype=dtype))
        scale.op_type = "Div"
        scale.input[:] = [neg[0].input[0], sqrt2]
        sub.op_type = "Add"
        sub.input[:] = [erf.output[0], one]
        done += 1
    _drop_dead(graph)
    return done


def for_fusion(graph: Any) -> dict[str, int]:
    """Every rewrite, in order; how many places each changed."""
    steps = (tensordot_as_matmul, mask_as_unsqueeze, scale_as_div, gelu_as_erf)
    return {step.__name__: step(graph) for step in steps}


def _drop_dead(graph: Any) -> None:
    """Remove nodes none of whose outputs is read (by a node or as a graph output)."""
    outputs = {out.name for out in graph.output}
    while True:
        read = {name for node in graph.node for name in node.input} | outputs
        dead = [n for n in graph.node if not any(out in read for out in n.output)]
        if not dead:
            return
        for node in dead:
            graph.node.remove(node)

"""A trained TF sequence classifier -> ONNX: tf2onnx, ONNX Runtime's fusions, int8 weights.

- ``to_onnx``: tf2onnx converts the model's forward pass (int32 ``input_ids``,
  ``attention_mask``, ``token_type_ids`` of any batch and length -> ``logits``), rewrite.py
  puts Keras's subgraphs in the shapes ONNX Runtime's transformer optimizer matches, and the
  optimizer (``model_type="bert"`` with the model's heads and hidden size) fuses attention,
  GELU (with its bias) and LayerNorm + residual.
- ``quantize_int8``: ONNX Runtime's dynamic quantization, per channel, of the encoder's weight
  MatMuls (and the fused attention's Q/K/V weights) only: attention's products, the classifier
  head and the pooler stay float, and so do the embeddings (Gather is not quantized), which
  keeps the answers (whole-graph int8 changed 4.5% of the demo's labels).

Two things tf2onnx 1.17 needs under TensorFlow 2.21, both through its own extension points:
TF's exact GELU is ``0.5 x erfc(-x/sqrt 2)`` and tf2onnx has no ``Erfc`` handler (one is
registered: ``erfc(x) = 1 - erf(x)``); and its
``global_pool_optimizer`` turns LayerNorm's ReduceMean into GlobalAveragePool, which hides the
LayerNorm pattern from ONNX Runtime's fusions, so it is left out of the optimizers tf2onnx runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("pipeline.export")

OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The weight MatMuls, and the fused Attention's Q/K/V weights (QAttention).
OP_TYPES = ("MatMul", "Attention")
FLOAT_SCOPES = ("/classifier/", "/pooler/")  # the head's nodes, kept in float by quantize_int8
_registered = False


def _register_erfc() -> None:
    """tf2onnx handler for TF's ``Erfc`` (exact GELU): ``1 - Erf(x)``."""
    global _registered
    if _registered:
        return
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:  # noqa: F841  (registered by the decorator)
        @classmethod
        def version_9(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
            node.type = "Erf"
            erf = node.output[0]
            ctx.insert_new_node_on_output("Sub", erf, inputs=[one.output[0], erf])

    _registered = True


def _optimizers() -> dict[str, Any]:
    """tf2onnx's own graph optimizers less ``global_pool_optimizer`` (see the docstring)."""
    from tf2onnx import optimizer

    return {k: v for k, v in optimizer._get_optimizers().items() if k != "global_pool_optimizer"}


def to_onnx(model: Any, out: Path, raw: Path) -> dict[str, int]:
    """Write ``model``'s fused fp32 graph to ``out`` (the unfused one to ``raw``); returns the
    fused operators ONNX Runtime's optimizer counted."""
    import tensorflow as tf
    import tf2onnx
    from onnxruntime.transformers import optimizer

    _register_erfc()
    spec = [tf.TensorSpec((None, None), tf.int32, name=name) for name in INPUTS]

    @tf.function(input_signature=spec)
    def forward(input_ids: Any, attention_mask: Any, token_type_ids: Any) -> dict[str, Any]:
        logits = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            training=False,
        ).logits
        return {"logits": tf.cast(logits, tf.float32)}

    from tf2onnx import optimizer as tf2onnx_optimizer

    every = tf2onnx_optimizer._optimizers
    try:  # the conversion reads the module's table; restored whatever happens
        tf2onnx_optimizer._optimizers = _optimizers()
        tf2onnx.convert.from_function(
            forward, input_signature=spec, opset=OPSET, output_path=str(raw)
        )
    finally:
        tf2onnx_optimizer._optimizers = every
    import onnx

    from pipeline.export.rewrite import for_fusion

    proto = onnx.load(str(raw))
    rewritten = for_fusion(proto.graph)  # the subgraphs ONNX Runtime's fusions match
    onnx.save(proto, str(raw))
    logger.info("rewritten for ONNX Runtime's fusions: %s", rewritten)
    config = model.config
    # opt_level 0: only the fusions (ONNX Runtime applies its own graph optimizations when a
    # session loads the file; its offline pass imports torch).
    fused = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=0,
    )
    fused.save_model_to_file(str(out))
    stats = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    logger.info("ONNX graph written to %s; fused operators: %s", out, stats or "none")
    return stats


def head_nodes(path: Path) -> list[str]:
    """Names of the nodes of the classifier head and the pooler (kept in float)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if any(scope in n.name for scope in FLOAT_SCOPES)]


def quantize_int8(fp32: Path, out: Path) -> dict[str, Any]:
    """Dynamic int8 of the encoder's weights (``OP_TYPES``), per channel; head, pooler and
    embeddings stay float. Returns the settings (export.json records them)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = head_nodes(fp32)
    settings = {
        "method": "dynamic",
        "weight_type": "QInt8",
        "per_channel": True,
        "op_types": list(OP_TYPES),
        "weights_only": True,
        "float_nodes": len(keep),
    }
    root = logging.getLogger()
    level = root.level
    # ONNX Runtime's quantizer logs a line per tensor on the root logger (and warns of the
    # attention products it leaves alone, as asked): quiet while it runs.
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(fp32),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(OP_TYPES),
            nodes_to_exclude=keep,
            # Only MatMuls by a weight: attention's activation x activation products stay
            # float. The fused operators (com.microsoft) stop ONNX's type inference, hence the
            # default type.
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    return settings

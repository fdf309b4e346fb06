"""Per-target support predicates: can this node run on the accelerator, and if not, why.

``vdla_support(graph, node, cfg)`` answers for one node of a (plain-layout) graph with a
``Support``: ``ok``, a reason category and a sentence. Checks, in order:

===========  ==================================================================================
category     when
===========  ==================================================================================
op           the operator has no accelerator implementation (Softmax, LRN, Concat, ...)
dtype        a tensor is not int8 ("dtype float32 not supported by the accelerator (int8 only;
             quantize first)"), or the config's inputs/weights are not 8 bits wide
attribute    an attribute the accelerator lacks: grouped or dilated convolution, a 16-bit
             accumulator (QConv/QDense are defined with int32 accumulation), ceil_mode...
constant     weights, multipliers or biases computed at run time (packed into the program)
shape        the operator does not fit: wrong rank, or the operator library cannot build a
             program for these shapes on this config (the trial build's error is the reason)
===========  ==================================================================================

Accelerator operators (``compiler.ops.vdla``): QConv -> conv2d, QDense -> dense (over an NCHW
input: rows of the packed NCHW tensor, weights permuted at compile time), QAdd -> add,
Relu (int8, 4-d) -> relu, MaxPool (int8, 2-d windows) -> max_pool2d, QGlobalAveragePool ->
global_avg_pool2d. A node that passes every
check is built once here (memoized by the operator library), so lowering reuses the program.

"Too small to be worth offloading" is decided per region (``partition.py``): a region whose
GEMM work is under ``min_cycles`` cycles of the GEMM core stays on the CPU.

Every node is supported on the CPU: the LLVM operator library where it has a kernel, else the
operator's numpy definition (``runtime.kernels_cpu`` decides which and says why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accel.isa.config import HardwareConfig
from accel.isa.errors import VdlaError

from ..graph.ir import Graph, Node

# accelerator operators of the graph IR (int8 with requantization, or int8 plain ops)
VDLA_OPS = ("QConv", "QDense", "QAdd", "Relu", "MaxPool", "QGlobalAveragePool")
# float operators that become accelerator operators once quantized
QUANTIZABLE = frozenset({"Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul",
                         "Add", "Sum", "Relu", "MaxPool", "GlobalAveragePool", "Clip"})


@dataclass(frozen=True)
class Support:
    """A support decision: ``ok``, the reason ``category`` (see the module docstring) and the
    ``detail`` sentence; ``macs`` is the node's multiply-accumulate count (0 if none)."""

    ok: bool
    category: str = ""
    detail: str = ""
    macs: int = 0


def node_macs(node: Node) -> int:
    """Multiply-accumulates of a GEMM-like node (0 for the others)."""
    if node.op in ("QConv", "Conv", "FusedConv"):
        w = node.inputs[1]
        return math.prod(node.outputs[0].shape) * math.prod(w.shape[1:])
    if node.op == "QDense":
        return math.prod(node.outputs[0].shape) * int(node.inputs[1].shape[1])
    if node.op in ("Gemm", "FusedGemm", "MatMul", "FusedMatMul"):
        a = node.inputs[0].shape
        transposed = node.op in ("Gemm", "FusedGemm") and node.attrs.get("transA")
        k = (a[0] if transposed else a[-1]) if a else 1
        return math.prod(node.outputs[0].shape) * int(k)
    return 0


_VECTORS = {"QConv": (2, 4), "QDense": (2, 3)}   # multiplier, bias


def _dtypes(node: Node) -> list[str]:
    ts = [v.dtype for v in node.outputs]
    vectors = _VECTORS.get(node.op, ())     # int32 per-channel operands
    ts += [v.dtype for i, v in enumerate(node.inputs) if v is not None and i not in vectors]
    return ts


def _no(category: str, detail: str) -> Support:
    return Support(False, category, detail)


def vdla_support(graph: Graph, node: Node, cfg: HardwareConfig) -> Support:
    """Whether ``node`` of ``graph`` can run on the accelerator with configuration ``cfg``."""
    op = node.op
    if op in ("Quantize", "Dequantize"):
        return _no("dtype", f"{op} converts between float32 and int8 at the edge of the int8 "
                            f"network; the accelerator has no floating point")
    if op not in VDLA_OPS and op not in QUANTIZABLE:
        return _no("op", f"operator {op} is not supported by the accelerator")
    bad = sorted({d for d in _dtypes(node) if d != "int8"})
    if bad:
        if any(d.startswith("float") for d in bad):
            return _no("dtype", f"dtype {bad[0]} not supported by the accelerator (int8 only; "
                                f"quantize first)")
        return _no("dtype", f"dtype {bad[0]} not supported by the accelerator (int8 only)")
    if op not in VDLA_OPS:
        return _no("op", f"operator {op} is not supported by the accelerator (its int8 "
                         f"counterparts are {', '.join(VDLA_OPS)})")
    if cfg.inp_width != 8 or cfg.wgt_width != 8:
        return _no("dtype", f"int8 tensors need 8-bit accelerator inputs and weights; config "
                            f"'{cfg.name}' has {cfg.inp_width}-bit inputs and "
                            f"{cfg.wgt_width}-bit weights")
    if any(v.layout for v in node.outputs) or any(v is not None and v.layout
                                                  for v in node.inputs):
        return _no("shape", "packed layouts are converted by the accelerator program itself; "
                            "partition the plain-layout graph")
    check = _CHECKS[op]
    result = check(graph, node, cfg)
    if result is not None:
        return result
    try:
        _build(node, cfg)
    except VdlaError as e:
        return _no("shape", f"the accelerator's operator library cannot build it: {e}")
    return Support(True, "offloaded", "", node_macs(node))


# ---------------------------------------------------------------------- per-operator checks
def _acc32(cfg: HardwareConfig, op: str) -> Support | None:
    if cfg.acc_width != 32:
        return _no("attribute", f"{op} is defined with an int32 accumulator; config "
                                f"'{cfg.name}' has a {cfg.acc_width}-bit one (LOG_ACC_WIDTH=5 "
                                f"needed)")
    return None


def _const(graph: Graph, node: Node, i: int, what: str) -> Support | None:
    v = node.inputs[i] if i < len(node.inputs) else None
    if v is not None and graph.const(v) is None:
        return _no("constant", f"{what} '{v.name}' is computed at run time; the accelerator "
                               f"program needs constant {what}s (packed at compile time)")
    return None


def _check_qconv(graph: Graph, node: Node, cfg: HardwareConfig) -> Support | None:
    a = node.attrs
    if node.inputs[0].ndim != 4:
        return _no("shape", f"only 2-d convolutions run on the accelerator (input "
                            f"{node.inputs[0].type})")
    if a["group"] != 1:
        return _no("attribute", f"group={a['group']}: grouped and depthwise convolutions are "
                                f"not supported by the accelerator")
    if tuple(a["dilations"]) != (1, 1):
        return _no("attribute", f"dilations={list(a['dilations'])}: dilated convolutions are "
                                f"not supported by the accelerator")
    return (_acc32(cfg, node.op) or _const(graph, node, 1, "weight")
            or _const(graph, node, 2, "multiplier") or _const(graph, node, 4, "bias")
            or _shift(node, cfg))


def _shift(node: Node, cfg: HardwareConfig) -> Support | None:
    mult = len(node.inputs) > 2 and node.inputs[2] is not None
    hi = 2 * cfg.acc_width - 2 if mult else cfg.acc_width
    if node.attrs["shift"] > hi:
        return _no("attribute", f"shift={node.attrs['shift']} exceeds the ALU's {hi}")
    return None


def _check_qdense(graph: Graph, node: Node, cfg: HardwareConfig) -> Support | None:
    return (_acc32(cfg, node.op) or _const(graph, node, 1, "weight")
            or _const(graph, node, 2, "multiplier") or _const(graph, node, 3, "bias")
            or _shift(node, cfg))


def _check_4d(graph: Graph, node: Node, cfg: HardwareConfig) -> Support | None:
    if node.outputs[0].ndim != 4:
        return _no("shape", f"the accelerator's {node.op} takes NCHW tensors; this one is "
                            f"{node.outputs[0].type}")
    return None


def _check_maxpool(graph: Graph, node: Node, cfg: HardwareConfig) -> Support | None:
    a = node.attrs
    if node.inputs[0].ndim != 4:
        return _no("shape", f"only 2-d pooling runs on the accelerator (input "
                            f"{node.inputs[0].type})")
    if tuple(a["dilations"]) != (1, 1) or a["ceil_mode"]:
        return _no("attribute", "dilated or ceil_mode pooling is not supported by the "
                                "accelerator")
    kh, kw = a["kernel_shape"]
    p = a["pads"]
    if max(p[0], p[2]) >= kh or max(p[1], p[3]) >= kw:
        return _no("attribute", f"pads {list(p)} must be smaller than the kernel "
                                f"{kh}x{kw} on the accelerator")
    return None


_CHECKS = {"QConv": _check_qconv, "QDense": _check_qdense, "QAdd": _check_4d,
           "Relu": _check_4d, "MaxPool": _check_maxpool,
           "QGlobalAveragePool": lambda g, n, cfg: None}   # the op checks its own input


# ---------------------------------------------------------------------- trial build
def _has(node: Node, i: int) -> bool:
    return len(node.inputs) > i and node.inputs[i] is not None


def flat_nchw_features(c: int, h: int, w: int, block_in: int) -> int:
    """Features of an (N, C, H, W) tensor read in its packing: C padded to whole blocks."""
    return -(-c // block_in) * block_in * h * w


def vdla_op_args(node: Node, cfg: HardwareConfig) -> tuple[str, tuple, dict]:
    """(operator-library function name, positional args, keyword args) for ``node``."""
    a = node.attrs
    if node.op == "QConv":
        x, w = node.inputs[0], node.inputs[1]
        p = a["pads"]
        return "conv2d", (x.shape, w.shape, tuple(a["strides"]), (p[0], p[1], p[2], p[3])), \
            {"shift": a["shift"], "relu": bool(a["relu"]), "multiplier": _has(node, 2),
             "residual": _has(node, 3), "bias": _has(node, 4)}
    if node.op == "QDense" and node.inputs[0].ndim == 4:
        # over a flattened NCHW tensor: a dense layer reading the packed NCHW tensor as rows
        # of C/BLOCK_IN * H * W blocks, its weight columns permuted to match (no re-layout)
        n, c, h, w = node.inputs[0].shape
        k = flat_nchw_features(c, h, w, cfg.block_in)
        return "dense", ((n, k), (node.inputs[1].shape[0], k)), \
            {"shift": a["shift"], "relu": bool(a["relu"]), "multiplier": _has(node, 2),
             "bias": _has(node, 3)}
    if node.op == "QDense":
        return "dense", (node.inputs[0].shape, node.inputs[1].shape), \
            {"shift": a["shift"], "relu": bool(a["relu"]), "multiplier": _has(node, 2),
             "bias": _has(node, 3)}
    if node.op == "QAdd":
        return "add", (node.outputs[0].shape,), {"relu": bool(a["relu"])}
    if node.op == "Relu":
        return "relu", (node.outputs[0].shape,), {}
    if node.op == "MaxPool":
        p = a["pads"]
        return "max_pool2d", (node.inputs[0].shape, tuple(a["kernel_shape"]),
                              tuple(a["strides"]), (p[0], p[1], p[2], p[3])), {}
    if node.op == "QGlobalAveragePool":
        return "global_avg_pool2d", (node.inputs[0].shape,), {"shift": a["shift"]}
    raise KeyError(node.op)


def _build(node: Node, cfg: HardwareConfig):
    """The operator library's ``VdlaOp`` for ``node`` (memoized there)."""
    from ..codegen.vdla.target import target
    from ..ops import vdla

    fn, args, kwargs = vdla_op_args(node, cfg)
    return getattr(vdla, fn)(*args, **kwargs, tgt=target(cfg))


build_vdla_op = _build

__all__ = ["QUANTIZABLE", "VDLA_OPS", "Support", "build_vdla_op", "flat_nchw_features",
           "node_macs",
           "vdla_op_args", "vdla_support"]

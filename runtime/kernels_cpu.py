"""CPU kernels: each graph node becomes a callable over numpy arrays, built on the LLVM operator
library (``compiler.ops.cpu``) where it has the operator, else the node's numpy definition.

``lower_cpu(node, constants) -> CpuKernel``; ``kernel(arrays) -> [outputs]``, where ``arrays``
are the node's inputs in order (None for omitted ones). Kernels never write into their inputs.

==================================  =================================================
graph operator                      kernel
==================================  =================================================
Conv, FusedConv (1-d, 2-d)          llvm conv2d (constant weights pre-packed), then the
                                    epilogue in place (numpy ufuncs with ``out=``); grouped
                                    convolutions the library would run with its slow
                                    spatial schedule: one conv2d per group (batch 1)
Gemm, FusedGemm, MatMul,            llvm matmul (constant B pre-packed; bias folded in
FusedMatMul                         when it is a row vector), epilogue in place
MaxPool, AveragePool (1-d, 2-d),    llvm max_pool2d, avg_pool2d, global_avg_pool2d,
GlobalAveragePool, BatchNorm, LRN,  batch_norm, lrn, softmax
Softmax
Relu Sigmoid LeakyRelu Clip Cast    llvm element-wise operators (numpy broadcasting)
Add Sub Mul Div Sum
Concat Transpose Pad                llvm concat, transpose, pad
Reshape Flatten Squeeze Unsqueeze   views (no copy)
Identity Split Slice
QConv, QDense                       llvm int8 conv2d / dense (int32, exact), then the
                                    requantization epilogue (int64 numpy)
everything else                     numpy: the operator's reference definition
==================================  =================================================

Output buffers: an LLVM kernel writes into a buffer of its own, allocated on its first run and
reused by every later run (``CpuOp.run(out=...)``), so that steady-state runs neither allocate
nor page-fault fresh memory for their activations (the fused epilogues then run on memory
that is already mapped). A kernel's result is therefore only valid until its next run: the
executor copies the graph's outputs, and one module's kernels serve one run at a time.

A node falls back to numpy when the library lacks its dtype (float64, int64, bool...), rank
(3-d convolutions), attributes or an operator; ``kernel.description`` says which it got and
why (``"llvm:conv2d"``, ``"numpy: no LLVM kernel for dtype float64"``). Every LLVM operator is
compiled here, so a module's compile step reports failures, and its object code can be stored
with the module (``kernel.ops``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from compiler.graph import reference
from compiler.graph.ir import Node
from compiler.graph.ops import get_op, run_compute
from compiler.graph.ops.elementwise import apply_epilogue
from compiler.graph.ops.quantized import requantize
from compiler.ops import cpu

Arrays = Sequence[np.ndarray | None]


class CpuKernel:
    """One node's CPU implementation. ``kind``: "llvm", "view" or "numpy"."""

    def __init__(self, node: Node, fn: Callable[[Arrays], list[np.ndarray]], kind: str,
                 detail: str, ops: Sequence[cpu.CpuOp] = ()) -> None:
        self.node, self.fn, self.kind, self.detail = node, fn, kind, detail
        self.ops = list(ops)

    @property
    def description(self) -> str:
        return f"{self.kind}:{self.detail}" if self.kind != "numpy" else f"numpy: {self.detail}"

    def __call__(self, arrays: Arrays) -> list[np.ndarray]:
        return self.fn(arrays)

    def __repr__(self) -> str:
        return f"<CpuKernel {self.node.op} '{self.node.name}' {self.description}>"


class _Buffer:
    """The persistent output buffer of one LLVM operator (allocated on first use)."""

    __slots__ = ("shape", "dtype", "array")

    def __init__(self, op: cpu.CpuOp | None = None, shape=None, dtype=None) -> None:
        self.shape = op.out_shape if op is not None else tuple(shape)
        self.dtype = op.out_dtype if op is not None else dtype
        self.array = None

    def __call__(self) -> np.ndarray:
        if self.array is None:
            self.array = np.empty(self.shape, self.dtype)
        return self.array


class _Fallback(Exception):
    """This node runs its numpy definition; the message says why."""


def lower_cpu(node: Node, constants: Mapping[str, np.ndarray]) -> CpuKernel:
    """The CPU kernel of ``node``; ``constants`` maps constant value names to arrays."""
    try:
        if any(v is not None and v.layout for v in node.inputs) or \
                any(v.layout for v in node.outputs):
            raise _Fallback("packed layouts run their numpy definition")
        if any(v is not None and 0 in v.shape for v in (*node.inputs, *node.outputs)):
            raise _Fallback("an empty tensor")
        lower = _LOWER.get(node.op)
        if lower is None:
            raise _Fallback(f"no LLVM kernel for {node.op}")
        kernel = lower(node, constants)
    except _Fallback as e:
        return _numpy(node, str(e))
    except cpu.OpError as e:
        return _numpy(node, f"the LLVM operator library cannot build it ({e})")
    for op in kernel.ops:
        _ = op.compiled      # compile now: errors surface at compile time, not at run time
    return kernel


def _numpy(node: Node, why: str) -> CpuKernel:
    return CpuKernel(node, lambda arrays: reference.run_node(node, arrays), "numpy", why)


# ---------------------------------------------------------------------- helpers
LLVM_FLOAT = ("float32",)


def _dtypes(node: Node, allowed: Sequence[str]) -> str:
    """The node's dtype (of its first input), if every tensor has an allowed dtype."""
    for v in (*node.inputs, *node.outputs):
        if v is not None and v.dtype not in allowed:
            raise _Fallback(f"no LLVM kernel for dtype {v.dtype}")
    return node.inputs[0].dtype if node.inputs else node.outputs[0].dtype


def _s(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Rank-0 tensors run as one element."""
    return shape if shape else (1,)


def _epilogue(steps) -> Callable[[np.ndarray, Arrays], np.ndarray]:
    """Apply a fused node's epilogue to its (freshly allocated) result, in place."""
    if not steps:
        return lambda y, arrays: y

    def apply(y: np.ndarray, arrays: Arrays) -> np.ndarray:
        for s in steps:
            other = arrays[s.operand] if s.operand is not None else None
            if s.op == "Relu":
                np.maximum(y, y.dtype.type(0), out=y)
            elif s.op == "Add":
                np.add(y, other, out=y)
            elif s.op == "Mul":
                np.multiply(y, other, out=y)
            elif s.op == "Clip" and y.dtype.kind == "f":
                lo, hi = s.attrs.get("min"), s.attrs.get("max")
                if lo is not None:
                    np.maximum(y, y.dtype.type(lo), out=y)
                if hi is not None:
                    np.minimum(y, y.dtype.type(hi), out=y)
            elif s.op == "LeakyRelu":
                np.multiply(y, y.dtype.type(s.attrs.get("alpha", 0.01)), out=y, where=y < 0)
            else:
                y = apply_epilogue(s, y, other)
        return y

    return apply


def _window_2d(node: Node) -> tuple[tuple, tuple, tuple, tuple, tuple]:
    """(input shape, kernel, strides, pads (t, l, b, r), dilations) of a 1-d or 2-d window op,
    a 1-d one seen as 2-d with height 1."""
    x = node.inputs[0]
    a = node.attrs
    k, s, p, d = a["kernel_shape"], a["strides"], a["pads"], a["dilations"]
    if x.ndim == 4:
        return x.shape, tuple(k), tuple(s), (p[0], p[1], p[2], p[3]), tuple(d)
    if x.ndim == 3:
        return ((x.shape[0], x.shape[1], 1, x.shape[2]), (1, k[0]), (1, s[0]),
                (0, p[0], 0, p[1]), (1, d[0]))
    raise _Fallback(f"no LLVM kernel for {x.ndim - 2}-d windows")


# ---------------------------------------------------------------------- convolutions
def _conv(node: Node, consts: Mapping[str, np.ndarray]) -> CpuKernel:
    _dtypes(node, LLVM_FLOAT)
    w = node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    xs, _, stride, pads, dil = _window_2d(node)
    ws = (w.shape[0], w.shape[1], 1, w.shape[2]) if w.ndim == 3 else w.shape
    wc = consts.get(w.name)
    op = cpu.conv2d(xs, ws, stride=stride, padding=pads, dilation=dil,
                    groups=node.attrs["group"], dtype="float32", bias=b is not None,
                    packed_weights=wc is not None)
    if op.config.get("schedule") == "spatial" and xs[0] == 1 and ws[1] > 1 and wc is not None:
        split = _split_groups(node, consts, xs, ws, stride, pads, dil)
        if split is not None:
            return split
    wp = op.pack_weights(wc.reshape(ws)) if wc is not None else None
    bc = consts.get(b.name) if b is not None else None
    epi = _epilogue(node.attrs.get("epilogue", ()))
    out_shape = node.outputs[0].shape
    buf = _Buffer(op)

    def run(arrays: Arrays) -> list[np.ndarray]:
        args = [arrays[0].reshape(xs), wp if wp is not None else arrays[1].reshape(ws)]
        if b is not None:
            args.append(bc if bc is not None else arrays[2])
        return [epi(op(*args, out=buf()).reshape(out_shape), arrays)]

    return CpuKernel(node, run, "llvm", "conv2d", [op])


def _split_groups(node: Node, consts: Mapping[str, np.ndarray], xs, ws, stride, pads, dil
                  ) -> CpuKernel | None:
    """A grouped (not depthwise) convolution as one ordinary convolution per group.

    The library runs grouped convolutions whose groups have a few output channels each (not
    a multiple of the vector width) with its spatial schedule, several times slower than its
    blocked one (ShuffleNet's 1x1 group-4 convolutions: 2.5 vs 40+ GMAC/s). With batch 1,
    each group's input channels and output channels are contiguous slices, so the per-group
    convolutions read and write them in place, without copies.
    """
    g = node.attrs["group"]
    k, cg = ws[0], ws[1]
    kg = k // g
    b = node.inputs[2] if len(node.inputs) > 2 else None
    sub = cpu.conv2d((1, cg) + tuple(xs[2:]), (kg,) + tuple(ws[1:]), stride=stride,
                     padding=pads, dilation=dil, groups=1, dtype="float32",
                     bias=b is not None, packed_weights=True)
    if sub.config.get("schedule") != "blocked":
        return None
    w = consts[node.inputs[1].name].reshape(ws)
    wps = [sub.pack_weights(np.ascontiguousarray(w[i * kg:(i + 1) * kg])) for i in range(g)]
    bc = consts.get(b.name) if b is not None else None
    out_shape = node.outputs[0].shape
    buf = _Buffer(shape=(1, k) + tuple(sub.out_shape[2:]), dtype=sub.out_dtype)
    epi = _epilogue(node.attrs.get("epilogue", ()))

    def run(arrays: Arrays) -> list[np.ndarray]:
        x = arrays[0].reshape(xs)
        y = buf()
        bias = bc if bc is not None else (arrays[2] if b is not None else None)
        for i in range(g):
            args = [x[:, i * cg:(i + 1) * cg], wps[i]]
            if bias is not None:
                args.append(bias[i * kg:(i + 1) * kg])
            sub(*args, out=y[:, i * kg:(i + 1) * kg])
        return [epi(y.reshape(out_shape), arrays)]

    return CpuKernel(node, run, "llvm", f"conv2d per group ({g})", [sub])


def _qconv(node: Node, consts: Mapping[str, np.ndarray]) -> CpuKernel:
    x, w = node.inputs[0], node.inputs[1]
    if x.ndim != 4:
        raise _Fallback(f"no LLVM kernel for {x.ndim - 2}-d int8 convolutions")
    xs, _, stride, pads, dil = _window_2d(node)
    wc = consts.get(w.name)
    op = cpu.conv2d(xs, w.shape, stride=stride, padding=pads, dilation=dil,
                    groups=node.attrs["group"], dtype="int8", bias=False,
                    packed_weights=wc is not None)
    wp = op.pack_weights(wc) if wc is not None else None
    shift, relu = node.attrs["shift"], bool(node.attrs["relu"])
    buf = _Buffer(op)

    def run(arrays: Arrays) -> list[np.ndarray]:
        acc = op(arrays[0], wp if wp is not None else arrays[1], out=buf())
        m = arrays[2] if len(arrays) > 2 else None
        r = arrays[3] if len(arrays) > 3 else None
        b = arrays[4] if len(arrays) > 4 else None
        return [requantize(acc, shift, m, r, relu, bias=b)]

    return CpuKernel(node, run, "llvm", "conv2d int8 + requantize", [op])


# ---------------------------------------------------------------------- dense products
def _gemm(node: Node, consts: Mapping[str, np.ndarray]) -> CpuKernel:
    _dtypes(node, LLVM_FLOAT)
    a_v, b_v = node.inputs[0], node.inputs[1]
    c_v = node.inputs[2] if len(node.inputs) > 2 else None
    at = node.attrs
    ta, tb = bool(at["transA"]), bool(at["transB"])
    alpha, beta = np.float32(at["alpha"]), np.float32(at["beta"])
    m, n = node.outputs[0].shape
    bias = (c_v is not None and at["alpha"] == 1.0 and at["beta"] == 1.0
            and c_v.shape in ((n,), (1, n)))
    bc = consts.get(b_v.name)
    op = cpu.matmul(a_v.shape, b_v.shape, "float32", trans_a=ta, trans_b=tb, bias=bias,
                    packed_b=bc is not None)
    bp = op.pack_weights(bc) if bc is not None else None
    cc = consts.get(c_v.name) if c_v is not None else None
    epi = _epilogue(at.get("epilogue", ()))
    buf = _Buffer(op)

    def run(arrays: Arrays) -> list[np.ndarray]:
        c = None if c_v is None else (cc if cc is not None else arrays[2])
        args = [arrays[0], bp if bp is not None else arrays[1]]
        if bias:
            args.append(c.reshape(n))
        y = op(*args, out=buf())
        if at["alpha"] != 1.0:
            np.multiply(y, alpha, out=y)
        if c is not None and not bias:
            np.add(y, c * beta if at["beta"] != 1.0 else c, out=y)
        return [epi(y, arrays)]

    return CpuKernel(node, run, "llvm", "matmul", [op])


def _matmul(node: Node, consts: Mapping[str, np.ndarray]) -> CpuKernel:
    dtype = _dtypes(node, ("float32", "int32"))
    a_v, b_v = node.inputs[0], node.inputs[1]
    if b_v.ndim != 2 or a_v.ndim < 1:
        raise _Fallback("no LLVM kernel for a batched right operand (numpy matmul)")
    a_shape = a_v.shape if a_v.ndim >= 2 else (1,) + a_v.shape
    bc = consts.get(b_v.name)
    op = cpu.matmul(a_shape, b_v.shape, dtype, packed_b=bc is not None)
    bp = op.pack_weights(bc) if bc is not None else None
    out_shape = node.outputs[0].shape
    epi = _epilogue(node.attrs.get("epilogue", ()))
    buf = _Buffer(op)

    def run(arrays: Arrays) -> list[np.ndarray]:
        y = op(arrays[0].reshape(a_shape), bp if bp is not None else arrays[1], out=buf())
        return [epi(y.reshape(out_shape), arrays)]

    return CpuKernel(node, run, "llvm", "matmul", [op])


def _qdense(node: Node, consts: Mapping[str, np.ndarray]) -> CpuKernel:
    x, w = node.inputs[0], node.inputs[1]
    wc = consts.get(w.name)
    xs = (x.shape[0], w.shape[1])            # an NCHW input is flattened first
    op = cpu.dense(xs, w.shape, dtype="int8", bias=False, packed_weights=wc is not None)
    wp = op.pack_weights(wc) if wc is not None else None
    shift, relu = node.attrs["shift"], bool(node.attrs["relu"])
    buf = _Buffer(op)

    def run(arrays: Arrays) -> list[np.ndarray]:
        acc = op(arrays[0].reshape(xs), wp if wp is not None else arrays[1], out=buf())
        m = arrays[2] if len(arrays) > 2 else None
        b = arrays[3] if len(arrays) > 3 else None
        return [requantize(acc, shift, m, None, relu, bias=b)]

    return CpuKernel(node, run, "llvm", "dense int8 + requantize", [op])


# ---------------------------------------------------------------------- pooling, norms
def _single(node: Node, op: cpu.CpuOp, in_shapes: Sequence[tuple], name: str,
            n_inputs: int = 1) -> CpuKernel:
    """A kernel calling ``op`` on the first ``n_inputs`` arrays, reshaped as it expects."""
    out_shape = node.outputs[0].shape
    buf = _Buffer(op)

    def run(arrays: Arrays) -> list[np.ndarray]:
        args = [a.reshape(s) for a, s in zip(arrays[:n_inputs], in_shapes)]
        return [op(*args, out=buf()).reshape(out_shape)]

    return CpuKernel(node, run, "llvm", name, [op])


def _maxpool(node: Node, consts) -> CpuKernel:
    dtype = _dtypes(node, ("float32", "int8", "uint8", "int16", "int32"))
    xs, k, s, p, d = _window_2d(node)
    op = cpu.max_pool2d(xs, k, stride=s, padding=p, dilation=d,
                        ceil_mode=bool(node.attrs["ceil_mode"]), dtype=dtype)
    return _single(node, op, [xs], "max_pool2d")


def _avgpool(node: Node, consts) -> CpuKernel:
    _dtypes(node, LLVM_FLOAT)
    xs, k, s, p, d = _window_2d(node)
    if d != (1, 1):
        raise _Fallback("no LLVM kernel for dilated average pooling")
    op = cpu.avg_pool2d(xs, k, stride=s, padding=p, ceil_mode=bool(node.attrs["ceil_mode"]),
                        count_include_pad=bool(node.attrs.get("count_include_pad", 0)))
    return _single(node, op, [xs], "avg_pool2d")


def _gap(node: Node, consts) -> CpuKernel:
    _dtypes(node, LLVM_FLOAT)
    x = node.inputs[0]
    return _single(node, cpu.global_avg_pool2d(x.shape), [x.shape], "global_avg_pool2d")


def _batchnorm(node: Node, consts) -> CpuKernel:
    _dtypes(node, LLVM_FLOAT)
    x = node.inputs[0]
    c = (x.shape[1],)
    op = cpu.batch_norm(x.shape, epsilon=float(node.attrs["epsilon"]))
    return _single(node, op, [x.shape, c, c, c, c], "batch_norm", 5)


def _lrn(node: Node, consts) -> CpuKernel:
    _dtypes(node, LLVM_FLOAT)
    a = node.attrs
    x = node.inputs[0]
    op = cpu.lrn(x.shape, int(a["size"]), alpha=float(a["alpha"]), beta=float(a["beta"]),
                 bias=float(a["bias"]))
    return _single(node, op, [x.shape], "lrn")


def _softmax(node: Node, consts) -> CpuKernel:
    _dtypes(node, LLVM_FLOAT)
    x = node.inputs[0]
    return _single(node, cpu.softmax(x.shape, axis=node.attrs["axis"]), [x.shape], "softmax")


# ---------------------------------------------------------------------- element-wise
def _unary(name: str, build: Callable[[tuple, str, Node], cpu.CpuOp], dtypes=None):
    def lower(node: Node, consts) -> CpuKernel:
        dtype = _dtypes(node, dtypes) if dtypes else node.inputs[0].dtype
        shape = _s(node.inputs[0].shape)
        return _single(node, build(shape, dtype, node), [shape], name)

    return lower


def _clip(node: Node, consts) -> CpuKernel:
    bounds = []
    for v in (list(node.inputs[1:]) + [None, None])[:2]:
        if v is None:
            bounds.append(None)
        elif v.name in consts:
            bounds.append(consts[v.name].reshape(()).item())
        else:
            raise _Fallback("no LLVM kernel for Clip with bounds computed at run time")
    shape = _s(node.inputs[0].shape)
    op = cpu.clip(shape, node.inputs[0].dtype, min=bounds[0], max=bounds[1])
    return _single(node, op, [shape], "clip")


def _cast(node: Node, consts) -> CpuKernel:
    src, dst = node.inputs[0].dtype, node.attrs["to"]
    if src == dst:
        return _view(node, consts)
    if src.startswith("float") and not dst.startswith("float"):
        raise _Fallback("float to integer casts use numpy's conversion (out-of-range values)")
    shape = _s(node.inputs[0].shape)
    return _single(node, cpu.cast(shape, src, to=dst), [shape], "cast")


def _binary(name: str):
    build = getattr(cpu, name)

    def lower(node: Node, consts) -> CpuKernel:
        a, b = node.inputs
        dtype = _dtypes(node, ("float32", "int8", "uint8", "int16", "int32"))
        shapes = [_s(a.shape), _s(b.shape)]
        return _single(node, build(shapes[0], shapes[1], dtype), shapes, name, 2)

    return lower


def _sum(node: Node, consts) -> CpuKernel:
    dtype = _dtypes(node, ("float32", "int8", "uint8", "int16", "int32"))
    if len(node.inputs) == 1:
        return CpuKernel(node, lambda arrays: [arrays[0].copy()], "view", "copy")
    shapes = [_s(v.shape) for v in node.inputs]
    ops, acc = [], shapes[0]
    for s in shapes[1:]:
        op = cpu.add(acc, s, dtype)
        ops.append(op)
        acc = op.out_shape
    out_shape = node.outputs[0].shape
    bufs = [_Buffer(op) for op in ops]

    def run(arrays: Arrays) -> list[np.ndarray]:
        y = arrays[0].reshape(shapes[0])
        for op, buf, a, s in zip(ops, bufs, arrays[1:], shapes[1:]):
            y = op(y, a.reshape(s), out=buf())
        return [y.reshape(out_shape)]

    return CpuKernel(node, run, "llvm", "add", ops)


# ---------------------------------------------------------------------- data movement
def _view(node: Node, consts) -> CpuKernel:
    """Reshape-like operators and slicing: numpy views of the input, no copy."""
    opdef = get_op(node.op)
    attrs = node.attrs
    return CpuKernel(node, lambda arrays: run_compute(opdef, attrs, list(arrays)), "view",
                     node.op.lower())


def _concat(node: Node, consts) -> CpuKernel:
    dtype = _dtypes(node, ("float32", "int8", "uint8", "int16", "int32"))
    shapes = [v.shape for v in node.inputs]
    if any(not s for s in shapes):
        raise _Fallback("no LLVM kernel for scalars")
    op = cpu.concat(shapes, axis=node.attrs["axis"], dtype=dtype)
    return _single(node, op, shapes, "concat", len(shapes))


def _transpose(node: Node, consts) -> CpuKernel:
    dtype = _dtypes(node, ("float32", "int8", "uint8", "int16", "int32"))
    x = node.inputs[0]
    if not x.shape:
        return _view(node, consts)
    op = cpu.transpose(x.shape, perm=tuple(node.attrs["perm"]), dtype=dtype)
    return _single(node, op, [x.shape], "transpose")


def _pad(node: Node, consts) -> CpuKernel:
    dtype = _dtypes(node, ("float32", "int8", "uint8", "int16", "int32"))
    a = node.attrs
    if a["mode"] not in ("constant", "edge", "reflect"):
        raise _Fallback(f"no LLVM kernel for pad mode '{a['mode']}'")
    x = node.inputs[0]
    value = float(a["value"]) if dtype == "float32" else int(a["value"])
    op = cpu.pad(x.shape, tuple(a["pads"]), mode=a["mode"], value=value, dtype=dtype)
    return _single(node, op, [x.shape], "pad")


_LOWER: dict[str, Callable[[Node, Mapping[str, np.ndarray]], CpuKernel]] = {
    "Conv": _conv, "FusedConv": _conv, "QConv": _qconv,
    "Gemm": _gemm, "FusedGemm": _gemm, "MatMul": _matmul, "FusedMatMul": _matmul,
    "QDense": _qdense,
    "MaxPool": _maxpool, "AveragePool": _avgpool, "GlobalAveragePool": _gap,
    "BatchNormalization": _batchnorm, "LRN": _lrn, "Softmax": _softmax,
    "Relu": _unary("relu", lambda s, d, n: cpu.relu(s, d)),
    "Sigmoid": _unary("sigmoid", lambda s, d, n: cpu.sigmoid(s, d), LLVM_FLOAT),
    "LeakyRelu": _unary("leaky_relu",
                        lambda s, d, n: cpu.leaky_relu(s, d, alpha=float(n.attrs["alpha"])),
                        LLVM_FLOAT),
    "Clip": _clip, "Cast": _cast,
    "Add": _binary("add"), "Sub": _binary("sub"), "Mul": _binary("mul"),
    "Div": _binary("div"), "Sum": _sum,
    "Concat": _concat, "Transpose": _transpose, "Pad": _pad,
    "Reshape": _view, "Flatten": _view, "Squeeze": _view, "Unsqueeze": _view,
    "Identity": _view, "Split": _view, "Slice": _view,
}

__all__ = ["CpuKernel", "lower_cpu"]

"""Normalisations: softmax (and log-softmax), batch-norm inference, LRN (ONNX semantics).

softmax over ``axis`` runs on the tensor viewed as ``(outer, n, inner)``, stably::

    M[o, i]    = max_j X[o, j, i]
    E[o, j, i] = exp(X[o, j, i] - M[o, i])
    S[o, i]    = sum_j E[o, j, i]
    Y[o, j, i] = E[o, j, i] * (1 / S[o, i])        (log-softmax: X - M - log S)

with M and S computed inside the parallel loop over ``o`` and E not stored (exp is evaluated
twice rather than stored and reloaded); the inner dimension is vectorized when it is long
(softmax over the channels of NCHW), otherwise the row.

batch_norm (inference): ``y = (x - mean) / sqrt(var + epsilon) * scale + bias`` per channel
(axis 1); the per-channel factor and offset are computed once, then one multiply-add per
element.

lrn (ONNX ``LRN``): ``y = x / (bias + alpha / size * square_sum) ** beta`` where square_sum
sums ``x**2`` over channels ``c - floor((size-1)/2) .. c + ceil((size-1)/2)`` (clipped).
"""

from __future__ import annotations

from ... import te
from .base import (
    FLOAT_DTYPES,
    PARALLEL_MIN_WORK,
    CpuOp,
    check_dtype,
    check_shape,
    memoize,
    norm_axis,
    prod,
    schedule_injective,
    vector_lanes,
)
from .errors import OpAttributeError


def _softmax(name: str, shape, axis: int, dtype: str, log: bool) -> CpuOp:
    shape = check_shape(name, "input shape", shape)
    dtype = check_dtype(name, dtype, FLOAT_DTYPES)
    ax = norm_axis(name, axis, len(shape))
    outer, n, inner = prod(shape[:ax]), shape[ax], prod(shape[ax + 1:])
    X = te.placeholder((outer, n, inner), dtype, name="X")

    j1 = te.reduce_axis((0, n), name="j")
    M = te.compute((outer, inner), lambda o, i: te.max(X[o, j1, i], axis=j1), name="M")
    j2 = te.reduce_axis((0, n), name="j")
    S = te.compute((outer, inner), lambda o, i: te.sum(te.exp(X[o, j2, i] - M[o, i]),
                                                       axis=j2), name="S")
    if log:
        Y = te.compute((outer, n, inner),
                       lambda o, j, i: X[o, j, i] - M[o, i] - te.log(S[o, i]), name=name)
    else:
        R = te.compute((outer, inner), lambda o, i: 1.0 / S[o, i], name="R")
        Y = te.compute((outer, n, inner),
                       lambda o, j, i: te.exp(X[o, j, i] - M[o, i]) * R[o, i], name=name)
    s = te.create_schedule(Y)
    lanes = vector_lanes(dtype)
    o, j, i = s[Y].op.axis
    if outer * n * inner >= PARALLEL_MIN_WORK and outer > 1:
        s[Y].parallel(o)
    vec_inner = inner >= lanes // 2
    if vec_inner:
        io, ii = s[Y].split(i, factor=lanes)
        s[Y].reorder(o, io, j, ii)
        s[Y].vectorize(ii)
        at = io
    else:
        s[Y].reorder(o, i, j)
        jo, ji = s[Y].split(j, factor=lanes)
        s[Y].vectorize(ji)
        at = i
    # M, S (and R) per row block, inside the loop over rows (readers first: M is read by S
    # and Y there, S by R)
    for t in (() if log else (R,)) + (S, M):
        s[t].compute_at(s[Y], at)
    if not log and vec_inner:
        s[R].vectorize(s[R].op.axis[1])
    for t in (M, S):     # reductions: the reduction loop outside the vectorized inner axis
        _, ti = s[t].op.axis
        (tj,) = s[t].op.reduce_axis
        s[t].reorder(tj, ti)
        if vec_inner:
            s[t].vectorize(ti)
    return CpuOp(name, s, [X], Y, attrs={"axis": ax}, in_shapes=[shape], out_shape=shape)


@memoize
def softmax(shape, axis: int = -1, dtype: str = "float32") -> CpuOp:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (ONNX ``Softmax``, opset 13).

    For the opset < 13 behaviour (the tensor flattened to 2-D at ``axis``), pass the
    flattened shape and ``axis=-1``.
    """
    return _softmax("softmax", shape, axis, dtype, log=False)


@memoize
def log_softmax(shape, axis: int = -1, dtype: str = "float32") -> CpuOp:
    """``x - max - log(sum(exp(x - max)))`` along ``axis``."""
    return _softmax("log_softmax", shape, axis, dtype, log=True)


@memoize
def batch_norm(x_shape, dtype: str = "float32", epsilon: float = 1e-5) -> CpuOp:
    """Inference batch norm over axis 1: inputs ``(x, scale, bias, mean, var)``, the last
    four of shape ``(C,)``."""
    name = "batch_norm"
    x_shape = check_shape(name, "input shape (N, C, ...)", x_shape, min_ndim=2)
    dtype = check_dtype(name, dtype, FLOAT_DTYPES)
    if not isinstance(epsilon, (int, float)) or epsilon < 0:
        raise OpAttributeError(f"{name}: epsilon={epsilon!r} must be a number >= 0")
    n, c, sp = x_shape[0], x_shape[1], prod(x_shape[2:])
    X = te.placeholder((n, c, sp) if sp > 1 else (n, c), dtype, name="X")
    scale, bias, mean, var = (te.placeholder((c,), dtype, name=nm)
                              for nm in ("scale", "bias", "mean", "var"))
    eps = te.const(float(epsilon), dtype)
    F = te.compute((c,), lambda k: scale[k] / te.sqrt(var[k] + eps), name="F")
    G = te.compute((c,), lambda k: bias[k] - mean[k] * F[k], name="G")
    if sp > 1:
        Y = te.compute(X.shape, lambda b, k, i: X[b, k, i] * F[k] + G[k], name=name)
    else:
        Y = te.compute(X.shape, lambda b, k: X[b, k] * F[k] + G[k], name=name)
    s = te.create_schedule(Y)
    schedule_injective(s, Y)
    return CpuOp(name, s, [X, scale, bias, mean, var], Y, attrs={"epsilon": epsilon},
                 in_shapes=[x_shape] + [(c,)] * 4, out_shape=x_shape)


@memoize
def lrn(x_shape, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0,
        dtype: str = "float32") -> CpuOp:
    """Local response normalisation across channels (ONNX ``LRN``)."""
    name = "lrn"
    x_shape = check_shape(name, "input shape (N, C, ...)", x_shape, min_ndim=3)
    dtype = check_dtype(name, dtype, FLOAT_DTYPES)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise OpAttributeError(f"{name}: size={size!r} must be a positive int")
    for attr, v in (("alpha", alpha), ("beta", beta), ("bias", bias)):
        if not isinstance(v, (int, float)):
            raise OpAttributeError(f"{name}: {attr}={v!r} must be a number")
    n, c, sp = x_shape[0], x_shape[1], prod(x_shape[2:])
    lo = (size - 1) // 2
    X = te.placeholder((n, c, sp), dtype, name="X")
    r = te.reduce_axis((0, size), name="r")

    def sq(b, k, i):
        ch = k - lo + r
        x = X[b, te.min(te.max(ch, 0), c - 1), i]
        return te.sum(te.select(te.all(ch >= 0, ch < c), x * x, te.const(0.0, dtype)),
                      axis=r)

    SQ = te.compute((n, c, sp), sq, name="SQ")
    k_a = te.const(float(alpha) / size, dtype)
    k_b, k_beta = te.const(float(bias), dtype), te.const(float(beta), dtype)
    Y = te.compute((n, c, sp), lambda b, k, i: X[b, k, i] / te.pow(
        k_b + k_a * SQ[b, k, i], k_beta), name=name)
    s = te.create_schedule(Y)
    lanes = vector_lanes(dtype)
    b, k, i = s[Y].op.axis
    outer = s[Y].fuse(b, k)
    io, ii = s[Y].split(i, factor=lanes)
    s[Y].vectorize(ii)
    if n * c * sp * size >= PARALLEL_MIN_WORK:
        s[Y].parallel(outer)
    s[SQ].compute_at(s[Y], io)
    _, _, si = s[SQ].op.axis
    (sr,) = s[SQ].op.reduce_axis
    s[SQ].reorder(sr, si)
    s[SQ].vectorize(si)
    attrs = {"size": size, "alpha": alpha, "beta": beta, "bias": bias}
    return CpuOp(name, s, [X], Y, attrs=attrs, in_shapes=[x_shape], out_shape=x_shape)


__all__ = ["batch_norm", "log_softmax", "lrn", "softmax"]

"""The Python API: build an operator for the accelerator, call it on numpy NCHW arrays.

    from compiler.ops import vdla

    op = vdla.conv2d((1, 64, 56, 56), (64, 64, 3, 3), stride=1, padding=1, shift=8, relu=True)
    y, report = op(x, w)               # int8 NCHW in and out; report: cycles, utilization...
    y, report = op(x, w, backend="rtl")   # the same bundle on the RTL (runtime.execute)
    op.tiling, op.program.listing()       # the schedule parameters; the assembly program

Every constructor takes the logical shapes and attributes, a ``tiling`` (default: the model's
choice, ``tiling.py``), ``vthreads`` (virtual threads for latency hiding; 1 = serial) and a
``target`` (``compiler.codegen.vdla.target.target(cfg)``); it builds the program once
(memoized). The call packs the arrays into the accelerator's layouts (``layout.py``; batch and
channels padded to whole blocks), runs the bundle and unpacks the result, all in whole-array
numpy.

Operators: ``conv2d`` (any kernel, stride, padding; im2col on the host for inputs with fewer
channels than BLOCK_IN, like ResNet's first layer; optional MULSHR multiplier, residual,
ReLU), ``dense``, ``requantize`` (int32 -> int8), ``relu``, ``add`` (residual add), and
``max_pool2d``, ``global_avg_pool2d``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ...codegen.vdla.pipeline import VdlaProgram, build
from ...codegen.vdla.target import VdlaTarget, target
from . import layout
from .common import Requant
from .conv2d import Conv2dTiling, conv2d_packed, schedule_conv2d
from .dense import DenseTiling, dense_packed, schedule_dense
from .elementwise import (
    EwiseTiling,
    add_packed,
    relu_packed,
    requantize_packed,
    schedule_ewise,
)
from .errors import VdlaOpError
from .pool import (
    global_avg_pool_packed,
    max_pool_cost,
    max_pool_packed,
    schedule_pool,
)
from .tiling import conv2d_tiling, dense_tiling, ewise_tiling, pool_tiling


class VdlaOp:
    """An operator compiled for the accelerator (see the module docstring).

    Attributes: ``name``, ``attrs`` (normalised attributes), ``tiling``, ``program``
    (``VdlaProgram``: bundle, listing), ``out_shape``, ``target``.
    """

    def __init__(self, name: str, t: VdlaTarget, attrs: dict, tiling, program: VdlaProgram,
                 pack: Callable[..., list[np.ndarray]], unpack: Callable[[np.ndarray],
                                                                          np.ndarray],
                 out_shape: tuple[int, ...], arg_names: tuple[str, ...]) -> None:
        self.name, self.target, self.attrs, self.tiling = name, t, attrs, tiling
        self.program, self._pack, self._unpack = program, pack, unpack
        self.out_shape, self.arg_names = out_shape, arg_names

    def __repr__(self) -> str:
        return f"vdla.{self.name}({self.attrs}, tiling={self.tiling})"

    def pack(self, *args: np.ndarray, **kwargs: np.ndarray) -> list[np.ndarray]:
        """The program's input arrays (packed layouts) for logical ``args``."""
        return self._pack(*args, **kwargs)

    def __call__(self, *args: np.ndarray, backend: str = "sim", **kwargs: np.ndarray
                 ) -> tuple[np.ndarray, Any]:
        """Run on ``backend``; returns (result in the logical layout, cycle report)."""
        packed = self.pack(*args, **kwargs)
        (out,), report = self.program.run(*packed, backend=backend)
        return self._unpack(out), report

    run = __call__


def _t(tgt: VdlaTarget | None) -> VdlaTarget:
    return tgt or target()


def _int8(name: str, op: str, x, shape: tuple) -> np.ndarray:
    a = np.asarray(x)
    if a.shape != tuple(shape):
        raise VdlaOpError(f"{op}: {name} has shape {a.shape}, expected {tuple(shape)}")
    if a.dtype != np.int8:
        if not np.issubdtype(a.dtype, np.integer) or (a.size and (a.min() < -128
                                                                   or a.max() > 127)):
            raise VdlaOpError(f"{op}: {name} must be int8 (got {a.dtype})")
        a = a.astype(np.int8)
    return a


def _pair(v, what: str, op: str) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(x, int) for x in v):
        raise VdlaOpError(f"{op}: {what} must be an int or a pair of ints, got {v!r}")
    return v


def _padding(p, op: str) -> tuple[int, int, int, int]:
    if isinstance(p, int):
        return (p,) * 4
    p = tuple(p)
    if len(p) == 2:
        return p[0], p[1], p[0], p[1]
    if len(p) == 4 and all(isinstance(x, int) and x >= 0 for x in p):
        return p
    raise VdlaOpError(f"{op}: padding must be an int, (h, w) or (top, left, bottom, right)")


def _requant(t: VdlaTarget, op: str, shift: int, multiplier: bool) -> Requant:
    rq = Requant(shift, bool(multiplier))
    rq.check(t, op)
    return rq


# ------------------------------------------------------------------------------ conv2d
@functools.lru_cache(maxsize=64)
def conv2d(x_shape: tuple, w_shape: tuple, stride=1, padding=0, shift: int = 0,
           relu: bool = False, multiplier: bool = False, residual: bool = False,
           tiling: Conv2dTiling | None = None, vthreads: int = 2,
           im2col: bool | None = None, tgt: VdlaTarget | None = None,
           bias: bool = False) -> VdlaOp:
    """``y = sat8(relu(requant(conv2d(x, w) + bias) + residual))`` for int8 ``x`` (N, C, H, W)
    and ``w`` (O, C, KH, KW). Call as ``op(x, w[, multiplier=m][, residual=r][, bias=b])``
    with ``m`` an (O,) int32 vector (MULSHR), ``r`` an (N, O, OH, OW) int8 tensor and ``b`` an
    (O,) int32 vector added to the accumulator."""
    t = _t(tgt)
    cfg = t.cfg
    name = "conv2d"
    n, c, h, w = x_shape
    o, c2, kh, kw = w_shape
    if c2 != c:
        raise VdlaOpError(f"{name}: weights have {c2} input channels, the input has {c}")
    sh, sw = _pair(stride, "stride", name)
    pad = _padding(padding, name)
    oh, ow = (h + pad[0] + pad[2] - kh) // sh + 1, (w + pad[1] + pad[3] - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise VdlaOpError(f"{name}: the kernel {kh}x{kw} does not fit the padded input")
    rq = _requant(t, name, shift, multiplier)
    if im2col is None:
        im2col = c < cfg.block_in and kh * kw > 1
    if im2col:       # the GEMM reduces over C*KH*KW: a 1x1 convolution of the patches
        ci, khp, kwp, shp, swp, padp, hp, wp = c * kh * kw, 1, 1, 1, 1, (0,) * 4, oh, ow
    else:
        ci, khp, kwp, shp, swp, padp, hp, wp = c, kh, kw, sh, sw, pad, h, w
    nb, cb, ob = -(-n // cfg.batch), -(-ci // cfg.block_in), -(-o // cfg.block_out)
    ob = -(-ob * cfg.block_out // cfg.block_in) * cfg.block_in // cfg.block_out \
        if residual else ob                         # whole input blocks for the residual
    st = conv2d_packed(t, (nb, cb, hp, wp, cfg.batch, cfg.block_in),
                       (ob, cb, khp, kwp, cfg.block_out, cfg.block_in), (shp, swp), padp,
                       rq, relu, residual, bias)
    passes = 1 + bool(shift or multiplier) + bool(relu) + bool(residual) + bool(bias)
    tiling = tiling or conv2d_tiling(cfg, (cb, hp, wp, ob, khp, kwp, shp, swp, oh, ow),
                                     vthreads, passes, residual,
                                     int(bool(multiplier)) + int(bool(bias)))
    prog = build(schedule_conv2d(t, st, tiling), st.inputs + [st.out], t, name)

    def pack(x, wt, *, multiplier=None, residual=None, bias=None):
        x = _int8("x", name, x, x_shape)
        wt = _int8("w", name, wt, w_shape)
        if im2col:
            x = layout.im2col(x, (kh, kw), (sh, sw), pad)
            wt = wt.reshape(o, c * kh * kw, 1, 1)
        out = [layout.pack_nchw(x, cfg.batch, cfg.block_in),
               _fit(layout.pack_oihw(wt, cfg.block_out, cfg.block_in), st.kernel.shape)]
        if rq.multiplier:
            out.append(_channel_vector(name, "multiplier", multiplier, o,
                                       (ob, cfg.batch, cfg.block_out), cfg))
        if residual_flag:
            if residual is None:
                raise VdlaOpError(f"{name}: built with residual=True; pass residual=")
            r = _int8("residual", name, residual, (n, o, oh, ow))
            out.append(_fit(layout.pack_nchw(r, cfg.batch, cfg.block_in),
                            st.extra[1 if rq.multiplier else 0].shape))
        if bias_flag:
            out.append(_channel_vector(name, "bias", bias, o, (ob, cfg.batch, cfg.block_out),
                                       cfg))
        return out

    residual_flag, bias_flag = residual, bias
    attrs = {"kernel": (kh, kw), "stride": (sh, sw), "padding": pad, "shift": shift,
             "relu": relu, "multiplier": multiplier, "residual": residual, "im2col": im2col,
             "bias": bias}
    return VdlaOp(name, t, attrs, tiling, prog, pack,
                  lambda p: layout.unpack_nchw(p, n, o), (n, o, oh, ow), ("x", "w"))


def _channel_vector(op: str, what: str, v, o: int, shape: tuple, cfg) -> np.ndarray:
    """A per-output-channel int32 vector (``what``: "bias", "multiplier") packed to ``shape``."""
    if v is None:
        raise VdlaOpError(f"{op}: built with {what}=True; pass {what}=")
    a = np.asarray(v)
    if a.shape != (o,) or not np.issubdtype(a.dtype, np.integer):
        raise VdlaOpError(f"{op}: {what} must be an integer vector of shape ({o},), got "
                          f"{a.dtype} {a.shape}")
    if a.size and (a.min() < -(1 << 31) or a.max() >= 1 << 31):
        raise VdlaOpError(f"{op}: {what} values must fit int32")
    return _fit(layout.pack_channel_vector(a.astype(np.int32), cfg.batch, cfg.block_out),
                shape)


def _fit(a: np.ndarray, shape: tuple) -> np.ndarray:
    """Zero-pad packed ``a`` (along its block dimensions) to ``shape``."""
    if a.shape == tuple(shape):
        return a
    pads = [(0, s - d) for d, s in zip(a.shape, shape)]
    return np.pad(a, pads)


# ------------------------------------------------------------------------------ dense
@functools.lru_cache(maxsize=64)
def dense(x_shape: tuple, w_shape: tuple, shift: int = 0, relu: bool = False,
          multiplier: bool = False, tiling: DenseTiling | None = None, vthreads: int = 2,
          tgt: VdlaTarget | None = None, bias: bool = False) -> VdlaOp:
    """``y = sat8(relu(requant(x @ w.T + bias)))`` for int8 ``x`` (N, C) and ``w`` (O, C);
    call as ``op(x, w[, multiplier=m][, bias=b])`` (``m``, ``b``: (O,) int32)."""
    t = _t(tgt)
    cfg = t.cfg
    name = "dense"
    n, c = x_shape
    o, c2 = w_shape
    if c2 != c:
        raise VdlaOpError(f"{name}: weights have {c2} input features, the input has {c}")
    rq = _requant(t, name, shift, multiplier)
    nb, cb, ob = -(-n // cfg.batch), -(-c // cfg.block_in), -(-o // cfg.block_out)
    st = dense_packed(t, (nb, cb, cfg.batch, cfg.block_in), (ob, cb, cfg.block_out,
                                                              cfg.block_in), rq, relu,
                      bias=bias)
    tiling = tiling or dense_tiling(cfg, nb, cb, ob, vthreads)
    prog = build(schedule_dense(t, st, tiling), st.inputs + [st.out], t, name)

    def pack(x, wt, *, multiplier=None, bias=None):
        out = [layout.pack_nc(_int8("x", name, x, x_shape), cfg.batch, cfg.block_in),
               layout.pack_dense_weight(_int8("w", name, wt, w_shape), cfg.block_out,
                                        cfg.block_in)]
        if rq.multiplier:
            out.append(_channel_vector(name, "multiplier", multiplier, o,
                                       (ob, cfg.batch, cfg.block_out), cfg))
        if bias_flag:
            out.append(_channel_vector(name, "bias", bias, o, (ob, cfg.batch, cfg.block_out),
                                       cfg))
        return out

    bias_flag = bias
    attrs = {"shift": shift, "relu": relu, "multiplier": multiplier, "bias": bias,
             "features": c}
    return VdlaOp(name, t, attrs, tiling, prog, pack, lambda p: layout.unpack_nc(p, n, o),
                  (n, o), ("x", "w"))


# ------------------------------------------------------------------------------ ewise
def _act_shape(t: VdlaTarget, x_shape: tuple, block: int) -> tuple:
    cfg = t.cfg
    n, c, h, w = x_shape
    return (-(-n // cfg.batch), -(-c // block), h, w, cfg.batch, block)


def _out_blocks(t: VdlaTarget, c: int) -> int:
    """Output blocks covering ``c`` channels in whole input blocks (both packings agree)."""
    cfg = t.cfg
    lcm = max(cfg.block_in, cfg.block_out)
    return -(-c // lcm) * lcm // cfg.block_out


@functools.lru_cache(maxsize=64)
def requantize(x_shape: tuple, shift: int, multiplier: bool = False, relu: bool = False,
               tiling: EwiseTiling | None = None, vthreads: int = 2,
               tgt: VdlaTarget | None = None) -> VdlaOp:
    """int32 ``x`` (N, C, H, W) -> ``sat8(relu(rshr(x, shift)))`` or with MULSHR by a
    per-channel multiplier (``op(x, multiplier=m)``)."""
    t = _t(tgt)
    cfg = t.cfg
    name = "requantize"
    n, c, h, w = x_shape
    rq = _requant(t, name, shift, multiplier)
    shape = _act_shape(t, x_shape, cfg.block_out)
    st = requantize_packed(t, shape, rq, relu)
    tiling = tiling or ewise_tiling(cfg, shape[1], h, w, vthreads, inp_tiles=0, acc_in=1,
                                    acc_out=0)
    prog = build(schedule_ewise(t, st, tiling), st.inputs + [st.out], t, name)

    def pack(x, *, multiplier=None):
        a = np.asarray(x)
        if a.shape != tuple(x_shape) or not np.issubdtype(a.dtype, np.integer):
            raise VdlaOpError(f"{name}: x must be an integer array of shape {x_shape}")
        out = [layout.pack_nchw(a.astype(np.int32), cfg.batch, cfg.block_out)]
        if rq.multiplier:
            out.append(_channel_vector(name, "multiplier", multiplier, c, shape[1:2]
                                       + (cfg.batch, cfg.block_out), cfg))
        return out

    return VdlaOp(name, t, {"shift": shift, "relu": relu, "multiplier": multiplier}, tiling,
                  prog, pack, lambda p: layout.unpack_nchw(p, n, c), (n, c, h, w), ("x",))


def _int8_ewise(name: str, x_shape: tuple, build_stages, n_in: int, attrs: dict,
                tiling, vthreads: int, tgt) -> VdlaOp:
    t = _t(tgt)
    cfg = t.cfg
    n, c, h, w = x_shape
    ob = _out_blocks(t, c)
    shape = (-(-n // cfg.batch), ob, h, w, cfg.batch, cfg.block_out)
    st = build_stages(t, shape)
    tiling = tiling or ewise_tiling(cfg, ob, h, w, vthreads, inp_tiles=n_in)
    prog = build(schedule_ewise(t, st, tiling), st.inputs + [st.out], t, name)

    def pack(*xs):
        if len(xs) != n_in:
            raise VdlaOpError(f"{name}: takes {n_in} input(s), got {len(xs)}")
        return [_fit(layout.pack_nchw(_int8(f"input {i}", name, x, x_shape), cfg.batch,
                                      cfg.block_in), st.inputs[i].shape)
                for i, x in enumerate(xs)]

    return VdlaOp(name, t, attrs, tiling, prog, pack,
                  lambda p: layout.unpack_nchw(p, n, c), tuple(x_shape),
                  tuple(f"x{i}" for i in range(n_in)))


@functools.lru_cache(maxsize=64)
def relu(x_shape: tuple, tiling: EwiseTiling | None = None, vthreads: int = 2,
         tgt: VdlaTarget | None = None) -> VdlaOp:
    """``max(x, 0)`` for int8 ``x`` (N, C, H, W)."""
    return _int8_ewise("relu", x_shape, relu_packed, 1, {}, tiling, vthreads, tgt)


@functools.lru_cache(maxsize=64)
def add(x_shape: tuple, relu: bool = False, tiling: EwiseTiling | None = None,
        vthreads: int = 2, tgt: VdlaTarget | None = None) -> VdlaOp:
    """``sat8(a + b)`` (optionally ReLU) for int8 ``a``, ``b`` of one shape (N, C, H, W)."""
    return _int8_ewise("add", x_shape, functools.partial(add_packed, relu=relu), 2,
                       {"relu": relu}, tiling, vthreads, tgt)


# ------------------------------------------------------------------------------ pooling
@functools.lru_cache(maxsize=64)
def max_pool2d(x_shape: tuple, kernel=2, stride=None, padding=0,
               tiling: EwiseTiling | None = None, vthreads: int = 2,
               tgt: VdlaTarget | None = None) -> VdlaOp:
    """Max pooling of int8 ``x`` (N, C, H, W); padding acts as minus infinity. Separable
    (rows, then columns; ``pool.py``); ``tiling`` is a ``pool.PoolTiling`` (an
    ``EwiseTiling`` tiles whole rows), by default the fastest per ``pool.max_pool_cost``."""
    t = _t(tgt)
    cfg = t.cfg
    name = "max_pool2d"
    n, c, h, w = x_shape
    kh, kw = _pair(kernel, "kernel", name)
    sh, sw = _pair(stride if stride is not None else (kh, kw), "stride", name)
    pad = _padding(padding, name)
    if max(pad[0], pad[2]) >= kh or max(pad[1], pad[3]) >= kw:
        raise VdlaOpError(f"{name}: padding {pad} must be smaller than the kernel")
    oh, ow = (h + pad[0] + pad[2] - kh) // sh + 1, (w + pad[1] + pad[3] - kw) // sw + 1
    ob = _out_blocks(t, c)
    xs = (-(-n // cfg.batch), ob * cfg.block_out // cfg.block_in, h, w, cfg.batch,
          cfg.block_in)
    st = max_pool_packed(t, xs, (kh, kw), (sh, sw), pad)
    tiling = tiling or pool_tiling(cfg, xs[0], ob, oh, ow,
                                   max_pool_cost(cfg, xs, (kh, kw), (sh, sw), pad), vthreads)
    prog = build(schedule_pool(t, st, tiling), st.inputs + [st.out], t, name)

    def pack(x):
        return [_fit(layout.pack_nchw(_int8("x", name, x, x_shape), cfg.batch, cfg.block_in),
                     xs)]

    attrs = {"kernel": (kh, kw), "stride": (sh, sw), "padding": pad}
    return VdlaOp(name, t, attrs, tiling, prog, pack, lambda p: layout.unpack_nchw(p, n, c),
                  (n, c, oh, ow), ("x",))


@functools.lru_cache(maxsize=64)
def global_avg_pool2d(x_shape: tuple, shift: int | None = None,
                      tiling: EwiseTiling | None = None, vthreads: int = 2,
                      tgt: VdlaTarget | None = None) -> VdlaOp:
    """Mean over H x W of int8 ``x`` (N, C, H, W) -> (N, C, 1, 1): ``round(sum * M / 2^s)``
    with ``M = round(2^s / (H*W))`` (exact RSHR when H*W is a power of two)."""
    t = _t(tgt)
    cfg = t.cfg
    name = "global_avg_pool2d"
    n, c, h, w = x_shape
    hw = h * w
    if shift is None:
        shift = hw.bit_length() - 1 if hw & (hw - 1) == 0 else 16
    ob = _out_blocks(t, c)
    xs = (-(-n // cfg.batch), ob * cfg.block_out // cfg.block_in, h, w, cfg.batch,
          cfg.block_in)
    st = global_avg_pool_packed(t, xs, shift)
    mult = round((1 << shift) / hw)
    tiling = tiling or ewise_tiling(cfg, ob, 1, 1, vthreads, halo=(h - 1, 1), in_cols=w)
    prog = build(schedule_pool(t, st, tiling), st.inputs + [st.out], t, name)

    def pack(x):
        out = [_fit(layout.pack_nchw(_int8("x", name, x, x_shape), cfg.batch, cfg.block_in),
                    xs)]
        if st.extra:
            out.append(layout.pack_channel_vector(np.full(ob * cfg.block_out, mult),
                                                  cfg.batch, cfg.block_out))
        return out

    attrs = {"shift": shift, "multiplier": mult if st.extra else None}
    return VdlaOp(name, t, attrs, tiling, prog, pack, lambda p: layout.unpack_nchw(p, n, c),
                  (n, c, 1, 1), ("x",))

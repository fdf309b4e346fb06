"""Speed sanity check: a hand-scheduled 3x3 convolution (pad 1) in loop IR vs im2col + BLAS.

    .venv/bin/python -m compiler.codegen.llvm._demo_conv [--owt 14]

The ResNet layer 1x64x56x56, 64 filters 3x3, stride 1, pad 1, NCHW in and out::

    Allocate Ip[C*(H+2)*(W+2)], Wk[K*C*9]
      parallel c:  Ip[c, y, x] = select(inside, I[c, y-1, x-1], 0)        # zero padding
      parallel kb: vectorized v: Wk[kb, c, kh, kw, v] = W[kb*16 + v, c, kh, kw]   # 16 filters
      parallel t in 0..K/16*H (kb = t // H, oh = t % H):
        for owo in 0..W/OWT:
          Allocate acc[OWT*16] local                                      # OWT zmm registers
            for c, kh: unrolled kw, unrolled ow, vectorized oc:
              acc[ow, oc] += Ip[c, oh+kh, owo*OWT + ow + kw] * Wk[kb, c, kh, kw, oc]
            unrolled ow, vectorized oc: O[kb*16 + oc, oh, owo*OWT + ow] = acc[ow, oc]  # scatter
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from compiler.tir import ir

from . import build, get_num_threads
from .testing import add, buf, const, load, loop, mul, seq, store, var


def conv3x3_ir(c_in: int, h: int, w: int, k_out: int, owt: int = 14,
               vl: int = 16) -> ir.PrimFunc:
    """The loop IR of the schedule in the module docstring (N=1, stride 1, pad 1)."""
    assert w % owt == 0 and k_out % vl == 0
    hp, wp = h + 2, w + 2
    inp, wt, out = (buf("I", (1, c_in, h, w)), buf("W", (k_out, c_in, 3, 3)),
                    buf("O", (1, k_out, h, w)))
    Ip, Wk = buf("Ip", c_in * hp * wp), buf("Wk", k_out * c_in * 9)
    acc = buf("acc", owt * vl, scope="local")
    i32 = "int32"

    c, y, x = var("c"), var("y"), var("x")
    inside = ir.BinOp("and", ir.BinOp("and", ir.BinOp("ge", y, const(1, i32)),
                                      ir.BinOp("le", y, const(h, i32))),
                      ir.BinOp("and", ir.BinOp("ge", x, const(1, i32)),
                               ir.BinOp("le", x, const(w, i32))))
    src = ir.BinOp("max", add(mul(c, h * w), mul(add(y, -1), w), add(x, -1)), const(0, i32))
    pad = loop(c, c_in, "parallel", loop(y, hp, "serial", loop(x, wp, "serial", store(
        Ip, add(mul(c, hp * wp), mul(y, wp), x),
        ir.Select(inside, load(inp, src), const(0.0, "float32"))))))

    kb, c2, r, v = var("kb"), var("c2"), var("r"), var("v")
    pack = loop(kb, k_out // vl, "parallel", loop(c2, c_in, "serial", loop(r, 9, "serial", loop(
        v, vl, "vectorized", store(Wk, add(mul(add(mul(kb, c_in), c2), 9 * vl), mul(r, vl), v),
                                   load(wt, add(mul(add(mul(kb, vl), v), c_in * 9),
                                                mul(c2, 9), r)))))))

    t, owo, ci, kh, kw, ow, oc = (var(s) for s in ("t", "owo", "ci", "kh", "kw", "ow", "oc"))
    kbv, oh = ir.BinOp("floordiv", t, const(h, i32)), ir.BinOp("floormod", t, const(h, i32))
    ai = add(mul(ow, vl), oc)
    init = loop(ow, owt, "unrolled", loop(oc, vl, "vectorized", store(acc, ai, 0.0)))
    x_in = load(Ip, add(mul(ci, hp * wp), mul(add(oh, kh), wp), add(mul(owo, owt), ow, kw)))
    w_in = load(Wk, add(mul(add(mul(kbv, c_in), ci), 9 * vl), mul(add(mul(kh, 3), kw), vl), oc))
    update = loop(ci, c_in, "serial", loop(kh, 3, "serial", loop(kw, 3, "unrolled", loop(
        ow, owt, "unrolled", loop(oc, vl, "vectorized",
                                  store(acc, ai, add(load(acc, ai), mul(x_in, w_in))))))))
    write = loop(ow, owt, "unrolled", loop(oc, vl, "vectorized", store(
        out, add(mul(add(mul(kbv, vl), oc), h * w), mul(oh, w), add(mul(owo, owt), ow)),
        load(acc, ai))))
    compute = loop(t, (k_out // vl) * h, "parallel", loop(owo, w // owt, "serial", ir.Allocate(
        acc, seq(init, update, write))))
    body = ir.Allocate(Ip, ir.Allocate(Wk, seq(pad, pack, compute)))
    return ir.PrimFunc("conv3x3", (inp, wt, out), body)


def im2col_conv(i: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Reference: pad, im2col with a strided view, one BLAS matrix product."""
    _, c, h, wd = i.shape
    k = w.shape[0]
    ip = np.pad(i[0], ((0, 0), (1, 1), (1, 1)))
    cols = np.lib.stride_tricks.sliding_window_view(ip, (3, 3), axis=(1, 2))
    cols = cols.transpose(0, 3, 4, 1, 2).reshape(c * 9, h * wd)
    return (w.reshape(k, -1) @ cols).reshape(1, k, h, wd)


def _best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--owt", type=int, default=14, help="output columns per register tile")
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args(argv)
    c, h, w, k = 64, 56, 56, 64
    f = build(conv3x3_ir(c, h, w, k, args.owt))
    rng = np.random.default_rng(0)
    i = rng.standard_normal((1, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((k, c, 3, 3), dtype=np.float32)
    o = np.zeros((1, k, h, w), np.float32)
    f(i, wt, o)
    np.testing.assert_allclose(o, im2col_conv(i, wt), rtol=1e-3, atol=1e-3)
    flops = 2.0 * c * k * 9 * h * w
    t_ours = _best_time(lambda: f(i, wt, o), args.repeat)
    t_ref = _best_time(lambda: im2col_conv(i, wt), args.repeat)
    print(f"conv 1x{c}x{h}x{w}, {k} filters 3x3 pad 1, {get_num_threads()} threads, "
          f"OWT={args.owt}")
    print(f"  vdla LLVM     : {t_ours * 1e3:6.2f} ms  {flops / t_ours / 1e9:6.1f} GFLOP/s")
    print(f"  im2col + BLAS : {t_ref * 1e3:6.2f} ms  {flops / t_ref / 1e9:6.1f} GFLOP/s")


if __name__ == "__main__":
    main()

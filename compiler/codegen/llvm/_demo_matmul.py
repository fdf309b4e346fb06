"""Speed sanity check: a hand-scheduled float32 matmul in loop IR vs numpy (BLAS).

    .venv/bin/python -m compiler.codegen.llvm._demo_matmul [--size 1024] [--mr 8] [--nr 32]

The schedule is the classic register-blocked GEMM (BLIS/TVM style):

    Allocate Bp[N*K]                                  # B packed into NR-wide column panels
      parallel jb in 0..N/NR:
        for k in 0..K:
          vectorized jv in 0..NR:  Bp[(jb*K + k)*NR + jv] = B[k*N + jb*NR + jv]
      parallel jb in 0..N/NR:                         # one panel per task: stays in L2
        for ib in 0..M/MR:
          Allocate acc[MR*NR] local                   # MR x NR accumulators: registers
            unrolled ii, vectorized jv:  acc[ii*NR + jv] = 0
            for k in 0..K:
              unrolled ii, vectorized jv:
                acc[ii*NR + jv] += A[(ib*MR + ii)*K + k] * Bp[(jb*K + k)*NR + jv]
            unrolled ii, vectorized jv:  C[(ib*MR + ii)*N + jb*NR + jv] = acc[ii*NR + jv]

With MR=8, NR=32 on AVX-512 the inner k loop is 16 zmm accumulators, 2 vector loads of Bp,
8 broadcast loads of A and 16 FMAs per iteration.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from compiler.tir import ir

from . import build, get_num_threads


def _c(v: int) -> ir.IntImm:
    return ir.IntImm(v, "int32")


def _add(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = ir.BinOp("add", out, x if isinstance(x, ir.Expr) else _c(x))
    return out


def _mul(a, b):
    return ir.BinOp("mul", a if isinstance(a, ir.Expr) else _c(a),
                    b if isinstance(b, ir.Expr) else _c(b))


def _for(var, extent, kind, body):
    return ir.For(var, _c(0), _c(extent), kind, body)


def matmul_ir(m: int, n: int, k: int, mr: int = 8, nr: int = 32,
              pack_b: bool = True) -> ir.PrimFunc:
    """The loop IR of ``C = A @ B`` with the schedule in the module docstring."""
    assert m % mr == 0 and n % nr == 0
    A = ir.Buffer("A", (m, k), "float32")
    B = ir.Buffer("B", (k, n), "float32")
    C = ir.Buffer("C", (m, n), "float32")
    Bp = ir.Buffer("Bp", (n * k,), "float32")
    acc = ir.Buffer("acc", (mr * nr,), "float32", scope="local")
    jb, ib, kk, ii, jv = (ir.Var(s) for s in ("jb", "ib", "k", "ii", "jv"))
    kp, jp, jvp = ir.Var("kp"), ir.Var("jp"), ir.Var("jvp")

    pack = _for(jp, n // nr, "parallel", _for(kp, k, "serial", _for(jvp, nr, "vectorized",
        ir.Store(Bp, _add(_mul(_add(_mul(jp, k), kp), nr), jvp),
                 ir.Load(B, _add(_mul(kp, n), _mul(jp, nr), jvp))))))

    a_idx = _add(_mul(_add(_mul(ib, mr), ii), k), kk)
    b_src, b_idx = (Bp, _add(_mul(_add(_mul(jb, k), kk), nr), jv)) if pack_b else \
        (B, _add(_mul(kk, n), _mul(jb, nr), jv))
    acc_idx = _add(_mul(ii, nr), jv)
    init = _for(ii, mr, "unrolled", _for(jv, nr, "vectorized",
                                         ir.Store(acc, acc_idx, ir.FloatImm(0.0))))
    update = _for(kk, k, "serial", _for(ii, mr, "unrolled", _for(jv, nr, "vectorized",
        ir.Store(acc, acc_idx, ir.BinOp("add", ir.Load(acc, acc_idx),
                                        ir.BinOp("mul", ir.Load(A, a_idx),
                                                 ir.Load(b_src, b_idx)))))))
    write = _for(ii, mr, "unrolled", _for(jv, nr, "vectorized",
        ir.Store(C, _add(_mul(_add(_mul(ib, mr), ii), n), _mul(jb, nr), jv),
                 ir.Load(acc, acc_idx))))
    compute = _for(jb, n // nr, "parallel", _for(ib, m // mr, "serial",
                   ir.Allocate(acc, ir.Seq((init, update, write)))))
    body = ir.Allocate(Bp, ir.Seq((pack, compute))) if pack_b else compute
    return ir.PrimFunc("matmul", (A, B, C), body)


def _best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--mr", type=int, default=8)
    ap.add_argument("--nr", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--no-pack", action="store_true")
    args = ap.parse_args(argv)
    s = args.size
    t0 = time.perf_counter()
    f = build(matmul_ir(s, s, s, args.mr, args.nr, pack_b=not args.no_pack))
    t_build = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    a = rng.standard_normal((s, s), dtype=np.float32)
    b = rng.standard_normal((s, s), dtype=np.float32)
    c = np.empty((s, s), np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-3, atol=1e-3)
    flops = 2.0 * s ** 3
    for _ in range(3):
        f(a, b, c)
        a @ b
    t_ours = _best_time(lambda: f(a, b, c), args.repeat)
    t_np = _best_time(lambda: a @ b, args.repeat)
    g_ours, g_np = flops / t_ours / 1e9, flops / t_np / 1e9
    print(f"matmul {s}^3 float32, {get_num_threads()} threads, MR={args.mr} NR={args.nr}"
          f"{' (no packing)' if args.no_pack else ''}; build {t_build:.2f} s")
    print(f"  vdla LLVM : {t_ours * 1e3:7.2f} ms  {g_ours:7.1f} GFLOP/s")
    print(f"  numpy     : {t_np * 1e3:7.2f} ms  {g_np:7.1f} GFLOP/s")
    print(f"  ratio     : {g_ours / g_np:.2f}")


if __name__ == "__main__":
    main()

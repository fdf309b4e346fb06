"""Calling compiled code from Python: argument checks, ctypes, and the parallel runtime.

Parallel loops: generated code calls ``vdla_parallel_launch(chunk, closure, lo, hi)``
(registered with LLVM as a ctypes callback). The callback splits ``[lo, hi)`` into up to
``CHUNKS_PER_THREAD`` contiguous ranges per thread (threads: ``set_num_threads``, default
``VDLA_NUM_THREADS`` or ``os.cpu_count()``). The calling thread and ``threads - 1`` workers of
a ``ThreadPoolExecutor`` each run one pre-assigned range, then take the remaining ranges in
order from a shared counter (dynamic load balancing: a core busy with another process takes
fewer ranges). Each range is one ctypes call of the chunk function, and ctypes releases the
GIL for the duration of the call, so the ranges run truly in parallel. A launch from a worker
thread (nested parallelism) runs serially.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import numbers
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import llvmlite.binding as llvm
import numpy as np

from compiler.tir import ir

from . import jit
from .dtypes import ctype, int_range, is_float, itemsize, numpy_dtype, scalar_of
from .errors import ArgumentError, KernelRuntimeError

_CHUNK_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)
_LAUNCH_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                             ctypes.c_int64)
STATUS_LAUNCH_FAILED = 3
CHUNKS_PER_THREAD = 4  # dynamic load balance: a busy core takes fewer chunks


@dataclass
class ParallelStats:
    """What the parallel runtime did for one chunk function (for tests and tuning)."""

    launches: int = 0
    chunks: int = 0
    threads: set = field(default_factory=set)


class _ParallelRuntime:
    def __init__(self) -> None:
        env = os.environ.get("VDLA_NUM_THREADS")
        self.num_threads = max(1, int(env) if env else (os.cpu_count() or 1))
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._fns: dict[int, ctypes._CFuncPtr] = {}
        self.stats: dict[int, ParallelStats] = {}
        self.errors: list[BaseException] = []
        self.callback = _LAUNCH_T(self._launch)

    def set_num_threads(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
        with self._lock:
            if self._pool is not None and n != self.num_threads:
                self._pool.shutdown(wait=True)
                self._pool = None
            self.num_threads = n

    def _mark_worker(self) -> None:
        self._local.worker = True

    def _get_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=max(1, self.num_threads - 1),
                                                thread_name_prefix="vdla-llvm",
                                                initializer=self._mark_worker)
            return self._pool

    def _run(self, fn, begin: int, end: int, closure: int, st: ParallelStats) -> int:
        with self._lock:
            st.chunks += 1
            st.threads.add(threading.get_ident())
        return fn(begin, end, closure)

    def _launch(self, fn_addr: int, closure: int, lo: int, hi: int) -> int:
        try:
            fn = self._fns.get(fn_addr)
            if fn is None:
                fn = self._fns[fn_addr] = _CHUNK_T(fn_addr)
            st = self.stats.setdefault(fn_addr, ParallelStats())
            st.launches += 1
            n = hi - lo
            workers = min(self.num_threads, n)
            if workers <= 1 or getattr(self._local, "worker", False):
                return self._run(fn, lo, hi, closure, st)
            nchunks = min(n, workers * CHUNKS_PER_THREAD)
            bounds = [lo + n * k // nchunks for k in range(nchunks + 1)]
            taken = itertools.count(workers)  # chunks 0..workers-1 are pre-assigned

            def work(first: int) -> int:
                k, rc = first, 0
                while rc == 0 and k < nchunks:
                    rc = self._run(fn, bounds[k], bounds[k + 1], closure, st)
                    k = next(taken)
                return rc

            pool = self._get_pool()
            futures = [pool.submit(work, t) for t in range(1, workers)]
            rc = work(0)
            for f in futures:
                rc = f.result() or rc
            return rc
        except BaseException as exc:  # never let an exception unwind through C frames
            self.errors.append(exc)
            return STATUS_LAUNCH_FAILED


@functools.cache
def parallel_runtime() -> _ParallelRuntime:
    """The process-wide parallel runtime; registers ``vdla_parallel_launch`` with LLVM."""
    rt = _ParallelRuntime()
    llvm.add_symbol("vdla_parallel_launch", ctypes.cast(rt.callback, ctypes.c_void_p).value)
    return rt


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (the caller plus n-1 workers) for parallel loops."""
    parallel_runtime().set_num_threads(n)


def get_num_threads() -> int:
    return parallel_runtime().num_threads


def pin_threads() -> list[int] | None:
    """Pin the calling thread and the parallel pool's workers to distinct CPUs (round-robin).

    Opt-in. The pool's workers sleep between parallel launches; when one is woken, Linux may
    place it on the CPU of the thread that woke it, which is busy with its own chunk, so both
    share one core for up to milliseconds (see BENCHMARKS.md, CPU operators). Fixed placement
    avoids that for short kernels. Call it from the thread that launches kernels, after the
    pool exists (after a first parallel call). Returns the CPUs used, or None when pinning is
    unavailable (no ``os.sched_setaffinity``, one CPU, or no pool yet).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    pool = [t for t in threading.enumerate() if t.name.startswith("vdla-llvm")]
    if len(cpus) < 2 or not pool:
        return None
    os.sched_setaffinity(threading.get_native_id(), {cpus[0]})
    used = [cpus[0]]
    for i, t in enumerate(pool):
        used.append(cpus[(i + 1) % len(cpus)])
        os.sched_setaffinity(t.native_id, {used[-1]})
    return used


# ---------------------------------------------------------------------- compiled functions
class CompiledFunction:
    """A compiled ``PrimFunc``: call it with numpy arrays (buffers) and Python scalars.

    ``f(*args)`` checks every argument against its declaration (type, dtype, shape,
    C-contiguity or declared strides, writability of written buffers; written buffers must
    not overlap other arguments unless built with ``noalias=False``) and raises
    ``ArgumentError`` naming the parameter on a mismatch. Outputs are written in place;
    the call returns None.

    Debugging: ``llvm_ir`` (as generated), ``optimized_ir`` and ``assembly`` (computed on first
    access), ``parallel_stats``, ``cache_key``.
    """

    def __init__(self, lowered, loaded: jit.LoadedObject, *, target, opt_level: int,
                 key: str, noalias: bool, name: str, from_disk: bool) -> None:
        self.name = name
        self.params = lowered.params
        self.llvm_ir: str = lowered.ir_text
        self.cache_key = key
        self.from_disk_cache = from_disk
        self._lowered = lowered
        self._loaded = loaded  # keeps the machine code alive
        self._target = target
        self._opt_level = opt_level
        self._noalias = noalias
        self._debug: tuple[str, str] | None = None
        argtypes = [ctypes.c_void_p if isinstance(p, ir.Buffer) else ctype(p.dtype)
                    for p in self.params]
        argtypes += [ctype(v.dtype) for v, _, _ in lowered.implicit]
        self._cfunc = ctypes.CFUNCTYPE(ctypes.c_int32, *argtypes)(
            loaded.addresses[lowered.entry])
        self._chunk_addrs = [loaded.addresses[c] for c in lowered.chunks]
        self._buffers = [(i, p) for i, p in enumerate(self.params) if isinstance(p, ir.Buffer)]
        self._scalars = [(i, p) for i, p in enumerate(self.params) if isinstance(p, ir.Var)]
        self._np_dtypes = {i: numpy_dtype(p.dtype) for i, p in self._buffers}

    # ------------------------------------------------------------------ debugging views
    def _debug_views(self) -> tuple[str, str]:
        if self._debug is None:
            self._debug = jit.assembly(self.llvm_ir, self._target, self._opt_level)
        return self._debug

    @property
    def optimized_ir(self) -> str:
        """The LLVM IR after the optimization pipeline."""
        return self._debug_views()[0]

    @property
    def assembly(self) -> str:
        """The machine code as assembly text."""
        return self._debug_views()[1]

    @property
    def num_parallel_loops(self) -> int:
        return len(self._chunk_addrs)

    @property
    def parallel_stats(self) -> ParallelStats:
        """Launches, chunks and distinct threads of this function's parallel loops so far."""
        rt = parallel_runtime()
        total = ParallelStats()
        for a in self._chunk_addrs:
            st = rt.stats.get(a)
            if st is not None:
                total.launches += st.launches
                total.chunks += st.chunks
                total.threads |= st.threads
        return total

    def __repr__(self) -> str:
        return f"<CompiledFunction {self.name}({self._lowered.signature})>"

    # ------------------------------------------------------------------ calling
    def _where(self, i: int, p) -> str:
        return f"{self.name}(): argument {i} '{p.name}'"

    def _scalar(self, i: int, p: ir.Var, a) -> int | float:
        base = scalar_of(p.dtype)
        if is_float(base):
            if isinstance(a, (bool, np.bool_)) or not isinstance(a, numbers.Real):
                raise ArgumentError(f"{self._where(i, p)} must be a real number ({base}), got "
                                    f"{type(a).__name__}")
            return float(a)
        if not isinstance(a, (numbers.Integral, np.bool_)):
            raise ArgumentError(f"{self._where(i, p)} must be an integer ({base}), got "
                                f"{type(a).__name__} {a!r}")
        v = int(a)
        lo, hi = int_range(base)
        if not lo <= v <= hi:
            raise ArgumentError(f"{self._where(i, p)} = {v} is out of range for {base} "
                                f"[{lo}, {hi}]")
        return v

    def _array(self, i: int, p: ir.Buffer, a, env: dict) -> int:
        want = self._np_dtypes[i]
        if not isinstance(a, np.ndarray):
            raise ArgumentError(f"{self._where(i, p)} must be a numpy.ndarray of {want}, got "
                                f"{type(a).__name__}")
        if a.dtype != want:
            raise ArgumentError(f"{self._where(i, p)} has dtype {a.dtype}, expected {want}; "
                                f"convert it with .astype(np.{want})")
        if a.ndim != len(p.shape):
            raise ArgumentError(f"{self._where(i, p)} has shape {a.shape}, expected "
                                f"{len(p.shape)} dimensions {self._shape_text(p)}")
        for d, ext in enumerate(p.shape):
            if isinstance(ext, ir.Var):
                have = env.setdefault(ext, a.shape[d])
                if have != a.shape[d]:
                    raise ArgumentError(
                        f"{self._where(i, p)} has shape {a.shape}: dimension {d} is "
                        f"'{ext.name}' = {have} from another argument, got {a.shape[d]}")
                continue
            want_ext = ext.value if isinstance(ext, ir.IntImm) else ext
            if isinstance(want_ext, int) and a.shape[d] != want_ext:
                raise ArgumentError(f"{self._where(i, p)} has shape {a.shape}, expected "
                                    f"{self._shape_text(p)}")
        if p.strides is None:
            if not a.flags.c_contiguous:
                raise ArgumentError(f"{self._where(i, p)} is not C-contiguous; pass "
                                    f"np.ascontiguousarray(...)")
        else:
            size = itemsize(p.dtype)
            for d, st in enumerate(p.strides):
                st = st.value if isinstance(st, ir.IntImm) else st
                if isinstance(st, int) and a.shape[d] > 1 and a.strides[d] != st * size:
                    raise ArgumentError(f"{self._where(i, p)} has strides {a.strides} (bytes), "
                                        f"the buffer declares element strides "
                                        f"{tuple(p.strides)}")
        if i in self._lowered.written and not a.flags.writeable:
            raise ArgumentError(f"{self._where(i, p)} is written by {self.name} but the array "
                                f"is read-only")
        return a.ctypes.data

    @staticmethod
    def _shape_text(p: ir.Buffer) -> str:
        return "(" + ", ".join(d.name if isinstance(d, ir.Var) else
                               str(getattr(d, "value", d)) for d in p.shape) + ")"

    def _check_overlap(self, args) -> None:
        for i in self._lowered.written:
            for j, q in self._buffers:
                if j != i and np.may_share_memory(args[i], args[j]):
                    p = self.params[i]
                    raise ArgumentError(
                        f"{self.name}(): argument {i} '{p.name}' is written and overlaps "
                        f"argument {j} '{q.name}' in memory; pass distinct arrays, or build "
                        f"with noalias=False to allow in-place use")

    def __call__(self, *args) -> None:
        n = len(self.params)
        if len(args) != n:
            names = ", ".join(p.name for p in self.params)
            raise ArgumentError(f"{self.name}() takes {n} arguments ({names}), got {len(args)}")
        env: dict = {}
        cargs: list = [None] * (n + len(self._lowered.implicit))
        for i, p in self._scalars:
            cargs[i] = v = self._scalar(i, p, args[i])
            env[p] = v
        for i, p in self._buffers:
            cargs[i] = self._array(i, p, args[i], env)
        for k, (v, _, _) in enumerate(self._lowered.implicit):
            cargs[n + k] = env[v]
        if self._noalias and self._lowered.written:
            self._check_overlap(args)
        rc = self._cfunc(*cargs)
        if rc != 0:
            errors = parallel_runtime().errors
            cause = errors.pop() if errors else None
            what = {2: "out of memory in a heap allocation",
                    STATUS_LAUNCH_FAILED: "a parallel launch failed"}.get(rc, f"status {rc}")
            raise KernelRuntimeError(f"{self.name}() failed: {what}") from cause

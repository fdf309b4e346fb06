"""Calling compiled code from Python: argument checks, ctypes, and the parallel runtime.

Parallel loops: generated code calls ``vdla_parallel_launch(chunk, closure, lo, hi)``, which
splits ``[lo, hi)`` into up to ``CHUNKS_PER_THREAD`` contiguous chunks per thread (threads:
``set_num_threads``, default ``VDLA_NUM_THREADS`` or ``os.cpu_count()``). The calling thread
and ``threads - 1`` workers take the chunks from a shared counter, so a thread that starts
late or shares its core with another process takes fewer of them. A launch made while another
is running (from inside a chunk, or from a second Python thread) runs serially in its caller.

Two implementations, chosen once per process by ``VDLA_THREAD_POOL`` (``auto``, the default:
native where available, else python):

* ``native`` (64-bit Linux on x86-64 and AArch64): ``threadpool.py``, a pool written in LLVM
  IR and JIT-compiled once; the launch is machine code that never takes the GIL. After each
  launch its workers spin (CPU spin hint, yielding the CPU every few microseconds) for
  ``VDLA_POOL_SPIN_US`` microseconds (default 500) before they sleep on a futex, so kernels
  called back to back find them awake on their own cores, and each worker keeps itself off
  the CPU of the launching thread (its affinity mask minus that CPU, while there are CPUs
  enough for every thread). A sleeping worker woken by a launch is otherwise often put on the
  launcher's busy CPU and left there: with the Python pool a 1 ms convolution ran at one
  core's speed unless the threads were pinned (BENCHMARKS.md, CPU operators). At most 64
  threads.
* ``python`` (the fallback elsewhere): a ``ThreadPoolExecutor`` behind a ctypes callback;
  ctypes releases the GIL while each chunk runs. Its workers sleep between launches.

``parallel_stats`` of a compiled function counts launches, chunks and the threads that ran
chunks (native: pool slots, 0 for the launching thread; python: thread identifiers).
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import itertools
import numbers
import os
import threading
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import llvmlite.binding as llvm
import numpy as np

from compiler.tir import ir

from . import jit, threadpool
from .dtypes import ctype, int_range, is_float, itemsize, numpy_dtype, scalar_of
from .errors import ArgumentError, KernelRuntimeError

_CHUNK_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)
_LAUNCH_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                             ctypes.c_int64)
STATUS_LAUNCH_FAILED = 3
CHUNKS_PER_THREAD = 4  # dynamic load balance: a busy core takes fewer chunks
POOL_KINDS = ("native", "python")


@dataclass
class ParallelStats:
    """What the parallel runtime did for one chunk function (for tests and tuning)."""

    launches: int = 0
    chunks: int = 0
    threads: set = field(default_factory=set)


class _PythonPool:
    """The fallback: a ThreadPoolExecutor behind a ctypes callback (see the module docstring).

    The caller and ``threads - 1`` workers each run one pre-assigned chunk, then take the
    rest from a shared counter; a launch from inside a chunk runs serially.
    """

    kind = "python"

    def __init__(self, num_threads: int) -> None:
        self.num_threads = num_threads
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._fns: dict[int, ctypes._CFuncPtr] = {}
        self.stats: dict[int, ParallelStats] = {}
        self.errors: list[BaseException] = []
        self.callback = _LAUNCH_T(self._launch)
        self.launch_address: int = ctypes.cast(self.callback, ctypes.c_void_p).value
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=functools.partial(_forget_workers,
                                                                 weakref.ref(self)))

    def set_num_threads(self, n: int) -> None:
        with self._lock:
            if self._pool is not None and n != self.num_threads:
                self._pool.shutdown(wait=True)
                self._pool = None
            self.num_threads = n

    def stats_of(self, fn_addr: int) -> ParallelStats | None:
        with self._lock:
            st = self.stats.get(fn_addr)
            return None if st is None else ParallelStats(st.launches, st.chunks, set(st.threads))

    def worker_native_ids(self) -> list[int]:
        return [t.native_id for t in threading.enumerate() if t.name.startswith("vdla-llvm")]

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
            if n <= 0:
                return 0
            workers = min(self.num_threads, n)
            if workers <= 1 or getattr(self._local, "worker", False):
                return self._run(fn, lo, hi, closure, st)  # nested: serially
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
            self._local.worker = True  # a launch from the caller's chunks runs serially
            try:
                rc = work(0)
            finally:
                self._local.worker = False
            for f in futures:
                rc = f.result() or rc
            return rc
        except BaseException as exc:  # never let an exception unwind through C frames
            self.errors.append(exc)
            return STATUS_LAUNCH_FAILED


def _forget_workers(ref: weakref.ref) -> None:
    """In a child process after fork(): the parent's executor threads do not exist here."""
    pool = ref()
    if pool is not None:
        pool._pool = None
        pool._lock = threading.Lock()
        pool._local = threading.local()


class _NativePool:
    """``threadpool.NativePool`` with the runtime's interface (see the module docstring)."""

    kind = "native"

    def __init__(self, num_threads: int, spin_us: float) -> None:
        self._pool = threadpool.NativePool(CHUNKS_PER_THREAD)
        self.launch_address = self._pool.launch_address
        self.errors: list[BaseException] = []  # chunk statuses only; nothing raises here
        self.spin_us = spin_us
        self.num_threads = num_threads
        self._pool.configure(num_threads, spin_us)

    def set_num_threads(self, n: int) -> None:
        if n != self.num_threads:
            self.num_threads = n
            self._pool.configure(n, self.spin_us)

    def stats_of(self, fn_addr: int) -> ParallelStats | None:
        row = self._pool.stats_row(fn_addr)
        if row is None:
            return None
        launches, chunks, mask = row
        return ParallelStats(launches, chunks, {k for k in range(64) if mask >> k & 1})

    def worker_native_ids(self) -> list[int]:
        return self._pool.worker_native_ids()

    def shutdown(self) -> None:
        """At exit: let the workers end (launches after this run serially)."""
        self._pool.configure(1, 0)


class _ParallelRuntime:
    """The process-wide parallel runtime: one pool, native or Python (``VDLA_THREAD_POOL``)."""

    def __init__(self, kind: str | None = None) -> None:
        env = os.environ.get("VDLA_NUM_THREADS")
        threads = max(1, int(env) if env else (os.cpu_count() or 1))
        kind = kind or os.environ.get("VDLA_THREAD_POOL") or "auto"
        if kind not in ("auto", *POOL_KINDS):
            raise ValueError(f"VDLA_THREAD_POOL={kind!r}: expected auto, native or python")
        if kind == "native" and not threadpool.available():
            raise RuntimeError("VDLA_THREAD_POOL=native: the native thread pool needs 64-bit "
                               "Linux on x86-64 or AArch64; use VDLA_THREAD_POOL=python")
        self.pool: _NativePool | _PythonPool | None = None
        if kind == "native" or (kind == "auto" and threadpool.available()):
            spin = float(os.environ.get("VDLA_POOL_SPIN_US", threadpool.DEFAULT_SPIN_US))
            try:
                self.pool = _NativePool(threads, spin)
            except Exception as exc:  # noqa: BLE001 - auto: fall back, with a warning
                if kind == "native":
                    raise
                warnings.warn(f"the native thread pool failed to start ({exc}); parallel loops "
                              f"use the Python pool", RuntimeWarning, stacklevel=2)
        if self.pool is None:
            self.pool = _PythonPool(threads)
        self.kind = self.pool.kind
        self.errors = self.pool.errors
        self.launch = _LAUNCH_T(self.pool.launch_address)  # callable from Python (tests)

    @property
    def num_threads(self) -> int:
        return self.pool.num_threads

    def set_num_threads(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
        self.pool.set_num_threads(n)

    def stats_of(self, fn_addr: int) -> ParallelStats | None:
        """Launches, chunks and threads of chunk function ``fn_addr`` so far, or None."""
        return self.pool.stats_of(fn_addr)


@functools.cache
def parallel_runtime() -> _ParallelRuntime:
    """The process-wide parallel runtime; registers ``vdla_parallel_launch`` with LLVM."""
    rt = _ParallelRuntime()
    llvm.add_symbol("vdla_parallel_launch", rt.pool.launch_address)
    if isinstance(rt.pool, _NativePool):
        atexit.register(rt.pool.shutdown)
    return rt


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (the caller plus n-1 workers) for parallel loops."""
    parallel_runtime().set_num_threads(n)


def get_num_threads() -> int:
    return parallel_runtime().num_threads


def pin_threads() -> list[int] | None:
    """Pin the calling thread and the parallel pool's workers to distinct CPUs (round-robin).

    Not needed with the native pool (the default on Linux), whose workers spin between
    launches and keep themselves off the launching thread's CPU; kept for experiments and for
    the Python pool, whose sleeping workers, when woken, are often placed on the busy CPU of
    the launching thread. Call it
    from the thread that launches kernels, after a first parallel call (the workers start
    then). Returns the CPUs used, or None when pinning is unavailable (no
    ``os.sched_setaffinity``, one CPU, or no workers yet).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    workers = parallel_runtime().pool.worker_native_ids()
    if len(cpus) < 2 or not workers:
        return None
    os.sched_setaffinity(threading.get_native_id(), {cpus[0]})
    used = [cpus[0]]
    for i, tid in enumerate(workers):
        cpu = cpus[(i + 1) % len(cpus)]
        try:
            os.sched_setaffinity(tid, {cpu})
        except ProcessLookupError:  # a worker of an earlier set_num_threads, gone meanwhile
            continue
        used.append(cpu)
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
            st = rt.stats_of(a)
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

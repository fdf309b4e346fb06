"""The LLVM CPU backend: flattened loop IR -> llvmlite IR -> optimized, JIT-compiled code.

Public API::

    build(func, *, opt_level=3, name=None, fastmath=False, noalias=True, disk_cache=True)
        -> CompiledFunction     f(*arrays_and_scalars) writes outputs in place;
                                .llvm_ir .optimized_ir .assembly .parallel_stats .cache_key
    set_num_threads(n) / get_num_threads()     threads for parallel loops
    host_target()               the CPU LLVM compiles for; .vector_lanes("float32") -> 16 on
                                AVX-512, 8 on AVX2: the natural vectorize factor for schedules
    lower_to_llvm(func, target) the unoptimized LLVM IR text, without compiling
    clear_cache()               forget the in-memory cache
    CodegenError, ArgumentError, KernelRuntimeError

How loop kinds compile: ``vectorized`` (constant extent) -> LLVM vector code (vectorize.py);
``unrolled`` (constant extent) -> copies of the body with constant indices (unroll.py);
``parallel`` -> an outlined chunk function run on a thread pool (emit_stmt.py, runtime.py);
``serial`` and ``vthread`` -> plain loops. ``Allocate`` of a small constant size is a stack
slot that LLVM promotes to registers (register blocking); large ones use the heap.

Semantics beyond ir.py: integer division or modulo by zero gives 0 and ``INT_MIN // -1``
wraps (numpy's results; never a trap); load-free integer index arithmetic (load/store
indices, loop bounds) is computed in 64 bits without wrap-around (emit_expr.py).

Environment: ``VDLA_NUM_THREADS`` (default: all cores), ``VDLA_CACHE_DIR`` (default
``~/.cache/vdla``; objects go to ``<dir>/llvm``), ``VDLA_LLVM_DISK_CACHE=0`` (no disk cache),
``VDLA_LLVM_CPU`` / ``VDLA_LLVM_FEATURES`` (compile for another CPU, e.g. ``-avx512f``),
``VDLA_LLVM_LIBMVEC=0`` (no glibc vector math).

Files: ``module.py`` (lowering driver), ``emit_expr.py`` / ``emit_stmt.py`` / ``intrinsics.py``
(translation), ``vectorize.py`` / ``unroll.py`` / ``fold.py`` (loop-IR passes of the backend),
``nodes.py`` (masked load/store nodes), ``jit.py`` (optimize, object code, caches),
``runtime.py`` (calling, threads), ``build.py``, ``target.py``, ``dtypes.py``, ``testing.py``
(IR-building shorthands), ``_demo_matmul.py`` / ``_demo_conv.py`` (speed checks).
"""

from .build import build, clear_cache
from .errors import ArgumentError, CodegenError, KernelRuntimeError
from .module import lower_to_llvm
from .runtime import CompiledFunction, ParallelStats, get_num_threads, set_num_threads
from .target import HostTarget, host_target

__all__ = [
    "ArgumentError", "CodegenError", "CompiledFunction", "HostTarget", "KernelRuntimeError",
    "ParallelStats", "build", "clear_cache", "get_num_threads", "host_target", "lower_to_llvm",
    "set_num_threads",
]

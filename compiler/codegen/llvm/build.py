"""``build``: loop IR -> LLVM -> optimized machine code -> a Python callable.

    lower_to_llvm (module.py)  vectorize, unroll, fold; translate to llvmlite.ir; print
    cache_key     (jit.py)     SHA-256 of the IR text, signature, options and target
    in-memory cache            a repeated key returns the same CompiledFunction at once
    disk cache    (jit.py)     ~/.cache/vdla/llvm/<key>.o, else compile_object and store
    LoadedObject  (jit.py)     MCJIT loads the object file; function addresses
    CompiledFunction (runtime.py)  argument checks, ctypes call, parallel runtime
"""

from __future__ import annotations

import threading
import weakref

from compiler.tir import ir

from . import jit
from .errors import CodegenError
from .module import lower_to_llvm
from .runtime import CompiledFunction, parallel_runtime
from .target import host_target

_BY_KEY: dict[str, CompiledFunction] = {}
_BY_IDENTITY: dict[tuple, tuple[weakref.ref, CompiledFunction]] = {}
_LOCK = threading.RLock()


def build(func: ir.PrimFunc, *, opt_level: int = 3, name: str | None = None,
          fastmath: bool = False, noalias: bool = True,
          disk_cache: bool = True) -> CompiledFunction:
    """Compile a flattened ``PrimFunc`` for the host CPU.

    Args:
        func: the function; its params are Buffers (numpy arrays at call time) and scalar
            Vars, its body uses flat ``Load``/``Store`` (see ``compiler.tir.ir``).
        opt_level: 0-3, the new pass manager's default pipeline level (3: O3 with loop and
            SLP vectorization).
        name: the function's name in errors and symbols (default ``func.name``).
        fastmath: allow LLVM to reassociate float arithmetic (vectorizes float reductions
            written as serial loops; changes rounding). Off by default; a*b+c may always be
            fused into one FMA.
        noalias: promise that buffers do not overlap (checked at call time for written
            buffers); lets LLVM keep values in registers across stores.
        disk_cache: read and write the on-disk object cache.

    Returns:
        A ``CompiledFunction``. Building the same IR again (same function object, or an
        identical one) returns the same ``CompiledFunction`` without recompiling.
    """
    if not isinstance(func, ir.PrimFunc):
        raise CodegenError(f"build() needs a compiler.tir.ir.PrimFunc, got {type(func).__name__}")
    if opt_level not in (0, 1, 2, 3):
        raise CodegenError(f"build(): opt_level must be 0, 1, 2 or 3, got {opt_level!r}")
    target = host_target()
    parallel_runtime()  # vdla_parallel_launch must be resolvable before code is loaded
    fname = name or func.name
    ident = (id(func), opt_level, fname, fastmath, noalias, target.key)
    with _LOCK:
        hit = _BY_IDENTITY.get(ident)
        if hit is not None and hit[0]() is func:
            return hit[1]
        lowered = lower_to_llvm(func, target, name=fname, fastmath=fastmath, noalias=noalias)
        key = jit.cache_key(lowered.ir_text, lowered.signature, target, opt_level,
                            f"fastmath={fastmath};noalias={noalias}")
        cf = _BY_KEY.get(key)
        if cf is None:
            cf = _compile(lowered, target, opt_level, key, noalias, fname, disk_cache)
            _BY_KEY[key] = cf
        _BY_IDENTITY[ident] = (weakref.ref(func, lambda _r, k=ident: _forget(k)), cf)
        return cf


def _forget(ident: tuple) -> None:
    _BY_IDENTITY.pop(ident, None)


def _compile(lowered, target, opt_level, key, noalias, fname, disk_cache) -> CompiledFunction:
    symbols = [lowered.entry, *lowered.chunks]
    loaded = None
    from_disk = False
    if disk_cache:
        obj = jit.read_cached(key)
        if obj is not None:
            try:
                loaded = jit.LoadedObject(obj, target, symbols)
                from_disk = True
            except Exception:  # noqa: BLE001 - a corrupt cache entry: recompile it
                loaded = None
    if loaded is None:
        obj = jit.compile_object(lowered.ir_text, target, opt_level)
        if disk_cache:
            jit.write_cached(key, obj)
        loaded = jit.LoadedObject(obj, target, symbols)
    return CompiledFunction(lowered, loaded, target=target, opt_level=opt_level, key=key,
                            noalias=noalias, name=fname, from_disk=from_disk)


def clear_cache() -> None:
    """Forget the in-memory cache (the disk cache stays; see jit.cache_dir())."""
    with _LOCK:
        _BY_KEY.clear()
        _BY_IDENTITY.clear()

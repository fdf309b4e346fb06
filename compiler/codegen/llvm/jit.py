"""Optimize LLVM IR with the new pass manager, produce object code, load it with MCJIT; caches.

Compilation path: ``parse_assembly`` -> ``verify`` -> the new pass manager's default
``O<opt_level>`` module pipeline (PassBuilder with loop vectorization, SLP vectorization and
unrolling on) -> ``emit_object`` for the host CPU and its features -> an MCJIT engine that
loads the object file. Going through an object file means a compiled module and one read back
from the disk cache load the same way.

Caches, both keyed by ``cache_key`` (a SHA-256 of the LLVM IR text, the parameter
declarations, opt level, options, target CPU/features and the llvmlite/LLVM versions):

* in memory: ``build`` returns the very same ``CompiledFunction`` for a repeated key;
* on disk: ``$VDLA_CACHE_DIR`` or ``~/.cache/vdla/llvm``/``<key>.o``, written atomically
  (temporary file + rename) as a magic tag, the SHA-256 of the object code and the object
  code; ``VDLA_LLVM_DISK_CACHE=0`` turns it off. Entries whose digest does not match (torn or
  corrupt files) are ignored and recompiled.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from .errors import CodegenError
from .target import HostTarget

CODEGEN_VERSION = "1"
_LOCK = threading.Lock()  # llvmlite objects are not thread-safe to create concurrently


def cache_key(ir_text: str, signature: str, target: HostTarget, opt_level: int,
              options: str) -> str:
    h = hashlib.sha256()
    for part in (CODEGEN_VERSION, llvmlite.__version__, str(llvm.llvm_version_info),
                 target.key, str(opt_level), options, signature, ir_text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def optimize(ir_text: str, target: HostTarget, opt_level: int) -> llvm.ModuleRef:
    """Parse, verify and optimize ``ir_text`` (O0 runs no passes)."""
    try:
        mod = llvm.parse_assembly(ir_text)
        mod.verify()
    except RuntimeError as exc:  # a code generator bug: show the IR
        raise CodegenError(f"generated LLVM IR does not verify: {exc}\n{ir_text}") from exc
    mod.triple = target.triple
    mod.data_layout = target.data_layout
    if opt_level > 0:
        pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pto.loop_unrolling = True
        pto.loop_interleaving = True
        pb = llvm.create_pass_builder(target.target_machine, pto)
        pm = pb.getModulePassManager()
        pm.run(mod, pb)
    return mod


def compile_object(ir_text: str, target: HostTarget, opt_level: int) -> bytes:
    """Optimized machine code for ``ir_text`` as an ELF object file."""
    with _LOCK:
        mod = optimize(ir_text, target, opt_level)
        return target.target_machine.emit_object(mod)


def assembly(ir_text: str, target: HostTarget, opt_level: int) -> tuple[str, str]:
    """(optimized LLVM IR, assembly) of ``ir_text``, for debugging and golden tests."""
    with _LOCK:
        mod = optimize(ir_text, target, opt_level)
        return str(mod), target.target_machine.emit_assembly(mod)


class LoadedObject:
    """An MCJIT engine holding one object file; keeps the machine code alive."""

    def __init__(self, obj: bytes, target: HostTarget, symbols: list[str]) -> None:
        with _LOCK:
            empty = llvm.parse_assembly("")
            empty.triple = target.triple
            empty.data_layout = target.data_layout
            self._engine = llvm.create_mcjit_compiler(empty, target.new_target_machine())
            self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            self._engine.finalize_object()
            self.addresses = {s: self._engine.get_function_address(s) for s in symbols}
        missing = [s for s, a in self.addresses.items() if not a]
        if missing:
            raise CodegenError(f"symbols {missing} not found in the compiled object")


# ---------------------------------------------------------------------- disk cache
def cache_dir() -> Path | None:
    if os.environ.get("VDLA_LLVM_DISK_CACHE", "1") == "0":
        return None
    root = os.environ.get("VDLA_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "vdla"
    return base / "llvm"


_MAGIC = b"VDLAOBJ1"


def read_cached(key: str) -> bytes | None:
    """The cached object code for ``key``, or None (missing, truncated or corrupt)."""
    d = cache_dir()
    if d is None:
        return None
    try:
        data = (d / f"{key}.o").read_bytes()
    except OSError:
        return None
    # LLVM crashes on malformed object files, so only an intact entry is handed over
    head, digest, obj = data[:8], data[8:40], data[40:]
    if head != _MAGIC or hashlib.sha256(obj).digest() != digest:
        return None
    return obj


def write_cached(key: str, obj: bytes) -> None:
    d = cache_dir()
    if d is None:
        return
    tmp = None
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{key}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + hashlib.sha256(obj).digest() + obj)
        os.replace(tmp, d / f"{key}.o")
    except OSError:
        # a read-only or full cache directory only costs a recompile next time
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)

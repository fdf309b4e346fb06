"""The host CPU as LLVM sees it: triple, CPU name, features and a target machine.

Created lazily on first use (never at import time) and cached per (cpu, features). Set
``VDLA_LLVM_CPU`` / ``VDLA_LLVM_FEATURES`` to compile for something narrower than the host (for
example ``VDLA_LLVM_FEATURES=-avx512f`` to test the AVX2 code paths); features given there are
appended to the host's, so later ones win.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import llvmlite.binding as llvm

from compiler.tir.ir import split_dtype

_BITS = {"bool": 8, "int8": 8, "uint8": 8, "int16": 16, "int32": 32, "uint32": 32,
         "int64": 64, "float32": 32, "float64": 64}


@dataclass(frozen=True)
class HostTarget:
    """What the code generator needs to know about the CPU it compiles for."""

    triple: str
    cpu: str
    features: str
    target_machine: llvm.TargetMachine
    data_layout: str

    def has(self, feature: str) -> bool:
        """True if ``feature`` (e.g. ``"avx512f"``) is enabled."""
        flags = self.features.split(",")
        # later entries override earlier ones
        for flag in reversed(flags):
            if flag[1:] == feature:
                return flag[0] == "+"
        return False

    @property
    def vector_bits(self) -> int:
        """Width of the widest native SIMD register: 512 (AVX-512), 256 (AVX2/AVX) or 128."""
        if self.has("avx512f"):
            return 512
        if self.has("avx2") or self.has("avx"):
            return 256
        return 128

    def vector_lanes(self, dtype: str) -> int:
        """Lanes of ``dtype`` in one native vector register (16 for float32 with AVX-512)."""
        return max(1, self.vector_bits // _BITS[split_dtype(dtype)[0]])

    def new_target_machine(self) -> llvm.TargetMachine:
        """A fresh target machine (an MCJIT execution engine takes ownership of its own)."""
        return llvm.Target.from_triple(self.triple).create_target_machine(
            cpu=self.cpu, features=self.features, opt=3, codemodel="jitdefault", jit=True)

    @property
    def key(self) -> str:
        """Identifies the code this target produces (part of every cache key)."""
        return f"{self.triple}|{self.cpu}|{self.features}"


@functools.cache
def _initialize() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@functools.cache
def _make_target(cpu: str, features: str) -> HostTarget:
    _initialize()
    triple = llvm.get_process_triple()
    tm = llvm.Target.from_triple(triple).create_target_machine(
        cpu=cpu, features=features, opt=3, codemodel="jitdefault", jit=True)
    return HostTarget(triple, cpu, features, tm, str(tm.target_data))


def host_target() -> HostTarget:
    """The target for the machine we run on (honours ``VDLA_LLVM_CPU``/``VDLA_LLVM_FEATURES``)."""
    _initialize()
    cpu = os.environ.get("VDLA_LLVM_CPU") or llvm.get_host_cpu_name()
    features = llvm.get_host_cpu_features().flatten()
    extra = os.environ.get("VDLA_LLVM_FEATURES", "").strip(", ")
    if extra:
        features = f"{features},{extra}" if features else extra
    return _make_target(cpu, features)

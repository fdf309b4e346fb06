"""Hand-written accelerator programs (workloads), built with ``ProgramBuilder``.

Each workload carries its program bundle, its inputs and an exact numpy reference of its
output, so that the simulator, the RTL runner and benchmarks can check their results.
"""

from .gemm import (
    GemmResultError,
    GemmTiling,
    GemmTilingError,
    GemmWorkload,
    build_gemm,
    default_shift,
    default_tiling,
    gemm_reference,
)

__all__ = [
    "GemmResultError",
    "GemmTiling",
    "GemmTilingError",
    "GemmWorkload",
    "build_gemm",
    "default_shift",
    "default_tiling",
    "gemm_reference",
]

"""The roofline bound of a compiled module's accelerator layers, beside measured cycles.

For each accelerator layer (one program of ``CompiledModule.programs``)::

    compute cycles = MACs / (BATCH * BLOCK_IN * BLOCK_OUT)     the layer's true multiply-
                                                              accumulates at the GEMM core's peak
    DRAM cycles    = DRAM bytes / DRAM_BUS_BYTES               every operand of the program
                                                              read or written once
    bound          = max(compute cycles, DRAM cycles)

"Every operand once" is the sum of the program's DRAM regions: its activation inputs (in the
packed layout the program reads, channels padded to whole blocks; im2col patches for a first
convolution), weights, per-channel vectors and its output. Operators without MACs (pooling) are
bounded by their traffic alone. The network's bound is the sum over layers; a module whose
measured cycles are close to it spends little time on anything but the work itself (the
epilogues' ALU operations, pipeline fill and drain, DMA latency and tiles that re-read data
all count against it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .executor import Profile
    from .module import CompiledModule


@dataclass
class LayerBound:
    node: str
    op: str
    macs: int
    dram_bytes: int
    compute_cycles: float
    dram_cycles: float
    cycles: int | None = None          # measured (from a profile), if given

    @property
    def bound(self) -> float:
        return max(self.compute_cycles, self.dram_cycles)

    @property
    def limit(self) -> str:
        return "compute" if self.compute_cycles >= self.dram_cycles else "memory"

    @property
    def ratio(self) -> float | None:
        """Measured cycles / bound (1.0 = at the roofline)."""
        return None if self.cycles is None or not self.bound else self.cycles / self.bound

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(bound=self.bound, limit=self.limit, ratio=self.ratio)
        return d


def roofline(module: CompiledModule, profile: Profile | None = None) -> list[LayerBound]:
    """One ``LayerBound`` per accelerator program of ``module``, in execution order; with a
    ``profile`` (``GraphExecutor.run_profiled``) each carries its measured cycles."""
    cfg = module.config
    measured = {} if profile is None else \
        {lp.node: lp.cycles for lp in profile.layers if lp.cycles is not None}
    order = [n.name for n, _ in module.all_nodes()]
    out = []
    for name in order:
        spec = module.programs.get(name)
        if spec is None:
            continue
        nbytes = sum(r.size for r in spec.bundle.regions)
        out.append(LayerBound(name, spec.op, spec.macs, nbytes,
                              spec.macs / cfg.macs_per_cycle, nbytes / cfg.dram_bus_bytes,
                              measured.get(name)))
    return out


def summary(bounds: list[LayerBound]) -> dict[str, Any]:
    """Totals: bound, measured cycles (if every layer has them) and their ratio."""
    bound = sum(b.bound for b in bounds)
    cycles = None if any(b.cycles is None for b in bounds) else sum(b.cycles for b in bounds)
    return {"layers": len(bounds), "macs": sum(b.macs for b in bounds),
            "dram_bytes": sum(b.dram_bytes for b in bounds),
            "compute_cycles": sum(b.compute_cycles for b in bounds),
            "dram_cycles": sum(b.dram_cycles for b in bounds),
            "roofline_cycles": bound, "cycles": cycles,
            "ratio": None if cycles is None or not bound else cycles / bound}


__all__ = ["LayerBound", "roofline", "summary"]

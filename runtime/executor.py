"""The graph executor: runs a compiled module node by node, with a per-layer profile.

``GraphExecutor(module, backend)`` flattens the partitioned graph into a list of steps: a CPU
node is one step (its ``CpuKernel``); a ``Region`` node contributes its body's nodes, each an
accelerator program (``VdlaKernel``) with ``backend="sim"`` or ``"rtl"``, or a CPU kernel with
``backend="cpu"`` (everything on the CPU: the int8 operators have exact CPU kernels). An
accelerator layer's result stays in the packed layout (``PackedTensor``) and goes to the next
accelerator layer as it is; it is unpacked only for a CPU layer or a graph output. Values
are freed after their last use; CPU kernels write into output buffers they keep from run to
run, so the outputs handed back are copies, and an executor (like the module's kernels) serves
one run at a time. Inputs are checked first: a missing or unknown input, or one
with the wrong shape or dtype, is an ``InputError`` naming it, what the module expects and
what it got.

``run(inputs, profile=True)`` also returns a ``Profile``: per layer the wall time, and for
accelerator layers the cycles, MACs and GEMM utilization of its program (from the simulator's
or the RTL's cycle report); per region the totals. ``Profile.trace_events()`` is a Chrome /
Perfetto trace (``vdla run --trace``): one track for the CPU, one for the accelerator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.graph.ir import Graph, Node, dtype_of
from compiler.partition.region import REGION_OP
from compiler.partition.support import node_macs

from .errors import BackendError, InputError
from .kernels_vdla import host_array

if TYPE_CHECKING:
    from .module import CompiledModule

BACKENDS = ("sim", "rtl", "cpu")


@dataclass
class LayerProfile:
    node: str
    op: str
    device: str                 # "cpu" or "vdla"
    region: int | None
    seconds: float              # wall time on the host (for accelerator layers: packing,
                                # running the simulator or RTL, unpacking)
    kernel: str = ""
    cycles: int | None = None   # accelerator layers: cycles of the program
    macs: int = 0               # multiply-accumulates of the layer (0 if it has none); for
                                # accelerator layers as the GEMM core executes them (padding
                                # to whole blocks included)
    gemm_utilization: float | None = None
    dram_bytes_read: int | None = None      # accelerator layers: DRAM traffic of the program
    dram_bytes_written: int | None = None


@dataclass
class Profile:
    backend: str
    layers: list[LayerProfile] = field(default_factory=list)
    wall_seconds: float = 0.0
    macs_per_cycle: int | None = None     # the accelerator's peak, for region utilization

    @property
    def total_cycles(self) -> int | None:
        cycles = [lp.cycles for lp in self.layers if lp.cycles is not None]
        return sum(cycles) if cycles else None

    def regions(self) -> dict[int, dict[str, Any]]:
        """Per accelerator region: layers, wall seconds, cycles, MACs, GEMM utilization."""
        out: dict[int, dict[str, Any]] = {}
        for lp in self.layers:
            if lp.region is None:
                continue
            r = out.setdefault(lp.region, {"layers": 0, "seconds": 0.0, "cycles": 0,
                                           "macs": 0})
            r["layers"] += 1
            r["seconds"] += lp.seconds
            r["cycles"] += lp.cycles or 0
            r["macs"] += lp.macs
        for r in out.values():
            peak = r["cycles"] * (self.macs_per_cycle or 0)
            r["gemm_utilization"] = r["macs"] / peak if peak else None
        return out

    def to_dict(self) -> dict[str, Any]:
        regions = self.regions()
        return {"backend": self.backend, "wall_seconds": self.wall_seconds,
                "total_cycles": self.total_cycles,
                "cpu_seconds": sum(lp.seconds for lp in self.layers if lp.device == "cpu"),
                "layers": [{k: v for k, v in asdict(lp).items()} for lp in self.layers],
                "regions": {str(k): v for k, v in regions.items()}}

    def format(self, top: int | None = None) -> str:
        rows = [("layer", "op", "device", "ms", "cycles", "util", "kernel")]
        layers = self.layers
        if top is not None:
            layers = sorted(layers, key=lambda lp: -lp.seconds)[:top]
        for lp in layers:
            rows.append((lp.node, lp.op, lp.device + ("" if lp.region is None
                                                       else f"#{lp.region}"),
                         f"{lp.seconds * 1e3:.3f}",
                         "" if lp.cycles is None else f"{lp.cycles:,}",
                         "" if lp.gemm_utilization is None
                         else f"{100 * lp.gemm_utilization:.1f}%", lp.kernel))
        widths = [min(max(len(r[i]) for r in rows), 32) for i in range(6)]
        lines = [("  ".join(c[:32].ljust(w) for c, w in zip(r[:6], widths)) + "  "
                  + r[6]).rstrip() for r in rows]
        cpu_s = sum(lp.seconds for lp in self.layers if lp.device == "cpu")
        acc_s = sum(lp.seconds for lp in self.layers if lp.device == "vdla")
        tail = (f"total: {self.wall_seconds * 1e3:.3f} ms wall ({cpu_s * 1e3:.3f} ms in CPU "
                f"layers, {acc_s * 1e3:.3f} ms running accelerator programs on "
                f"'{self.backend}')")
        if self.total_cycles is not None:
            tail += f"; accelerator: {self.total_cycles:,} cycles"
        if top is not None and len(self.layers) > top:
            lines.insert(0, f"the {top} slowest of {len(self.layers)} layers:")
        for k, r in sorted(self.regions().items()):
            util = "" if r["gemm_utilization"] is None else \
                f", GEMM utilization {100 * r['gemm_utilization']:.1f}%"
            cycles = f", {r['cycles']:,} cycles" if r["cycles"] else ""
            plural = "s" if r["layers"] != 1 else ""
            lines.append(f"region {k}: {r['layers']} layer{plural}, "
                         f"{r['seconds'] * 1e3:.3f} ms{cycles}{util}")
        return "\n".join(lines + [tail])

    def trace_events(self) -> list[dict[str, Any]]:
        """Chrome trace events (``{"traceEvents": [...]}``); tid 1: CPU, tid 2: accelerator."""
        events: list[dict[str, Any]] = [
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "cpu"}},
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": 2,
             "args": {"name": f"vdla ({self.backend})"}}]
        t = 0.0
        for lp in self.layers:
            args = {"op": lp.op, "kernel": lp.kernel}
            if lp.cycles is not None:
                args.update(cycles=lp.cycles, macs=lp.macs,
                            gemm_utilization=lp.gemm_utilization)
            events.append({"name": lp.node, "cat": lp.device, "ph": "X", "pid": 1,
                           "tid": 1 if lp.device == "cpu" else 2, "ts": t * 1e6,
                           "dur": lp.seconds * 1e6, "args": args})
            t += lp.seconds
        return events


@dataclass
class _Step:
    node: Node
    device: str
    region: int | None
    inputs: list[str | None]
    outputs: list[str]
    run: Callable[[list], tuple[list[np.ndarray], Any]]
    kernel: str
    macs: int = 0
    frees: list[str] = field(default_factory=list)


class GraphExecutor:
    """Runs ``module`` on ``backend`` ("sim", "rtl" or "cpu"); kernels are built here."""

    def __init__(self, module: CompiledModule, backend: str = "sim",
                 progress: Callable[[str], None] | None = None) -> None:
        if backend not in BACKENDS:
            raise BackendError(f"unknown backend {backend!r}; expected one of "
                               f"{', '.join(BACKENDS)}")
        self.module = module
        self.backend = backend
        self.graph: Graph = module.graph
        self.constants: dict[str, np.ndarray] = module.constants
        self.steps: list[_Step] = []
        flat: list[tuple[Node, int | None]] = []
        region_ids = module.region_ids()
        for node in self.graph.nodes:
            if node.op == REGION_OP:
                body: Graph = node.attrs["body"]
                flat += [(n, region_ids[node.name]) for n in body.nodes]
            else:
                flat.append((node, None))
        for i, (node, region) in enumerate(flat):
            if progress is not None:
                progress(f"[{i + 1}/{len(flat)}] {node.name} ({node.op})")
            self.steps.append(self._step(node, region))
        self._plan_frees()

    # ------------------------------------------------------------------ building
    def _step(self, node: Node, region: int | None) -> _Step:
        ins = [None if v is None else v.name for v in node.inputs]
        outs = [v.name for v in node.outputs]
        if region is not None and self.backend != "cpu":
            kernel = self.module.vdla_kernel(node.name)
            backend = self.backend

            def run(arrays, kernel=kernel):
                y, report = kernel(arrays, backend)     # y: a PackedTensor
                return [y], report

            return _Step(node, "vdla", region, ins, outs, run, f"vdla:{kernel.spec.op}",
                         kernel.spec.macs)
        ck = self.module.cpu_kernel(node)
        return _Step(node, "cpu", region, ins, outs,
                     lambda arrays, k=ck: (k([host_array(a) for a in arrays]), None),
                     ck.description, node_macs(node))

    def _plan_frees(self) -> None:
        last: dict[str, int] = {}
        for i, s in enumerate(self.steps):
            for name in s.inputs:
                if name is not None:
                    last[name] = i
        keep = {v.name for v in self.graph.outputs} | set(self.constants)
        for name, i in last.items():
            if name not in keep:
                self.steps[i].frees.append(name)

    # ------------------------------------------------------------------ inputs
    def check_inputs(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]
                     ) -> dict[str, np.ndarray]:
        g = self.graph
        expected = ", ".join(f"'{v.name}' {v.type}" for v in g.inputs)
        if not isinstance(inputs, Mapping):
            inputs = list(inputs)
            if len(inputs) != len(g.inputs):
                raise InputError(f"the module takes {len(g.inputs)} input(s) ({expected}), "
                                 f"got {len(inputs)} array(s)")
            inputs = {v.name: a for v, a in zip(g.inputs, inputs)}
        names = {v.name for v in g.inputs}
        unknown = sorted(set(inputs) - names)
        if unknown:
            raise InputError(f"unknown input(s) {', '.join(map(repr, unknown))}; the module's "
                             f"inputs are {expected}")
        out = {}
        for v in g.inputs:
            if v.name not in inputs:
                raise InputError(f"input '{v.name}' ({v.type}) is missing; the module's "
                                 f"inputs are {expected}")
            a = np.asarray(inputs[v.name])
            if tuple(a.shape) != v.shape:
                raise InputError(f"input '{v.name}' has shape {tuple(a.shape)}, but the module "
                                 f"was compiled for {v.shape} ({v.type}); pass an array of "
                                 f"that shape, or recompile with `vdla compile --input-shape "
                                 f"{v.name}:{','.join(str(d) for d in a.shape)}`")
            if dtype_of(a) != v.dtype:
                raise InputError(f"input '{v.name}' has dtype {dtype_of(a)}, expected "
                                 f"{v.dtype}; convert it with .astype('{v.dtype}')")
            out[v.name] = a
        return out

    # ------------------------------------------------------------------ running
    def run(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]
            ) -> dict[str, np.ndarray]:
        """{output name: array} in the graph's output order."""
        return self.run_profiled(inputs)[0]

    def run_profiled(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]
                     ) -> tuple[dict[str, np.ndarray], Profile]:
        env: dict[str, np.ndarray] = dict(self.constants)
        env.update(self.check_inputs(inputs))
        prof = Profile(self.backend, macs_per_cycle=self.module.config.macs_per_cycle)
        start = time.perf_counter()
        for s in self.steps:
            arrays = [None if n is None else env[n] for n in s.inputs]
            t = time.perf_counter()
            outs, report = s.run(arrays)
            dt = time.perf_counter() - t
            for name, a in zip(s.outputs, outs):
                env[name] = a
            for name in s.frees:
                env.pop(name, None)
            lp = LayerProfile(s.node.name, s.node.op, s.device, s.region, dt, s.kernel,
                              macs=s.macs)
            if report is not None:
                lp.cycles = int(report.cycles)
                lp.macs = int(report.macs)
                lp.gemm_utilization = float(report.gemm_utilization)
                lp.dram_bytes_read = int(report.dram_bytes_read)
                lp.dram_bytes_written = int(report.dram_bytes_written)
            prof.layers.append(lp)
        # kernels reuse their output buffers run after run: the caller gets copies
        outputs = {v.name: np.array(host_array(env[v.name]), copy=True)
                   for v in self.graph.outputs}
        prof.wall_seconds = time.perf_counter() - start
        return outputs, prof


__all__ = ["BACKENDS", "GraphExecutor", "LayerProfile", "Profile"]

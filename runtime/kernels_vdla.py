"""Accelerator kernels: one program bundle per accelerator node, with its constants baked in.

Compile side (``compile_vdla_node``): the node's operator from ``compiler.ops.vdla`` (the same
program the partitioner's trial build made) is packed once with the node's constant inputs
(weights, multipliers) in the accelerator's layouts; they are written into the bundle's DRAM
image, so the stored bundle is complete except for the activations. Each activation input gets
a *recipe* (``ParamRecipe``): how to turn the NCHW (or NC) array into the DRAM region's packed
layout (``compiler.ops.vdla.layout``: optional im2col, pack to BATCH x BLOCK_IN elements,
zero-pad to the region). The recipe is checked against the operator library's own packing at
compile time, on random probe data.

Run side (``VdlaKernel``): copy the bundle's DRAM image, write the packed activations into
their regions, run the bundle (``runtime.execute.run_bundle``: "sim" or "rtl") and return the
output region as a ``PackedTensor``: the next accelerator layer takes it as it is (activations
stay in the packed layout between layers), and it is unpacked to NCHW/NC only for a CPU layer
or a graph output. No compiler is involved: a loaded module runs the stored bundles as they
are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from accel.isa.bundle import Bundle
from accel.isa.config import HardwareConfig
from compiler.graph.ir import Node
from compiler.ops.vdla import layout

from .errors import ModuleFormatError


@dataclass(frozen=True)
class ParamRecipe:
    """How one activation input of a node fills a DRAM region of its bundle."""

    param: str                      # the bundle region
    input: int                      # index of the node input it comes from
    layout: str                     # "nchw", "nc" or "nchw_flat" (an NCHW tensor read as the
                                    # rows of a dense layer: ``layout.pack_nchw_flat``)
    im2col: dict | None = None      # {"kernel", "stride", "padding"} for im2col convolutions

    def to_json(self) -> dict[str, Any]:
        return {"param": self.param, "input": self.input, "layout": self.layout,
                "im2col": self.im2col}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ParamRecipe:
        return cls(str(doc["param"]), int(doc["input"]), str(doc["layout"]), doc.get("im2col"))


@dataclass
class VdlaProgramSpec:
    """An accelerator node compiled: its bundle, activation recipes and output unpacking."""

    node: str
    op: str                         # operator-library name ("conv2d", "dense", ...)
    bundle: Bundle
    inputs: list[ParamRecipe]
    output: str                     # the bundle region holding the result
    out_layout: str                 # "nchw" or "nc"
    out_shape: tuple[int, ...]
    macs: int = 0
    info: dict[str, Any] = field(default_factory=dict)   # tiling, instruction count...

    def to_json(self, bundle_ref: str) -> dict[str, Any]:
        return {"node": self.node, "op": self.op, "bundle": bundle_ref,
                "inputs": [r.to_json() for r in self.inputs], "output": self.output,
                "out_layout": self.out_layout, "out_shape": list(self.out_shape),
                "macs": self.macs, "info": self.info}

    @classmethod
    def from_json(cls, doc: dict[str, Any], bundle: Bundle) -> VdlaProgramSpec:
        try:
            spec = cls(str(doc["node"]), str(doc["op"]), bundle,
                       [ParamRecipe.from_json(r) for r in doc["inputs"]], str(doc["output"]),
                       str(doc["out_layout"]), tuple(int(d) for d in doc["out_shape"]),
                       int(doc.get("macs", 0)), dict(doc.get("info") or {}))
        except (KeyError, TypeError, ValueError) as e:
            raise ModuleFormatError(f"corrupted accelerator program entry {doc!r:.200}: "
                                    f"{e}") from None
        for name in [r.param for r in spec.inputs] + [spec.output]:
            try:
                bundle.region(name)
            except KeyError:
                raise ModuleFormatError(f"the bundle of node '{spec.node}' has no DRAM region "
                                        f"'{name}'") from None
        return spec


def pack_activation(recipe: ParamRecipe, x: np.ndarray, shape: tuple[int, ...],
                    cfg: HardwareConfig) -> np.ndarray:
    """NCHW / NC ``x`` in the packed layout of a DRAM region of ``shape``."""
    if recipe.im2col:
        r = recipe.im2col
        x = layout.im2col(x, tuple(r["kernel"]), tuple(r["stride"]), tuple(r["padding"]))
    if recipe.layout == "nc":
        p = layout.pack_nc(x, cfg.batch, cfg.block_in)
    elif recipe.layout == "nchw_flat":
        p = layout.pack_nchw_flat(x, cfg.batch, cfg.block_in)
    else:
        p = layout.pack_nchw(x, cfg.batch, cfg.block_in)
    if p.shape != tuple(shape):
        p = np.pad(p, [(0, s - d) for d, s in zip(p.shape, shape)])
    return p


def _layout_of(v) -> str:
    """The packing of a graph value: "nc" for (N, C) tensors, else "nchw"."""
    return "nc" if v.ndim == 2 else "nchw"


def compile_vdla_node(node: Node, constants: dict[str, np.ndarray], cfg: HardwareConfig,
                      seed: int = 0) -> VdlaProgramSpec:
    """Build the program of accelerator node ``node`` with its constants baked in."""
    from compiler.partition.support import build_vdla_op, node_macs

    op = build_vdla_op(node, cfg)
    prog = op.program
    rng = np.random.default_rng(seed)
    slots = [i for i, v in enumerate(node.inputs) if v is not None]
    arrays = {}
    for i in slots:
        v = node.inputs[i]
        arrays[i] = constants[v.name] if v.name in constants else \
            rng.integers(-128, 128, v.shape).astype(v.dtype)
    pos = [arrays[i] for i in slots if i < 2 or node.op not in ("QConv", "QDense")]
    flat = node.op == "QDense" and node.inputs[0].ndim == 4
    if flat:   # rows of the packed NCHW input; weight columns permuted to match
        pos[0] = layout.unpack_nc(layout.pack_nchw_flat(pos[0], cfg.batch, cfg.block_in),
                                  pos[0].shape[0], op.attrs["features"])
        pos[1] = layout.flat_nchw_weight(pos[1], node.inputs[0].shape[1:], cfg.block_in)
    kw: dict[str, np.ndarray] = {}
    extras = {"QConv": {2: "multiplier", 3: "residual", 4: "bias"},
              "QDense": {2: "multiplier", 3: "bias"}}.get(node.op, {})
    for i, key in extras.items():
        if i in arrays:
            kw[key] = arrays[i]
    packed = op.pack(*pos, **kw)
    params = prog.inputs
    # the program's inputs: one per node input, then the operator's own constants (the
    # multiplier of global average pooling), which ``pack`` also made
    assert len(packed) == len(params) >= len(slots), (node, len(packed), len(params))
    recipes, fill = [], []
    for i, param, p in zip(slots, params, packed):
        if node.inputs[i].name in constants:
            fill.append(p)
            continue
        im2col = None
        if node.op == "QConv" and i == 0 and op.attrs.get("im2col"):
            im2col = {"kernel": list(node.attrs["kernel_shape"]),
                      "stride": list(op.attrs["stride"]), "padding": list(op.attrs["padding"])}
        recipe = ParamRecipe(param.region.name, i, "nchw_flat" if flat and i == 0
                             else _layout_of(node.inputs[i]), im2col)
        mine = pack_activation(recipe, arrays[i], param.shape, cfg)
        if mine.shape != p.shape or not np.array_equal(mine, p):
            raise AssertionError(f"{node.op} node '{node.name}': the activation recipe for "
                                 f"'{param.name}' disagrees with compiler.ops.vdla's packing")
        recipes.append(recipe)
        fill.append(np.zeros_like(p))
    fill += packed[len(slots):]
    bundle = prog.bundle_with(*fill)
    out = prog.outputs[0]
    info = {"tiling": repr(op.tiling), "instructions": prog.instructions,
            "attrs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in op.attrs.items()}}
    return VdlaProgramSpec(node.name, op.name, bundle, recipes, out.region.name,
                           _layout_of(node.outputs[0]), node.outputs[0].shape, node_macs(node),
                           info)


class PackedTensor:
    """An accelerator layer's result as it lies in DRAM (the packed layout), with its NCHW / NC
    view made only when something asks for it (``array()``: a CPU layer, a graph output).

    The next accelerator layer of the region takes ``packed`` as it is when its input region
    has the same bytes in the same packing (``for_region``), so activations stay packed from
    layer to layer, as they would in the accelerator's DRAM; only im2col inputs and differing
    paddings are repacked from NCHW."""

    __slots__ = ("packed", "shape", "_array")

    def __init__(self, packed: np.ndarray, shape: tuple[int, ...]) -> None:
        self.packed = packed
        self.shape = tuple(shape)
        self._array: np.ndarray | None = None

    def array(self) -> np.ndarray:
        if self._array is None:
            p, (n, c) = self.packed, self.shape[:2]
            # an (N, C) result may come from a 6-d packing with H = W = 1 (global pooling)
            y = layout.unpack_nchw(p if p.ndim == 6 else p[:, :, None, None], n, c)
            self._array = y.reshape(self.shape).astype(np.int8, copy=False)
        return self._array

    def for_region(self, recipe: ParamRecipe, shape: tuple[int, ...], dtype) -> np.ndarray | None:
        """The packed array as region ``shape``, or None if it must be repacked."""
        p = self.packed
        if recipe.im2col or p.dtype != dtype or p.size != int(np.prod(shape)):
            return None
        # NCHWnc with H = W = 1 and NCnc are the same bytes; otherwise the shapes must agree
        if _core(p.shape) == _core(shape) or (recipe.layout == "nchw_flat" and p.ndim == 6
                                              and p.shape[:2] == (shape[0], p.shape[1])
                                              and p.shape[1] * p.shape[2] * p.shape[3]
                                              == shape[1]):
            return p.reshape(shape)
        return None


def _core(shape) -> tuple[int, ...]:
    """A packed shape without the unit H and W of a 6-d packing."""
    shape = tuple(shape)
    return shape[:2] + shape[4:] if len(shape) == 6 and shape[2:4] == (1, 1) else shape


def host_array(a) -> np.ndarray | None:
    """``a`` as a host array (unpacking a ``PackedTensor``)."""
    return a.array() if isinstance(a, PackedTensor) else a


class VdlaKernel:
    """Runs one stored program: ``kernel(arrays, backend) -> (PackedTensor, cycle report)``;
    an input may be a ``PackedTensor`` from the previous accelerator layer."""

    def __init__(self, spec: VdlaProgramSpec) -> None:
        self.spec = spec
        self.bundle = spec.bundle
        self._regions = {r.param: spec.bundle.region(r.param) for r in spec.inputs}
        self._out = spec.bundle.region(spec.output)
        self.repacked = 0        # inputs packed from NCHW (not handed over packed)

    def __call__(self, arrays, backend: str = "sim") -> tuple[PackedTensor, Any]:
        from .execute import run_bundle

        b = self.bundle
        dram = b.dram.copy()
        for r in self.spec.inputs:
            reg = self._regions[r.param]
            a = arrays[r.input]
            p = a.for_region(r, reg.shape, reg.np_dtype) if isinstance(a, PackedTensor) \
                else None
            if p is None:
                self.repacked += 1
                p = pack_activation(r, np.asarray(host_array(a)), reg.shape, b.config)
            raw = np.ascontiguousarray(p, dtype=reg.np_dtype).view(np.uint8).reshape(-1)
            dram[reg.offset:reg.offset + reg.size] = raw
        res = run_bundle(Bundle(b.config, b.insns, dram, b.regions), backend)
        raw = np.asarray(res.dram)[self._out.offset:self._out.offset + self._out.size]
        p = raw.view(self._out.np_dtype).reshape(self._out.shape)
        return PackedTensor(p, self.spec.out_shape), res.report


__all__ = ["PackedTensor", "ParamRecipe", "VdlaKernel", "VdlaProgramSpec", "compile_vdla_node",
           "host_array", "pack_activation"]

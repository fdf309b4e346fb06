"""Compiled modules: compile a model once, save it to one file, load and run it anywhere.

    from runtime.module import compile_model, load_module

    mod = compile_model("resnet50.onnx", target="cpu")        # or target="vdla", config=cfg
    mod.save("resnet50.vdla")
    mod = load_module("resnet50.vdla")
    out, profile = mod.executor("sim").run_profiled({"data": x})

Compiling (``compile_model``): import (ONNX path, bytes or ModelProto, or a graph IR
``Graph``), ``optimize``, ``partition`` for the target (``compiler.partition``), then every
accelerator node becomes a program bundle with its constants baked in
(``runtime.kernels_vdla``) and every CPU node (and every accelerator node, for
``backend="cpu"``) a CPU kernel (``runtime.kernels_cpu``), compiled by LLVM.

File format (a zip; written atomically: a temporary file in the same directory, then a
rename)::

    manifest.json             {"format": "vdla-module", "format_version": 1,
                               "vdla_version", "target", "config": {knobs},
                               "source": {model name, input shapes, compile seconds...},
                               "graph": the partitioned graph (runtime.serialize),
                               "regions": [{"id", "node", "programs": [program]}],
                               "objects": {cache key: entry}, "report": partition report,
                               "entries": {entry: {"size", "sha256"}}}
    constants/NNNN.npy        every constant of the graph and of the region bodies (numpy
                              .npy, never pickled); CPU weights are stored plain: their packed
                              layout depends on the host's vector width, and packing them at
                              load time takes milliseconds
    bundles/NNNN.bundle       one accelerator program per accelerator node (accel.isa bundle
                              format: config, instructions, DRAM image with the packed
                              weights; CRC-checked sections)
    llvm/KEY.o                object code of the CPU kernels, keyed by the LLVM backend's
                              cache key (a hash of the IR, options and host CPU); on load they
                              seed the LLVM disk cache, so a kernel whose IR hashes the same
                              is not compiled again (another CPU simply recompiles)

A module's CPU kernels keep their output buffers from run to run: run one inference at a time
per module (make one module, or load one, per thread for concurrent inference).

Loading checks the format and vdla versions (``ModuleVersionError``), that the file is a
complete zip with a manifest (``ModuleFormatError`` for a truncated or corrupted file), every
entry against its recorded size and SHA-256, and the graph with the structural verifier. CPU
kernels are rebuilt from the graph's nodes (their operator specs) when an executor is made.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accel.isa.bundle import Bundle
from accel.isa.config import HardwareConfig
from accel.isa.errors import BundleError, ConfigError
from compiler.graph.ir import Graph, Node

from .errors import ModuleFormatError, ModuleVersionError
from .kernels_cpu import CpuKernel, lower_cpu
from .kernels_vdla import VdlaKernel, VdlaProgramSpec, compile_vdla_node
from .serialize import graph_from_json, graph_to_json

FORMAT = "vdla-module"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

Progress = Callable[[str], None]


def vdla_version() -> str:
    """The installed vdla's version (``pyproject.toml`` when not installed)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("vdla")
    except PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except (OSError, KeyError, ValueError):
            return "unknown"


@dataclass
class CompiledModule:
    """A partitioned graph with its accelerator programs; CPU kernels are built on demand."""

    graph: Graph
    target: str
    config: HardwareConfig
    report: Any                                   # compiler.partition.PartitionReport
    programs: dict[str, VdlaProgramSpec] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    vdla_version: str = ""
    _cpu: dict[str, CpuKernel] = field(default_factory=dict, repr=False)
    _vdla: dict[str, VdlaKernel] = field(default_factory=dict, repr=False)
    _seeded: bool = field(default=False, repr=False)
    _consts: dict[str, np.ndarray] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ structure
    @property
    def inputs(self):
        return self.graph.inputs

    @property
    def outputs(self):
        return self.graph.outputs

    def region_ids(self) -> dict[str, int]:
        """Region node name -> region id."""
        return {r.node: r.id for r in self.report.regions}

    def region_nodes(self) -> list[Node]:
        from compiler.partition.region import REGION_OP

        return [n for n in self.graph.nodes if n.op == REGION_OP]

    def all_nodes(self) -> list[tuple[Node, Graph]]:
        """Every executable node with the graph holding its constants (bodies flattened)."""
        from compiler.partition.region import REGION_OP

        out = []
        for n in self.graph.nodes:
            if n.op == REGION_OP:
                body = n.attrs["body"]
                out += [(m, body) for m in body.nodes]
            else:
                out.append((n, self.graph))
        return out

    # ------------------------------------------------------------------ kernels
    def cpu_kernel(self, node: Node) -> CpuKernel:
        k = self._cpu.get(node.name)
        if k is None:
            k = self._cpu[node.name] = lower_cpu(node, self.constants)
        return k

    @property
    def constants(self) -> dict[str, np.ndarray]:
        """Every constant: the top-level graph's and the region bodies'."""
        if self._consts is None:
            consts = dict(self.graph.constants)
            for r in self.region_nodes():
                consts.update(r.attrs["body"].constants)
            self._consts = consts
        return self._consts

    def vdla_kernel(self, node_name: str) -> VdlaKernel:
        k = self._vdla.get(node_name)
        if k is None:
            k = self._vdla[node_name] = VdlaKernel(self.programs[node_name])
        return k

    def executor(self, backend: str = "sim", progress: Progress | None = None):
        from .executor import GraphExecutor

        if self.objects and not self._seeded:
            seed_llvm_cache(self.objects)
            self._seeded = True
        return GraphExecutor(self, backend, progress)

    def run(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray],
            backend: str = "sim") -> dict[str, np.ndarray]:
        return self.executor(backend).run(inputs)

    # ------------------------------------------------------------------ saving
    def collect_objects(self) -> dict[str, bytes]:
        """Object code of the built CPU kernels, as the LLVM disk cache holds it (a kernel
        compiled with the disk cache off, or under another cache directory, is left out and
        simply recompiled when the module is loaded)."""
        from compiler.codegen.llvm import jit

        objs = dict(self.objects)
        for k in self._cpu.values():
            for op in k.ops:
                key = op.compiled.cache_key
                if key not in objs:
                    obj = jit.read_cached(key)
                    if obj is not None:
                        objs[key] = obj
        return objs

    def to_zip(self, f, *, objects: bool = True) -> None:
        """Write the module as a zip to the binary file object ``f``."""
        entries: dict[str, dict[str, Any]] = {}
        zf = zipfile.ZipFile(f, "w")

        def put(name: str, data: bytes, compress: bool) -> str:
            zf.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)) if not compress else
                        _deflated(name), data)
            entries[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            return name

        stored: dict[int, str] = {}

        def store(hint: str, array: np.ndarray) -> str:
            key = id(array)
            if key not in stored:
                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
                stored[key] = put(f"constants/{len(stored):05d}.npy", buf.getvalue(), False)
            return stored[key]

        graph_doc = graph_to_json(self.graph, store)
        programs = {}
        for i, (name, spec) in enumerate(self.programs.items()):
            ref = put(f"bundles/{i:05d}.bundle", spec.bundle.to_bytes(), True)
            programs[name] = spec.to_json(ref)
        objs = {}
        if objects:
            for key, obj in self.collect_objects().items():
                objs[key] = put(f"llvm/{key}.o", obj, False)
        regions = []
        for r in self.report.regions:
            regions.append({"id": r.id, "node": r.node,
                            "programs": [programs[n] for n in r.nodes]})
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "vdla_version": self.vdla_version or vdla_version(),
            "target": self.target, "config": self.config.to_dict(), "source": self.source,
            "graph": graph_doc, "regions": regions,
            "objects": objs, "report": self.report.to_dict(), "entries": entries,
        }
        zf.writestr(_deflated(MANIFEST), json.dumps(manifest, allow_nan=False).encode())
        zf.close()

    def to_bytes(self, *, objects: bool = True) -> bytes:
        buf = io.BytesIO()
        self.to_zip(buf, objects=objects)
        return buf.getvalue()

    def save(self, path: str | os.PathLike[str], *, objects: bool = True) -> None:
        """Write the module to ``path`` atomically (a temporary file, then a rename)."""
        p = Path(path)
        fd, tmp = tempfile.mkstemp(dir=p.parent or ".", prefix=f".{p.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                self.to_zip(f, objects=objects)
            os.replace(tmp, p)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    # ------------------------------------------------------------------ info
    def info(self) -> dict[str, Any]:
        """What ``vdla info`` shows (JSON-ready)."""
        nodes = self.all_nodes()
        kinds: dict[str, int] = {}
        for p in self.report.nodes:
            if p.target == "cpu" and p.kernel:
                kind = p.kernel.split(":")[0]
                kinds[kind] = kinds.get(kind, 0) + 1
        const_bytes = sum(a.nbytes for a in self.graph.constants.values())
        const_bytes += sum(a.nbytes for r in self.region_nodes()
                           for a in r.attrs["body"].constants.values())
        return {
            "format_version": FORMAT_VERSION, "vdla_version": self.vdla_version,
            "target": self.target, "config": self.config.to_dict(),
            "config_summary": self.config.summary, "source": self.source,
            "inputs": [{"name": v.name, "shape": list(v.shape), "dtype": v.dtype}
                       for v in self.graph.inputs],
            "outputs": [{"name": v.name, "shape": list(v.shape), "dtype": v.dtype}
                        for v in self.graph.outputs],
            "nodes": len(nodes), "top_level_nodes": len(self.graph.nodes),
            "constants_bytes": const_bytes,
            "regions": [{"id": r.id, "node": r.node, "nodes": len(r.nodes), "macs": r.macs,
                         "programs": [{"node": n, "op": self.programs[n].op,
                                       "instructions": self.programs[n].info.get(
                                           "instructions"),
                                       "dram_bytes": len(self.programs[n].bundle.dram)}
                                      for n in r.nodes]}
                        for r in self.report.regions],
            "cpu_kernel_kinds": kinds, "objects": len(self.objects),
            "report": self.report.to_dict(),
        }


def _deflated(name: str) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
    zi.compress_type = zipfile.ZIP_DEFLATED
    return zi


def seed_llvm_cache(objects: Mapping[str, bytes]) -> None:
    """Put a module's object code into the LLVM disk cache (entries it already has stay)."""
    from compiler.codegen.llvm import jit

    if jit.cache_dir() is None:
        return
    for key, obj in objects.items():
        if jit.read_cached(key) is None:
            jit.write_cached(key, obj)


# ---------------------------------------------------------------------- compiling
def compile_model(model, *, target: str = "vdla", config: HardwareConfig | None = None,
                  input_shapes: Mapping[str, Sequence[int]] | None = None,
                  min_cycles: int | None = None, optimize: bool = True,
                  calibration=None, progress: Progress | None = None) -> CompiledModule:
    """Compile ``model`` (an ONNX path, bytes or ModelProto, or a ``Graph``) for ``target``
    ("vdla": partition between the accelerator and the CPU; "cpu": everything on the CPU).

    ``calibration``: samples for post-training int8 quantization (``compiler.quantize``; an
    array, or {input name: array}); the float graph is quantized before partitioning."""
    from compiler.graph import optimize as optimize_graph
    from compiler.partition import DEFAULT_MIN_CYCLES, partition

    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    cfg = config or HardwareConfig()
    if isinstance(model, Graph):
        graph, name = model, model.name
    else:
        from compiler.frontend.onnx import from_onnx

        say("importing the ONNX model")
        graph = from_onnx(model, input_shapes=input_shapes)
        name = str(model) if isinstance(model, (str, os.PathLike)) else graph.name
    if calibration is not None:
        from compiler.quantize import quantize

        say(f"optimizing {len(graph.nodes)} nodes")
        graph = optimize_graph(graph, fuse=False)
        say(f"calibrating and quantizing {len(graph.nodes)} nodes")
        graph = quantize(graph, calibration)
    elif optimize:
        say(f"optimizing {len(graph.nodes)} nodes")
        graph = optimize_graph(graph)
    say(f"partitioning {len(graph.nodes)} nodes for target '{target}'")
    part = partition(graph, target, cfg,
                     min_cycles=DEFAULT_MIN_CYCLES if min_cycles is None else min_cycles)
    mod = CompiledModule(part.graph, target, cfg, part.report, vdla_version=vdla_version())
    nodes = mod.all_nodes()
    for i, (node, holder) in enumerate(nodes):
        what = []
        if node.target == "vdla":
            spec = compile_vdla_node(node, dict(holder.constants), cfg)
            mod.programs[node.name] = spec
            what.append(f"vdla:{spec.op} ({spec.info['instructions']} instructions)")
        k = mod.cpu_kernel(node)
        if node.target != "vdla":
            what.append(f"cpu {k.description}")
        say(f"[{i + 1}/{len(nodes)}] {node.name} ({node.op}): {', '.join(what)}")
    for p in mod.report.nodes:
        if p.target == "vdla":
            p.kernel = f"vdla:{mod.programs[p.node].op}"
        elif p.node in mod._cpu:
            p.kernel = mod._cpu[p.node].description
    mod.source = {"model": name, "input_shapes": {v.name: list(v.shape) for v in graph.inputs},
                  "min_cycles": DEFAULT_MIN_CYCLES if min_cycles is None else min_cycles,
                  "compile_seconds": round(time.perf_counter() - t0, 3)}
    return mod


# ---------------------------------------------------------------------- loading
def load_module(path: str | os.PathLike[str] | bytes, *, check_version: bool = True
                ) -> CompiledModule:
    """Read a module written by ``CompiledModule.save`` (a path, or the file's bytes)."""
    label = "<bytes>" if isinstance(path, (bytes, bytearray)) else str(path)
    if isinstance(path, (bytes, bytearray)):
        data = bytes(path)
    else:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ModuleFormatError(f"module file '{label}' does not exist") from None
        except IsADirectoryError:
            raise ModuleFormatError(f"'{label}' is a directory, not a vdla module") from None
        except OSError as e:
            raise ModuleFormatError(f"cannot read '{label}': {e.strerror}") from None
    if not data:
        raise ModuleFormatError(f"'{label}' is empty (0 bytes), not a vdla module")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        kind = "truncated or corrupted" if data[:2] == b"PK" else "not a vdla module"
        raise ModuleFormatError(f"'{label}' is {kind}: no zip directory found in its "
                                f"{len(data)} bytes (compile the model again with `vdla "
                                f"compile`)") from None
    with zf:
        reader = _Reader(zf, label)
        manifest = reader.manifest()
        if check_version:
            _check_versions(manifest, label)
        return reader.module(manifest)


def _check_versions(m: dict[str, Any], label: str) -> None:
    fv, vv = m.get("format_version"), m.get("vdla_version")
    if fv != FORMAT_VERSION:
        raise ModuleVersionError(
            f"'{label}' has module format version {fv} (written by vdla {vv}); this vdla "
            f"{vdla_version()} reads format version {FORMAT_VERSION}: recompile the model "
            f"with `vdla compile`")
    if vv != vdla_version():
        raise ModuleVersionError(
            f"'{label}' was compiled by vdla {vv}; this is vdla {vdla_version()}: recompile "
            f"the model with `vdla compile` (its accelerator programs and CPU kernels belong "
            f"to that version)")


class _Reader:
    def __init__(self, zf: zipfile.ZipFile, label: str) -> None:
        self.zf, self.label = zf, label
        self.entries: dict[str, Any] = {}

    def raw(self, name: str, check: bool = True) -> bytes:
        try:
            data = self.zf.read(name)
        except KeyError:
            raise ModuleFormatError(f"'{self.label}' has no entry '{name}' (the file is "
                                    f"incomplete; compile the model again)") from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
            raise ModuleFormatError(f"'{self.label}': entry '{name}' is corrupted ({e})"
                                    ) from None
        except Exception as e:  # noqa: BLE001 - zlib errors on corrupted compressed data
            raise ModuleFormatError(f"'{self.label}': entry '{name}' is corrupted "
                                    f"({type(e).__name__}: {e})") from None
        if check:
            want = self.entries.get(name)
            if want is None:
                raise ModuleFormatError(f"'{self.label}': entry '{name}' is not listed in the "
                                        f"manifest (corrupted manifest)")
            if len(data) != want.get("size") or \
                    hashlib.sha256(data).hexdigest() != want.get("sha256"):
                raise ModuleFormatError(f"'{self.label}': entry '{name}' is corrupted "
                                        f"(its size or SHA-256 differs from the manifest's)")
        return data

    def manifest(self) -> dict[str, Any]:
        try:
            m = json.loads(self.raw(MANIFEST, check=False).decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModuleFormatError(f"'{self.label}': the manifest is corrupted ({e})"
                                    ) from None
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            raise ModuleFormatError(f"'{self.label}' is not a vdla module (its manifest does "
                                    f"not say format '{FORMAT}')")
        self.entries = m.get("entries") or {}
        return m

    def array(self, ref: str) -> np.ndarray:
        try:
            return np.load(io.BytesIO(self.raw(ref)), allow_pickle=False)
        except (ValueError, OSError) as e:
            raise ModuleFormatError(f"'{self.label}': constant entry '{ref}' is not a valid "
                                    f".npy array ({e})") from None

    def module(self, m: dict[str, Any]) -> CompiledModule:
        import compiler.partition  # noqa: F401 - registers the Region operator
        from compiler.graph.errors import GraphError
        from compiler.graph.verify import verify
        from compiler.partition import PartitionReport

        try:
            cfg = HardwareConfig.from_dict(m["config"], source=f"{self.label} config")
            graph = graph_from_json(m["graph"], self.array)
            report = PartitionReport.from_dict(m["report"])
            target = str(m["target"])
        except (KeyError, TypeError) as e:
            raise ModuleFormatError(f"'{self.label}': the manifest is incomplete (missing "
                                    f"{e})") from None
        except ConfigError as e:
            raise ModuleFormatError(f"'{self.label}': invalid config: {e}") from None
        try:
            verify(graph, f"graph of {self.label}")
            for n in graph.nodes:
                if isinstance(n.attrs.get("body"), Graph):
                    verify(n.attrs["body"], f"region '{n.name}' of {self.label}")
        except GraphError as e:
            raise ModuleFormatError(f"'{self.label}': the stored graph is invalid: {e}"
                                    ) from None
        programs = {}
        for r in m.get("regions", []):
            for doc in r.get("programs", []):
                try:
                    bundle = Bundle.from_bytes(self.raw(doc["bundle"]), source=doc["bundle"])
                except BundleError as e:
                    raise ModuleFormatError(f"'{self.label}': {e}") from None
                if bundle.config != cfg:
                    raise ModuleFormatError(f"'{self.label}': bundle '{doc['bundle']}' was "
                                            f"built for another accelerator config")
                spec = VdlaProgramSpec.from_json(doc, bundle)
                programs[spec.node] = spec
        vdla_nodes = {n.name for n, _ in _flat(graph) if n.target == "vdla"}
        missing = sorted(vdla_nodes - set(programs))
        if missing:
            raise ModuleFormatError(f"'{self.label}': no accelerator program for node(s) "
                                    f"{', '.join(missing)}")
        objects = {key: self.raw(ref) for key, ref in (m.get("objects") or {}).items()}
        return CompiledModule(graph, target, cfg, report, programs, dict(m.get("source") or {}),
                              objects, str(m.get("vdla_version", "")))


def _flat(graph: Graph) -> list[tuple[Node, Graph]]:
    out = []
    for n in graph.nodes:
        body = n.attrs.get("body")
        out += [(b, body) for b in body.nodes] if isinstance(body, Graph) else [(n, graph)]
    return out


__all__ = ["FORMAT", "FORMAT_VERSION", "CompiledModule", "compile_model", "load_module",
           "seed_llvm_cache", "vdla_version"]

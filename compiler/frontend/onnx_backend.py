"""An ``onnx.backend.base.Backend`` over vdla, for the ONNX backend test suite.

``prepare(model)`` imports the model (``from_onnx``), runs the graph pass pipeline, and returns
a ``BackendRep`` whose ``run(inputs)`` executes it with one of two executors:

* ``mode="reference"`` (the default): ``EXECUTOR``, the numpy reference executor; switching
  the whole suite to another backend is a change of that one line;
* ``mode="compiled"``: the vdla compiler for the CPU: the graph is partitioned with
  ``target="cpu"``, compiled into a ``runtime.module.CompiledModule`` (LLVM kernels) and run
  by its graph executor on ``backend="cpu"``. With ``roundtrip=True`` the module also goes
  through its file format (saved to bytes and loaded back) before it runs.
  ``VdlaCompiledBackend`` is the same backend with ``mode="compiled"`` as its default, for
  the standard runner (``onnx.backend.test.BackendTest(VdlaCompiledBackend, __name__)``).

Node test models often pass shape parameters (a Reshape target, Slice bounds, Pad amounts...)
as graph inputs. vdla compiles static shapes, so such a model is compiled on its first ``run``,
with exactly the inputs that the import reports as needed at compile time
(``StaticValueError.value_name``) bound to the values given; a later run with different values
for them compiles again.

Example (the standard runner)::

    import onnx.backend.test
    from compiler.frontend.onnx_backend import VdlaBackend
    tests = onnx.backend.test.BackendTest(VdlaBackend, __name__)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from ..graph import reference
from ..graph.errors import StaticValueError
from ..graph.ir import Graph
from ..graph.passes import optimize
from .onnx import from_onnx

# graph -> inputs -> {name: array}; replace to run the suite on another backend
EXECUTOR: Callable[[Graph, Mapping[str, np.ndarray]], Mapping[str, np.ndarray]] = \
    reference.run
MODES = ("reference", "compiled")

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_cpu_executor(roundtrip: bool = False
                          ) -> Callable[[Graph, Mapping[str, np.ndarray]], dict]:
    """An executor that compiles the (optimized) graph for the CPU with vdla and runs it;
    the compiled module is cached per graph. ``roundtrip``: through the module file format."""

    def run(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict:
        from runtime.module import compile_model, load_module

        cache = _COMPILED.setdefault(graph, {})
        ex = cache.get(roundtrip)
        if ex is None:
            mod = compile_model(graph, target="cpu", optimize=False)
            if roundtrip:
                mod = load_module(mod.to_bytes(objects=False))
            ex = cache[roundtrip] = mod.executor("cpu")
        return ex.run(inputs)

    return run


def compile_model(model: onnx.ModelProto, bound: Mapping[str, np.ndarray] | None = None,
                  *, passes: bool = True, check: bool = True) -> Graph:
    """Import (binding ``bound`` inputs as constants) and optimize."""
    graph = from_onnx(model, constant_inputs=bound or None, check=check)
    return optimize(graph) if passes else graph


def _array(x: Any) -> np.ndarray:
    """Test data may hold TensorProtos; everything else goes through np.asarray."""
    if isinstance(x, onnx.TensorProto):
        return onnx.numpy_helper.to_array(x)
    return np.asarray(x)


class VdlaRep(BackendRep):
    """A prepared model; compiled on ``prepare`` or, if it needs input values, on first run."""

    def __init__(self, model: onnx.ModelProto, passes: bool = True, check: bool = True,
                 mode: str = "reference", roundtrip: bool = False) -> None:
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: expected one of {', '.join(MODES)}")
        self.model = model
        self.passes = passes
        self.check = check
        self.mode = mode
        self._executor = compiled_cpu_executor(roundtrip) if mode == "compiled" else None
        self.input_names = [vi.name for vi in model.graph.input
                            if vi.name not in {t.name for t in model.graph.initializer}]
        self.static_inputs: list[str] = []
        self._cache: dict[tuple, Graph] = {}
        try:
            self._cache[()] = compile_model(model, passes=passes, check=check)
        except StaticValueError as e:
            if e.value_name not in self.input_names:
                raise
            self.static_inputs.append(e.value_name)

    def _graph(self, feeds: Mapping[str, np.ndarray]) -> Graph:
        while True:
            key = tuple((n, feeds[n].tobytes(), feeds[n].shape) for n in self.static_inputs)
            if key in self._cache:
                return self._cache[key]
            bound = {n: feeds[n] for n in self.static_inputs}
            try:
                graph = compile_model(self.model, bound, passes=self.passes, check=self.check)
            except StaticValueError as e:
                if e.value_name not in self.input_names or e.value_name in self.static_inputs:
                    raise
                self.static_inputs.append(e.value_name)
                continue
            self._cache[key] = graph
            return graph

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, Mapping):
            feeds = {k: _array(v) for k, v in inputs.items()}
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            feeds = {n: _array(v) for n, v in zip(self.input_names, inputs)}
        graph = self._graph(feeds)
        runtime = {v.name: feeds[v.name] for v in graph.inputs}
        outputs = (self._executor or EXECUTOR)(graph, runtime)
        return tuple(outputs[v.name] for v in graph.outputs)


class VdlaBackend(Backend):
    """vdla as an ONNX backend (CPU device); ``mode`` selects the executor (see above)."""

    default_mode = "reference"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> VdlaRep:
        return VdlaRep(model, passes=kwargs.get("passes", True),
                       check=kwargs.get("check", True),
                       mode=kwargs.get("mode", cls.default_mode),
                       roundtrip=kwargs.get("roundtrip", False))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Sequence[np.ndarray], device: str = "CPU",
                 outputs_info=None, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run one node on inputs (types taken from the arrays)."""
        from onnx import helper

        ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype),
                                             a.shape)
               for n, a in zip(node.input, (np.asarray(x) for x in inputs))]
        outs = [helper.make_value_info(n, onnx.TypeProto()) for n in node.output]
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        model = helper.make_model(helper.make_graph([node], "node", ins, outs),
                                  opset_imports=[helper.make_opsetid("", opset)])
        # output types are left to inference, which the ONNX checker does not accept
        modes = {k: v for k, v in kwargs.items() if k in ("mode", "roundtrip")}
        return cls.prepare(model, device, check=False, **modes).run(list(inputs))

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper().startswith("CPU")


class VdlaCompiledBackend(VdlaBackend):
    """vdla compiling for the CPU (LLVM kernels through the compiled-module runtime)."""

    default_mode = "compiled"


prepare = VdlaBackend.prepare
run_model = VdlaBackend.run_model
run_node = VdlaBackend.run_node
supports_device = VdlaBackend.supports_device

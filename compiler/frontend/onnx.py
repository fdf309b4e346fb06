"""ONNX front end: ``from_onnx(model_or_path, *, input_shapes=None) -> Graph``.

Supports the default ONNX domain at opsets 7 to the newest the installed ``onnx`` package
knows (``onnx.defs.onnx_opset_version()``); the operators and their version differences are in
``compiler.frontend.onnx_ops``. Import runs in three steps:

1. load and check: a missing, truncated or corrupted file raises ``ModelLoadError``;
2. scan: every node whose operator, domain, attributes or dtypes are not supported is
   collected, and ONE ``UnsupportedModelError`` lists them all (node name and opset each);
3. build: inputs get static shapes (a dimension the model leaves open must be given in
   ``input_shapes``, else ``DynamicShapeError`` lists them), initializers become constants,
   and each node is converted in order with type inference (``GraphBuilder``).

Initializers that are also listed as graph inputs (models from ONNX IR version < 4) are
constants, as in onnxruntime's default. ``constant_inputs`` binds other graph inputs to fixed
values (they become constants), for models whose shape parameters are graph inputs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from ..graph.builder import GraphBuilder
from ..graph.errors import DynamicShapeError, GraphBuildError
from ..graph.ir import Graph
from .errors import ModelLoadError, Problem, UnsupportedModelError
from .onnx_ops import CHECKS, CONVERTERS, ONNX_DTYPES, ImportContext, onnx_dtype_name

MIN_OPSET = 7
DEFAULT_DOMAINS = ("", "ai.onnx")


def max_opset() -> int:
    return onnx.defs.onnx_opset_version()


def supported_ops() -> tuple[str, ...]:
    """ONNX operators (default domain) the importer converts."""
    return tuple(sorted(CONVERTERS))


# ---------------------------------------------------------------------- loading
def load_model(model_or_path) -> tuple[onnx.ModelProto, str]:
    """(model, display name) from a ModelProto, a path or serialized bytes."""
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path, model_or_path.graph.name or "model"
    if isinstance(model_or_path, (bytes, bytearray)):
        data, label, base = bytes(model_or_path), "<bytes>", None
    else:
        path = os.fspath(model_or_path)
        label = path
        if not os.path.exists(path):
            raise ModelLoadError(f"ONNX model '{path}' does not exist")
        if os.path.isdir(path):
            raise ModelLoadError(f"'{path}' is a directory, not an ONNX model file")
        with open(path, "rb") as f:
            data = f.read()
        base = os.path.dirname(os.path.abspath(path))
    if not data:
        raise ModelLoadError(f"ONNX model '{label}' is empty (0 bytes)")
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"cannot parse '{label}' as an ONNX model ({len(data)} bytes): "
                             f"the file is truncated or corrupted ({type(e).__name__}: {e})"
                             ) from e
    if not model.HasField("graph") or not model.graph.node:
        raise ModelLoadError(f"'{label}' holds no ONNX graph (no nodes): the file is "
                             f"truncated, corrupted or not an ONNX model")
    if base is not None and _uses_external_data(model):
        try:
            onnx.external_data_helper.load_external_data_for_model(model, base)
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"cannot load the external data of '{label}': {e}") from e
    return model, label


def _uses_external_data(model: onnx.ModelProto) -> bool:
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def _check_model(model: onnx.ModelProto, label: str) -> None:
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        if "Field 'shape' of 'type' is required" in str(e):
            return   # shapes of graph inputs/outputs are optional in the spec; we infer them
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelLoadError(f"'{label}' fails the ONNX checker: {first} (a truncated or "
                             f"corrupted file fails this way; from_onnx(..., check=False) "
                             f"skips the check for a model that is only non-conforming)"
                             ) from e


def model_opset(model: onnx.ModelProto, label: str) -> int:
    versions = {o.domain: o.version for o in model.opset_import}
    opset = versions.get("", versions.get("ai.onnx"))
    if opset is None:
        raise ModelLoadError(f"'{label}' does not import the default ONNX domain "
                             f"(opset_import: {versions})")
    if opset < MIN_OPSET:
        raise UnsupportedModelError(label, [Problem(
            "opset", label, opset, f"opset {opset} is older than the oldest supported "
            f"({MIN_OPSET}); upgrade the model with onnx.version_converter.convert_version"
            f"(model, 13)")])
    if opset > max_opset():
        raise UnsupportedModelError(label, [Problem(
            "opset", label, opset, f"opset {opset} is newer than the installed onnx package "
            f"knows ({max_opset()}); upgrade onnx or export at a lower opset")])
    return opset


# ---------------------------------------------------------------------- scanning
def _node_names(graph: onnx.GraphProto) -> list[str]:
    return [n.name or f"{n.op_type}_{i}" for i, n in enumerate(graph.node)]


def _used_values(graph: onnx.GraphProto) -> set[str]:
    used = {i for n in graph.node for i in n.input if i}
    return used | {o.name for o in graph.output}


def _since_version(op_type: str, opset: int) -> int | None:
    """None if ``op_type`` exists at ``opset``, else the first opset that has it."""
    try:
        onnx.defs.get_schema(op_type, opset, "")
        return None
    except onnx.defs.SchemaError:
        pass
    for v in range(opset + 1, max_opset() + 1):
        try:
            return onnx.defs.get_schema(op_type, v, "").since_version
        except onnx.defs.SchemaError:
            continue
    return opset + 1


def scan(model: onnx.ModelProto, opset: int, label: str) -> None:
    """Raise one UnsupportedModelError listing every unsupported feature of the model."""
    g = model.graph
    used = _used_values(g)
    versions = {o.domain: o.version for o in model.opset_import}
    problems: list[Problem] = []
    for node, name in zip(g.node, _node_names(g)):
        if node.domain not in DEFAULT_DOMAINS:
            problems.append(Problem(node.op_type, name, versions.get(node.domain),
                                    f"operators of domain '{node.domain}' are not supported"))
            continue
        if node.op_type not in CONVERTERS:
            problems.append(Problem(node.op_type, name, opset, "operator not supported"))
            continue
        since = _since_version(node.op_type, opset)
        if since is not None:
            problems.append(Problem(node.op_type, name, opset, f"{node.op_type} does not "
                                    f"exist before opset {since}"))
            continue
        for reason in CHECKS.get(node.op_type, lambda *a: [])(node, opset, used):
            problems.append(Problem(node.op_type, name, opset, reason))
    inits = {t.name for t in g.initializer}
    for t in g.initializer:
        if t.data_type not in ONNX_DTYPES:
            problems.append(Problem("initializer", t.name, None, f"dtype "
                                    f"{onnx_dtype_name(t.data_type)} is not supported"))
    if g.sparse_initializer:
        problems.append(Problem("initializer", g.sparse_initializer[0].values.name, None,
                                "sparse initializers are not supported"))
    for vi in list(g.input) + list(g.output):
        if vi.name in inits:
            continue
        kind = vi.type.WhichOneof("value")
        if kind is None and vi not in g.input:
            continue   # an output without a declared type: inferred
        if kind != "tensor_type":
            problems.append(Problem("input" if vi in g.input else "output", vi.name, None,
                                    f"values of type '{kind}' are not supported (only "
                                    f"tensors)"))
        elif vi.type.tensor_type.elem_type not in ONNX_DTYPES:
            problems.append(Problem("input" if vi in g.input else "output", vi.name, None,
                                    f"dtype {onnx_dtype_name(vi.type.tensor_type.elem_type)}"
                                    f" is not supported"))
    if problems:
        raise UnsupportedModelError(label, problems)


# ---------------------------------------------------------------------- inputs
def _declared_shape(vi: onnx.ValueInfoProto) -> tuple | None:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                 for d in tt.shape.dim)


def _input_shapes(inputs: list[onnx.ValueInfoProto], overrides: Mapping[str, Sequence[int]],
                  label: str) -> dict[str, tuple[int, ...]]:
    names = [vi.name for vi in inputs]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise GraphBuildError(f"input_shapes names {unknown}, which are not inputs of "
                              f"'{label}'; its inputs are {names}")
    shapes, dynamic = {}, {}
    for vi in inputs:
        declared = _declared_shape(vi)
        if vi.name in overrides:
            shape = tuple(int(d) for d in overrides[vi.name])
            if declared is not None:
                if len(declared) != len(shape):
                    raise GraphBuildError(f"input_shapes['{vi.name}'] = {shape} has rank "
                                          f"{len(shape)}, but the model declares {declared}")
                clash = [i for i, (d, s) in enumerate(zip(declared, shape))
                         if isinstance(d, int) and d != s]
                if clash:
                    raise GraphBuildError(
                        f"input_shapes['{vi.name}'] = {shape} changes dimension(s) {clash}, "
                        f"which the model fixes: {declared}")
            if any(d < 0 for d in shape):
                raise GraphBuildError(f"input_shapes['{vi.name}'] = {shape} has a negative "
                                      f"dimension")
            shapes[vi.name] = shape
        elif declared is None or any(not isinstance(d, int) for d in declared):
            dynamic[vi.name] = declared
        else:
            shapes[vi.name] = declared
    if dynamic:
        raise _dynamic_error(dynamic, label)
    return shapes


def _dynamic_error(dynamic: dict[str, tuple | None], label: str) -> DynamicShapeError:
    """One error naming every input dimension left open, with a fix for the first input."""
    lines, examples = [], {}
    for name, declared in dynamic.items():
        if declared is None:
            lines.append(f"  - '{name}': no shape declared")
            examples[name] = (1, 3, 224, 224)
            continue
        shown = tuple(d if isinstance(d, int) else d or "?" for d in declared)
        free = [f"{i} ({d!r})" if d else f"{i} (unknown)"
                for i, d in enumerate(declared) if not isinstance(d, int)]
        lines.append(f"  - '{name}': shape {shown}, dimension(s) {', '.join(free)} not fixed")
        examples[name] = tuple(d if isinstance(d, int) else 1 for d in declared)
    first = next(iter(dynamic))
    example = examples[first]
    return DynamicShapeError(
        f"model '{label}' has input dimensions that are not fixed; vdla compiles static "
        f"shapes, so give every input a concrete shape:\n" + "\n".join(lines) +
        f"\nfix it (e.g.) with from_onnx(..., input_shapes={{'{first}': {example}}}) or "
        f"`vdla compile --input-shape {first}:{','.join(map(str, example))}`", dynamic)


def _toposort(graph: onnx.GraphProto, available: set[str], names: list[str]) -> list[int]:
    """Node indices in an order where every input is defined first (ONNX requires a sorted
    graph; tolerate unsorted ones); a ModelLoadError names an input nothing defines."""
    producers = {o: i for i, n in enumerate(graph.node) for o in n.output if o}
    order, done, state = [], set(available), {}
    for start in range(len(graph.node)):
        stack = [(start, False)]
        while stack:
            i, expanded = stack.pop()
            if state.get(i) == 2:
                continue
            if expanded:
                state[i] = 2
                order.append(i)
                done.update(o for o in graph.node[i].output if o)
                continue
            if state.get(i) == 1:
                raise ModelLoadError(f"the graph has a cycle through node '{names[i]}'")
            state[i] = 1
            stack.append((i, True))
            for inp in graph.node[i].input:
                if not inp or inp in done:
                    continue
                if inp not in producers:
                    raise ModelLoadError(
                        f"{graph.node[i].op_type} node '{names[i]}' uses value '{inp}', which "
                        f"no node, initializer or graph input defines (is the model "
                        f"truncated?)")
                if state.get(producers[inp]) != 2:
                    stack.append((producers[inp], False))
    return order


# ---------------------------------------------------------------------- import
def from_onnx(model_or_path, *, input_shapes: Mapping[str, Sequence[int]] | None = None,
              constant_inputs: Mapping[str, np.ndarray] | None = None,
              check: bool = True) -> Graph:
    """Import an ONNX model (a path, bytes or a ``ModelProto``) as a typed ``Graph``.

    ``input_shapes``: {input name: shape} for inputs whose shape the model leaves open (or to
    state it explicitly). ``constant_inputs``: {input name: array} graph inputs bound to fixed
    values (they become constants). ``check``: run ``onnx.checker`` first.
    """
    model, label = load_model(model_or_path)
    opset = model_opset(model, label)
    scan(model, opset, label)
    if check:
        _check_model(model, label)
    g = model.graph
    b = GraphBuilder(g.name or "model")
    env = {}
    inits = {t.name: t for t in g.initializer}
    constant_inputs = dict(constant_inputs or {})
    unknown = sorted(set(constant_inputs) - {vi.name for vi in g.input})
    if unknown:
        raise GraphBuildError(f"constant_inputs names {unknown}, which are not inputs of "
                              f"'{label}'")
    runtime = [vi for vi in g.input if vi.name not in inits and vi.name not in constant_inputs]
    shapes = _input_shapes(runtime, dict(input_shapes or {}), label)
    for vi in runtime:
        env[vi.name] = b.input(vi.name, shapes[vi.name],
                               ONNX_DTYPES[vi.type.tensor_type.elem_type])
    for name, value in constant_inputs.items():
        env[name] = b.constant(np.asarray(value), name)
    for t in g.initializer:
        if t.name in env:
            continue
        try:
            arr = onnx.numpy_helper.to_array(t)
        except Exception as e:  # noqa: BLE001 - protobuf/numpy errors on corrupted data
            raise ModelLoadError(f"initializer '{t.name}' of '{label}' cannot be read "
                                 f"(truncated or corrupted?): {e}") from e
        env[t.name] = b.constant(arr, t.name)
    names = _node_names(g)
    used = _used_values(g)
    for i in _toposort(g, set(env), names):
        node = g.node[i]
        inputs = [env[n] if n else None for n in node.input]
        ctx = ImportContext(b, node, names[i], opset, inputs, used, label)
        outs = CONVERTERS[node.op_type](ctx)
        for name, v in zip(node.output, outs):
            if name and v is not None:
                env[name] = v
    outputs = []
    for vi in g.output:
        if vi.name not in env:
            raise ModelLoadError(f"graph output '{vi.name}' of '{label}' is not computed by "
                                 f"any node (is the model truncated?)")
        outputs.append(env[vi.name])
    return b.build(outputs)

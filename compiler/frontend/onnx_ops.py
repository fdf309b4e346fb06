"""ONNX operator converters: each ONNX operator, at any opset from 7 to the newest, into the
graph IR's canonical form (``compiler.graph.ops``).

A converter ``fn(ctx) -> [Value | None]`` returns one value per ONNX output (None for an
omitted optional output nobody uses). Version differences are handled here, in one place per
operator, e.g.:

* attributes that became inputs: Clip min/max (11), Pad pads/value (11) and axes (18), Slice
  starts/ends/axes/steps (10), Split split (13) and num_outputs (18), Squeeze/Unsqueeze axes
  (13), Resize scales/sizes (10/11) and axes/keep_aspect_ratio_policy (18);
* semantics that changed: Softmax before 13 flattens to 2-d at ``axis`` (default 1);
  Resize 10 and Upsample are "asymmetric" nearest with floor rounding; BatchNormalization's
  ``spatial`` (7-8) and ``training_mode`` (14); Dropout's ``training_mode`` input (12).

Shape parameters must be known when the graph is built (``ctx.static``): constants, or
computed from constants and static shapes (Shape -> Gather -> Concat...).

``CHECKS[op](node, opset, used) -> [reason]`` finds, before any conversion, what a node uses
that is not supported, so that one error can list every problem of a model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper

from ..graph.builder import GraphBuilder
from ..graph.errors import GraphBuildError, StaticValueError
from ..graph.ir import DTYPES, Value

# ONNX tensor element type -> IR dtype name (those the IR supports)
ONNX_DTYPES = {
    onnx.TensorProto.BOOL: "bool", onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.INT16: "int16", onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT64: "int64", onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.UINT16: "uint16", onnx.TensorProto.UINT32: "uint32",
    onnx.TensorProto.UINT64: "uint64", onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.DOUBLE: "float64",
}
assert set(ONNX_DTYPES.values()) == set(DTYPES)


def onnx_dtype_name(elem_type: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"type {elem_type}"


class ImportContext:
    """The state a converter sees for one ONNX node."""

    def __init__(self, b: GraphBuilder, node: onnx.NodeProto, name: str, opset: int,
                 inputs: list[Value | None], used: set[str], model: str = "model") -> None:
        self.b, self.node, self.name, self.opset, self.model = b, node, name, opset, model
        self.inputs = inputs
        self.used = used
        self.attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def attr(self, key: str, default=None):
        v = self.attrs.get(key, default)
        if isinstance(v, bytes):
            v = v.decode()
        return v

    def inp(self, i: int) -> Value | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def fail(self, message: str):
        raise GraphBuildError(f"{self.node.op_type} node '{self.name}': {message}")

    def unsupported(self, reason: str):
        """A feature found unsupported only while converting (it needs a static value)."""
        from .errors import Problem, UnsupportedModelError

        raise UnsupportedModelError(self.model, [Problem(self.node.op_type, self.name,
                                                         self.opset, reason)])

    def static(self, i: int, what: str) -> np.ndarray | None:
        """The compile-time value of input ``i`` (None if omitted); StaticValueError if it is
        computed at run time."""
        v = self.inp(i)
        if v is None:
            return None
        val = self.b.known_value(v)
        if val is None:
            raise StaticValueError(
                f"{self.node.op_type} node '{self.name}': input {i} ({what}, value '{v.name}') "
                f"is computed at run time, but vdla compiles static shapes and needs its "
                f"value at compile time; make it a constant (an initializer), or compute it "
                f"only from constants and input shapes", v.name)
        return val

    def out_names(self, n: int | None = None) -> list[str]:
        outs = list(self.node.output)
        return outs[:n] if n is not None else outs

    def emit(self, op: str, inputs, attrs=None, *, n_out: int = 1, suffix: str = "",
             outputs: list[str] | None = None) -> tuple[Value, ...]:
        """Add a node named after this ONNX node; its outputs take the ONNX output names
        unless ``suffix`` marks it as a helper node (fresh names then)."""
        if outputs is None and not suffix:
            outputs = self.out_names(n_out)
        name = f"{self.name}/{suffix}" if suffix else self.name
        return self.b.node(op, inputs, attrs, name=name, outputs=outputs)


Converter = Callable[[ImportContext], list]
CONVERTERS: dict[str, Converter] = {}
CHECKS: dict[str, Callable[[onnx.NodeProto, int, set], list[str]]] = {}


def converter(*ops: str, check=None):
    def deco(fn):
        for op in ops:
            CONVERTERS[op] = fn
            if check is not None:
                CHECKS[op] = check
        return fn
    return deco


def _pick(ctx: ImportContext, *keys: str) -> dict:
    return {k: ctx.attr(k) for k in keys if k in ctx.attrs}


def _unused_outputs_check(first_extra: int, what: str):
    def check(node, opset, used) -> list[str]:
        extra = [o for o in node.output[first_extra:] if o and o in used]
        return [f"the {what} output(s) {extra} are not supported"] if extra else []
    return check


# ------------------------------------------------------------------ elementwise
@converter("Relu", "Sigmoid", "HardSwish", "Identity", "Add", "Sub", "Mul", "Div", "Sum",
           "MatMul", "GlobalAveragePool")
def _plain(ctx):
    return list(ctx.emit(ctx.node.op_type, ctx.inputs))


@converter("LeakyRelu")
def _leaky_relu(ctx):
    return list(ctx.emit("LeakyRelu", ctx.inputs, _pick(ctx, "alpha")))


@converter("Clip")
def _clip(ctx):
    x = ctx.inp(0)
    if ctx.opset < 11:
        bounds = []
        for key in ("min", "max"):
            if key in ctx.attrs:
                bounds.append(ctx.b.constant(np.array(ctx.attr(key), dtype=x.dtype),
                                             f"{ctx.name}/{key}"))
            else:
                bounds.append(None)
        return list(ctx.emit("Clip", [x] + bounds))
    return list(ctx.emit("Clip", ctx.inputs[:3]))


def _cast_check(node, opset, used) -> list[str]:
    to = {a.name: helper.get_attribute_value(a) for a in node.attribute}.get("to")
    if to not in ONNX_DTYPES:
        return [f"casting to {onnx_dtype_name(to)} is not supported"]
    return []


@converter("Cast", check=_cast_check)
def _cast(ctx):
    return list(ctx.emit("Cast", ctx.inputs[:1], {"to": ONNX_DTYPES[ctx.attr("to")]}))


def _dropout_check(node, opset, used) -> list[str]:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("is_test") == 0:
        return ["training mode (is_test=0) is not supported; export the model for inference"]
    return []


@converter("Dropout", check=_dropout_check)
def _dropout(ctx):
    if ctx.opset >= 12 and ctx.inp(2) is not None:
        training = ctx.static(2, "training_mode")
        if bool(np.asarray(training).reshape(-1)[0]):
            ctx.unsupported("training_mode=True (random dropout) is not supported; export "
                            "the model for inference")
    x = ctx.inp(0)
    (y,) = ctx.emit("Identity", [x], outputs=ctx.out_names(1))
    outs = [y]
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        if ctx.node.output[1] in ctx.used:
            # the mask is bool since opset 10; before, it has the input's type
            dtype = "bool" if ctx.opset >= 10 else x.dtype
            mask = ctx.b.node("ConstantOfShape", [], {"shape": x.shape, "value": 1,
                                                      "dtype": dtype},
                              name=f"{ctx.name}/mask", outputs=[ctx.node.output[1]])[0]
            outs.append(mask)
        else:
            outs.append(None)
    return outs


# ------------------------------------------------------------------ nn
@converter("Conv")
def _conv(ctx):
    return list(ctx.emit("Conv", ctx.inputs[:3], _pick(ctx, "kernel_shape", "strides", "pads",
                                                       "dilations", "group", "auto_pad")))


@converter("ConvTranspose")
def _conv_transpose(ctx):
    return list(ctx.emit("ConvTranspose", ctx.inputs[:3],
                         _pick(ctx, "kernel_shape", "strides", "pads", "dilations", "group",
                               "auto_pad", "output_padding", "output_shape")))


@converter("MaxPool", check=_unused_outputs_check(1, "Indices"))
def _maxpool(ctx):
    (y,) = ctx.emit("MaxPool", ctx.inputs[:1],
                    _pick(ctx, "kernel_shape", "strides", "pads", "dilations", "ceil_mode",
                          "auto_pad"))
    return [y] + [None] * (len(ctx.node.output) - 1)


@converter("AveragePool")
def _avgpool(ctx):
    return list(ctx.emit("AveragePool", ctx.inputs[:1],
                         _pick(ctx, "kernel_shape", "strides", "pads", "dilations", "ceil_mode",
                               "auto_pad", "count_include_pad")))


def _bn_check(node, opset, used) -> list[str]:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    reasons = []
    if attrs.get("training_mode", 0):
        reasons.append("training_mode=1 is not supported; export the model in eval mode")
    if attrs.get("spatial", 1) == 0:
        reasons.append("spatial=0 (per-activation statistics) is not supported")
    return reasons + _unused_outputs_check(1, "running/saved statistics")(node, opset, used)


@converter("BatchNormalization", check=_bn_check)
def _batchnorm(ctx):
    (y,) = ctx.emit("BatchNormalization", ctx.inputs[:5], _pick(ctx, "epsilon"))
    return [y] + [None] * (len(ctx.node.output) - 1)


@converter("LRN")
def _lrn(ctx):
    return list(ctx.emit("LRN", ctx.inputs[:1], _pick(ctx, "size", "alpha", "beta", "bias")))


@converter("Softmax")
def _softmax(ctx):
    x = ctx.inp(0)
    if ctx.opset >= 13:
        return list(ctx.emit("Softmax", [x], _pick(ctx, "axis")))
    axis = ctx.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    if axis == x.ndim - 1:
        return list(ctx.emit("Softmax", [x], {"axis": axis}))
    # before opset 13: softmax over the flattened trailing dimensions
    (flat,) = ctx.emit("Flatten", [x], {"axis": axis}, suffix="flatten")
    (sm,) = ctx.emit("Softmax", [flat], {"axis": 1}, suffix="softmax")
    return list(ctx.emit("Reshape", [sm], {"shape": x.shape}))


@converter("Gemm")
def _gemm(ctx):
    return list(ctx.emit("Gemm", ctx.inputs[:3], _pick(ctx, "alpha", "beta", "transA",
                                                       "transB")))


# ------------------------------------------------------------------ tensor
@converter("Concat")
def _concat(ctx):
    return list(ctx.emit("Concat", ctx.inputs, _pick(ctx, "axis")))


@converter("Split")
def _split(ctx):
    x = ctx.inp(0)
    axis = ctx.attr("axis", 0)
    dim = x.shape[axis if axis >= 0 else axis + x.ndim]
    n = len(ctx.node.output)
    split = ctx.attr("split") if ctx.opset < 13 else ctx.static(1, "split")
    if split is None:
        num = ctx.attr("num_outputs", n)
        if num != n:
            ctx.fail(f"num_outputs={num} but the node has {n} outputs")
        if dim % n == 0:
            split = [dim // n] * n
        elif ctx.opset >= 18:
            chunk = -(-dim // n)
            split = [chunk] * (n - 1) + [dim - chunk * (n - 1)]
        else:
            ctx.fail(f"dimension {axis} of size {dim} cannot be split into {n} equal parts")
    return list(ctx.emit("Split", [x], {"axis": axis, "split": tuple(int(s) for s in
                                                                     np.ravel(split))},
                         n_out=n))


@converter("Slice")
def _slice(ctx):
    if ctx.opset < 10:
        attrs = _pick(ctx, "starts", "ends", "axes")
    else:
        attrs = {"starts": ctx.static(1, "starts"), "ends": ctx.static(2, "ends"),
                 "axes": ctx.static(3, "axes"), "steps": ctx.static(4, "steps")}
    return list(ctx.emit("Slice", ctx.inputs[:1], attrs))


@converter("Flatten")
def _flatten(ctx):
    return list(ctx.emit("Flatten", ctx.inputs[:1], _pick(ctx, "axis")))


@converter("Reshape")
def _reshape(ctx):
    shape = ctx.static(1, "shape")
    if shape is None:
        ctx.fail("the shape input is required")
    return list(ctx.emit("Reshape", ctx.inputs[:1], {"shape": shape,
                                                      "allowzero": ctx.attr("allowzero", 0)}))


@converter("Transpose")
def _transpose(ctx):
    return list(ctx.emit("Transpose", ctx.inputs[:1], _pick(ctx, "perm")))


@converter("Pad")
def _pad(ctx):
    x = ctx.inp(0)
    mode = ctx.attr("mode", "constant")
    if ctx.opset < 11:
        pads, value = ctx.attr("pads"), ctx.attr("value", 0.0)
    else:
        pads = ctx.static(1, "pads")
        if pads is None:
            ctx.fail("the pads input is required")
        value = ctx.static(2, "constant_value")
        value = 0 if value is None or np.asarray(value).size == 0 else \
            np.asarray(value).reshape(-1)[0].item()
        axes = ctx.static(3, "axes") if ctx.opset >= 18 else None
        if axes is not None:
            axes = [int(a) + x.ndim if a < 0 else int(a) for a in np.ravel(axes)]
            full = [0] * (2 * x.ndim)
            for i, a in enumerate(axes):
                full[a], full[x.ndim + a] = int(pads[i]), int(pads[len(axes) + i])
            pads = full
    return list(ctx.emit("Pad", [x], {"pads": tuple(int(p) for p in np.ravel(pads)),
                                      "mode": mode, "value": value}))


def _resize_check(node, opset, used) -> list[str]:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    mode = attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    reasons = []
    if mode != "nearest":
        reasons.append(f"mode '{mode}' is not supported (only 'nearest')")
    ctm = attrs.get("coordinate_transformation_mode", b"")
    ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
    if ctm == "tf_crop_and_resize":
        reasons.append("coordinate_transformation_mode 'tf_crop_and_resize' is not supported")
    return reasons


def _resize_geometry(ctx, x, scales, sizes, axes, policy):
    """Full-rank (sizes, scales) from ONNX's scales-or-sizes, axes and aspect policy."""
    r = x.ndim
    axes = list(range(r)) if axes is None else [int(a) + r if a < 0 else int(a) for a in axes]
    if sizes is not None and np.asarray(sizes).size:
        req = [int(s) for s in np.ravel(sizes)]
        if len(req) != len(axes):
            ctx.fail(f"sizes {req} need one value per axis {axes}")
        full_scales = [1.0] * r
        out = list(x.shape)
        ratio = [req[i] / x.shape[a] for i, a in enumerate(axes)]
        if policy in ("not_larger", "not_smaller"):
            s = min(ratio) if policy == "not_larger" else max(ratio)
            for a in axes:
                full_scales[a] = s
                out[a] = int(s * x.shape[a] + 0.5)
        else:
            for i, a in enumerate(axes):
                full_scales[a], out[a] = ratio[i], req[i]
        return tuple(out), tuple(full_scales)
    if scales is None or np.asarray(scales).size == 0:
        ctx.fail("needs scales or sizes")
    sc = [float(s) for s in np.ravel(scales)]
    if len(sc) != len(axes):
        ctx.fail(f"scales {sc} need one value per axis {axes}")
    full_scales = [1.0] * r
    for i, a in enumerate(axes):
        full_scales[a] = sc[i]
    out = tuple(int(np.floor(x.shape[a] * full_scales[a])) for a in range(r))
    return out, tuple(full_scales)


@converter("Resize", check=_resize_check)
def _resize(ctx):
    x = ctx.inp(0)
    if ctx.opset < 11:
        sizes, scales = _resize_geometry(ctx, x, ctx.static(1, "scales"), None, None, None)
        attrs = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        axes = ctx.attr("axes") if ctx.opset >= 18 else None
        sizes, scales = _resize_geometry(ctx, x, ctx.static(2, "scales"),
                                         ctx.static(3, "sizes"), axes,
                                         ctx.attr("keep_aspect_ratio_policy", "stretch"))
        attrs = {"coordinate_transformation_mode":
                 ctx.attr("coordinate_transformation_mode", "half_pixel"),
                 "nearest_mode": ctx.attr("nearest_mode", "round_prefer_floor")}
    return list(ctx.emit("Resize", [x], {"mode": "nearest", "sizes": sizes, "scales": scales,
                                         **attrs}))


def _upsample_check(node, opset, used) -> list[str]:
    mode = {a.name: helper.get_attribute_value(a) for a in node.attribute}.get("mode",
                                                                                b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    return [] if mode == "nearest" else [f"mode '{mode}' is not supported (only 'nearest')"]


@converter("Upsample", check=_upsample_check)
def _upsample(ctx):
    x = ctx.inp(0)
    scales = ctx.attr("scales") if ctx.opset < 9 else ctx.static(1, "scales")
    sizes, full = _resize_geometry(ctx, x, scales, None, None, None)
    return list(ctx.emit("Resize", [x], {"mode": "nearest", "sizes": sizes, "scales": full,
                                         "coordinate_transformation_mode": "asymmetric",
                                         "nearest_mode": "floor"}))


def _constant_check(node, opset, used) -> list[str]:
    for a in node.attribute:
        if a.name in ("sparse_value", "value_string", "value_strings"):
            return [f"a '{a.name}' constant is not supported"]
        if a.name == "value" and a.t.data_type not in ONNX_DTYPES:
            return [f"a constant of dtype {onnx_dtype_name(a.t.data_type)} is not supported"]
    return []


@converter("Constant", check=_constant_check)
def _constant(ctx):
    a = ctx.node.attribute[0]
    if a.name == "value":
        arr = onnx.numpy_helper.to_array(a.t)
    elif a.name == "value_float":
        arr = np.array(a.f, dtype=np.float32)
    elif a.name == "value_floats":
        arr = np.array(list(a.floats), dtype=np.float32)
    elif a.name == "value_int":
        arr = np.array(a.i, dtype=np.int64)
    elif a.name == "value_ints":
        arr = np.array(list(a.ints), dtype=np.int64)
    else:
        ctx.fail(f"unsupported constant attribute '{a.name}'")
    out = ctx.node.output[0]
    if ctx.b.is_defined(out):
        ctx.fail(f"value '{out}' is defined twice")
    v = ctx.b.constant(arr, out)
    return [v]


def _cos_check(node, opset, used) -> list[str]:
    for a in node.attribute:
        if a.name == "value" and a.t.data_type not in ONNX_DTYPES:
            return [f"a value of dtype {onnx_dtype_name(a.t.data_type)} is not supported"]
    return []


@converter("ConstantOfShape", check=_cos_check)
def _constant_of_shape(ctx):
    shape = ctx.static(0, "shape")
    value = ctx.attrs.get("value")
    arr = onnx.numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
    return list(ctx.emit("ConstantOfShape", [], {"shape": tuple(int(d) for d in np.ravel(shape)),
                                                 "value": arr.reshape(-1)[0].item(),
                                                 "dtype": arr.dtype.name}))


@converter("Unsqueeze")
def _unsqueeze(ctx):
    axes = ctx.attr("axes") if ctx.opset < 13 else ctx.static(1, "axes")
    if axes is None:
        ctx.fail("axes are required")
    return list(ctx.emit("Unsqueeze", ctx.inputs[:1], {"axes": tuple(int(a) for a in
                                                                      np.ravel(axes))}))


@converter("Squeeze")
def _squeeze(ctx):
    axes = ctx.attr("axes") if ctx.opset < 13 else ctx.static(1, "axes")
    attrs = {} if axes is None else {"axes": tuple(int(a) for a in np.ravel(axes))}
    return list(ctx.emit("Squeeze", ctx.inputs[:1], attrs))


@converter("Shape")
def _shape(ctx):
    return list(ctx.emit("Shape", ctx.inputs[:1], _pick(ctx, "start", "end")))


@converter("Gather")
def _gather(ctx):
    return list(ctx.emit("Gather", ctx.inputs[:2], _pick(ctx, "axis")))

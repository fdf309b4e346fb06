"""ONNX import across opsets: every attribute-vs-input change, checked against onnx's
ReferenceEvaluator (before and after the passes, and in the packed layout where it applies)."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.frontend.onnx import from_onnx, supported_ops
from compiler.frontend.testing import assert_matches_onnx, make_model, onnx_reference
from compiler.graph import optimize, reference
from compiler.graph.passes import PackedLayout

X = ("x", "float32", (2, 8, 6, 6))
RNG = np.random.default_rng(7)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def i64(*values):
    return np.array(values, dtype=np.int64)


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def out(name="y"):
    return [(name, "float32", None)]


def assert_matches_numpy(model, expected, feeds=None, rtol=1e-5, atol=1e-6):
    """For operator versions the ONNX reference evaluator gets wrong or lacks (old Softmax
    semantics, BatchNormalization 7/9, Resize 10, Upsample 7): the spec's formula in numpy
    is the oracle (these cases were also checked against onnxruntime while writing them)."""
    g = from_onnx(model)
    feeds = feeds or {"x": f32(*X[2])}
    want = expected(**feeds)
    for graph in (g, optimize(g, verify=True)):
        np.testing.assert_allclose(reference.run(graph, feeds)["y"], want, rtol=rtol,
                                   atol=atol)
    return g


def test_supported_ops_cover_the_issue_list():
    wanted = ("Conv ConvTranspose Gemm MatMul BatchNormalization Relu Clip LeakyRelu Sigmoid "
              "HardSwish Add Sub Mul Div Sum Concat Split Slice MaxPool AveragePool "
              "GlobalAveragePool Flatten Reshape Transpose Softmax LRN Dropout Pad Resize "
              "Constant ConstantOfShape Unsqueeze Squeeze Shape Gather Identity").split()
    assert set(wanted) <= set(supported_ops())


@pytest.mark.parametrize("opset", [7, 11, 13])
def test_clip_bounds_attribute_then_input(opset):
    if opset < 11:
        nodes = [node("Clip", ["x"], ["y"], min=-0.5, max=0.25)]
        inits = {}
    else:
        nodes = [node("Clip", ["x", "lo", "hi"], ["y"])]
        inits = {"lo": np.array(-0.5, np.float32), "hi": np.array(0.25, np.float32)}
    assert_matches_onnx(make_model(nodes, [X], out(), inits, opset=opset),
                        layout=PackedLayout(channel_block=4))


def test_clip_one_sided_input():
    m = make_model([node("Clip", ["x", "", "hi"], ["y"])], [X], out(),
                   {"hi": np.array(0.1, np.float32)}, opset=13)
    assert_matches_onnx(m)


@pytest.mark.parametrize("opset,mode", [(7, "constant"), (7, "reflect"), (11, "edge"),
                                        (13, "constant"), (18, "constant"), (19, "wrap")])
def test_pad_attribute_then_inputs(opset, mode):
    pads = [0, 1, 2, 0, 0, 0, 1, 3]
    if opset < 11:
        nodes = [node("Pad", ["x"], ["y"], pads=pads, mode=mode, value=1.5)]
        inits = {}
    elif opset < 18:
        nodes = [node("Pad", ["x", "p", "v"], ["y"], mode=mode)]
        inits = {"p": i64(*pads), "v": np.array(1.5, np.float32)}
    else:   # axes input: pad only the last two axes
        nodes = [node("Pad", ["x", "p", "v", "a"], ["y"], mode=mode)]
        inits = {"p": i64(2, 0, 1, 3), "v": np.array(1.5, np.float32), "a": i64(-2, -1)}
    assert_matches_onnx(make_model(nodes, [X], out(), inits, opset=opset))


def test_pad_negative_crops():
    # (the ONNX reference evaluator does not implement negative pads: numpy is the oracle)
    m = make_model([node("Pad", ["x", "p"], ["y"])], [X], out(),
                   {"p": i64(0, 0, -1, 2, 0, 0, 0, -2)}, opset=13)
    g = from_onnx(m)
    x = f32(*X[2])
    want = np.pad(x[:, :, 1:, :-2], ((0, 0), (0, 0), (0, 0), (2, 0)))
    np.testing.assert_array_equal(reference.run(g, {"x": x})["y"], want)


@pytest.mark.parametrize("opset", [7, 13, 18])
def test_split_attribute_input_num_outputs(opset):
    outs = [("a", "float32", None), ("b", "float32", None), ("c", "float32", None)]
    if opset < 13:
        nodes = [node("Split", ["x"], ["a", "b", "c"], axis=1, split=[2, 4, 2])]
        inits = {}
    elif opset < 18:
        nodes = [node("Split", ["x", "s"], ["a", "b", "c"], axis=1)]
        inits = {"s": i64(2, 4, 2)}
    else:   # num_outputs with an uneven last chunk: 8 -> 3, 3, 2
        nodes = [node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)]
        inits = {}
    g = assert_matches_onnx(make_model(nodes, [X], outs, inits, opset=opset))
    assert [v.shape[1] for v in g.outputs] == ([2, 4, 2] if opset < 18 else [3, 3, 2])


def test_split_equal_parts_default():
    outs = [("a", "float32", None), ("b", "float32", None)]
    m = make_model([node("Split", ["x"], ["a", "b"], axis=-1)], [X], outs, opset=13)
    assert_matches_onnx(m)


@pytest.mark.parametrize("opset", [7, 13, 21])
def test_squeeze_unsqueeze_axes_attribute_then_input(opset):
    x = ("x", "float32", (2, 1, 6, 1))
    if opset < 13:
        nodes = [node("Squeeze", ["x"], ["s"], axes=[1, -1]),
                 node("Unsqueeze", ["s"], ["y"], axes=[0, 3])]
        inits = {}
    else:
        nodes = [node("Squeeze", ["x", "a"], ["s"]), node("Unsqueeze", ["s", "b"], ["y"])]
        inits = {"a": i64(1, -1), "b": i64(0, 3)}
    g = assert_matches_onnx(make_model(nodes, [x], out(), inits, opset=opset))
    assert g.outputs[0].shape == (1, 2, 6, 1)


def test_squeeze_without_axes_drops_all_ones():
    m = make_model([node("Squeeze", ["x"], ["y"])], [("x", "float32", (1, 3, 1, 2))], out(),
                   opset=13)
    assert assert_matches_onnx(m).outputs[0].shape == (3, 2)


@pytest.mark.parametrize("opset", [7, 10, 13])
def test_slice_attributes_then_inputs(opset):
    if opset < 10:
        nodes = [node("Slice", ["x"], ["y"], starts=[1, -4], ends=[100, -1], axes=[1, 3])]
        inits = {}
    else:   # with steps, including a negative step running past the start
        nodes = [node("Slice", ["x", "s", "e", "a", "t"], ["y"])]
        inits = {"s": i64(1, -1, 0), "e": i64(100, -100, 5), "a": i64(1, 3, 2),
                 "t": i64(2, -2, 3)}
    assert_matches_onnx(make_model(nodes, [X], out(), inits, opset=opset))


def _nearest_floor(x, scales):
    """Upsample / Resize-10 nearest: output i reads input floor(i / scale) on each axis."""
    for ax, sc in enumerate(scales):
        n = int(np.floor(x.shape[ax] * sc))
        idx = np.minimum(np.floor(np.arange(n) / sc).astype(int), x.shape[ax] - 1)
        x = np.take(x, idx, axis=ax)
    return x


def test_resize_opset10_is_asymmetric_floor():
    scales = np.array([1, 1, 1.5, 0.5], np.float32)
    m = make_model([node("Resize", ["x", "sc"], ["y"], mode="nearest")], [X], out(),
                   {"sc": scales}, opset=10)
    assert_matches_numpy(m, lambda x: _nearest_floor(x, scales))


@pytest.mark.parametrize("opset,attrs", [
    (11, {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}),
    (13, {"coordinate_transformation_mode": "half_pixel"}),
    (13, {"coordinate_transformation_mode": "align_corners",
          "nearest_mode": "round_prefer_ceil"}),
    (13, {"coordinate_transformation_mode": "pytorch_half_pixel", "nearest_mode": "ceil"}),
    (19, {"coordinate_transformation_mode": "half_pixel_symmetric"}),
])
def test_resize_nearest_scales(opset, attrs):
    inits = {"sc": np.array([1, 1, 1.5, 0.5], np.float32)}
    roi = ""
    if opset < 13:   # roi is a required input before opset 13
        roi, inits["roi"] = "roi", np.zeros(0, np.float32)
    nodes = [node("Resize", ["x", roi, "sc"], ["y"], mode="nearest", **attrs)]
    m = make_model(nodes, [X], out(), inits, opset=opset)
    assert assert_matches_onnx(m).outputs[0].shape == (2, 8, 9, 3)


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
def test_resize_nearest_sizes_axes_and_aspect_policy(policy):
    nodes = [node("Resize", ["x", "", "", "sz"], ["y"], mode="nearest", axes=[3, 2],
                  keep_aspect_ratio_policy=policy)]
    m = make_model(nodes, [X], out(), {"sz": i64(10, 8)}, opset=18)
    assert_matches_onnx(m)


@pytest.mark.parametrize("opset", [7, 9])
def test_upsample_becomes_nearest_resize(opset):
    scales = [1.0, 1.0, 1.5, 2.5]
    if opset < 9:
        nodes = [node("Upsample", ["x"], ["y"], mode="nearest", scales=scales)]
        inits = {}
    else:
        nodes = [node("Upsample", ["x", "sc"], ["y"], mode="nearest")]
        inits = {"sc": np.array(scales, np.float32)}
    g = assert_matches_numpy(make_model(nodes, [X], out(), inits, opset=opset),
                             lambda x: _nearest_floor(x, scales))
    assert [n.op for n in g.nodes] == ["Resize"]


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("opset,axis", [(7, 1), (11, 2), (11, -1)])
def test_softmax_before_opset_13_flattens_the_trailing_axes(opset, axis):
    m = make_model([node("Softmax", ["x"], ["y"], axis=axis)], [X], out(), opset=opset)
    a = axis % 4

    def expected(x):
        flat = x.reshape(int(np.prod(x.shape[:a])), -1)
        return _softmax(flat, 1).reshape(x.shape)

    assert_matches_numpy(m, expected)


@pytest.mark.parametrize("axis", [1, -2])
def test_softmax_since_opset_13_is_per_axis(axis):
    m = make_model([node("Softmax", ["x"], ["y"], axis=axis)], [X], out(), opset=13)
    assert_matches_onnx(m)


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
def test_batchnorm_versions(opset):
    c = X[2][1]
    p = {"s": f32(c), "b": f32(c), "m": f32(c), "v": np.abs(f32(c)) + 0.5}
    attrs = {"epsilon": 1e-3}
    if opset < 9:
        attrs["spatial"] = 1
    m = make_model([node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], **attrs)],
                   [X], out(), p, opset=opset)

    def expected(x):
        r = [a.reshape(1, -1, 1, 1) for a in (p["s"], p["b"], p["m"], p["v"])]
        return (x - r[2]) / np.sqrt(r[3] + 1e-3) * r[0] + r[1]

    assert_matches_numpy(m, expected, rtol=1e-5, atol=1e-5)
    if opset >= 14:
        assert_matches_onnx(m, layout=PackedLayout(channel_block=4), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [10, 12, 13])
def test_dropout_is_identity_and_mask_is_all_true(opset):
    ins = ["x"] if opset < 12 else ["x", "r"]
    inits = {} if opset < 12 else {"r": np.array(0.3, np.float32)}
    m = make_model([node("Dropout", ins, ["y", "mask"]), node("Relu", ["y"], ["z"])], [X],
                   [("z", "float32", None), ("mask", "bool", X[2])], inits, opset=opset)
    assert_matches_onnx(m)


def test_dropout_opset7_mask_has_the_input_type():
    m = make_model([node("Dropout", ["x"], ["y", "mask"])], [X],
                   [("y", "float32", None), ("mask", "float32", X[2])], opset=7)
    g = from_onnx(m)
    assert g.outputs[1].dtype == "float32"


def test_dropout_with_unused_mask_leaves_only_identity():
    m = make_model([node("Dropout", ["x"], ["y", "mask"], ratio=0.5)], [X], out(), opset=9)
    g = assert_matches_onnx(m)
    assert [n.op for n in g.nodes] == ["Identity"]


@pytest.mark.parametrize("opset", [7, 11, 13])
def test_gemm_with_and_without_c(opset):
    a = ("a", "float32", (3, 5))
    inits = {"b": f32(4, 5)}
    ins = ["a", "b"]
    if opset < 11:   # C is required before opset 11
        inits["c"] = f32(4)
        ins.append("c")
    m = make_model([node("Gemm", ins, ["y"], transB=1, alpha=0.5, beta=2.0)], [a], out(),
                   inits, opset=opset)
    assert_matches_onnx(m)


def test_reshape_allowzero_and_negative_one():
    nodes = [node("Reshape", ["x", "s"], ["r"]), node("Reshape", ["r", "t"], ["y"],
                                                       allowzero=1)]
    m = make_model(nodes, [X], out(), {"s": i64(0, -1, 3), "t": i64(4, 4, 36)}, opset=14)
    g = assert_matches_onnx(m)
    assert g.nodes[0].attrs["shape"] == (2, 96, 3)


def test_shape_start_end_and_gather():
    nodes = [node("Shape", ["x"], ["s"], start=1, end=-1), node("Gather", ["s", "i"], ["y"])]
    m = make_model(nodes, [X], [("y", "int64", None)], {"i": i64(-1, 0)}, opset=15)
    assert_matches_onnx(m)


def test_constant_forms_and_constant_of_shape():
    nodes = [node("Constant", [], ["k"], value_floats=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
             node("Constant", [], ["shape"], value_ints=[1, 1, 6]),
             node("Reshape", ["k", "shape"], ["k3"]),
             node("ConstantOfShape", ["shape"], ["ones"],
                  value=helper.make_tensor("v", TensorProto.FLOAT, [1], [2.0])),
             node("Mul", ["k3", "ones"], ["m"]), node("Add", ["x", "m"], ["y"])]
    x = ("x", "float32", (2, 3, 6))
    assert_matches_onnx(make_model(nodes, [x], out(), opset=13))


def test_cast_and_integer_division_truncates():
    nodes = [node("Cast", ["x"], ["i"], to=TensorProto.INT32), node("Div", ["i", "d"], ["y"])]
    x = ("x", "float32", (4, 5))
    m = make_model(nodes, [x], [("y", "int32", None)], {"d": np.array([3], np.int32)},
                   opset=13)
    feeds = {"x": np.linspace(-20, 20, 20, dtype=np.float32).reshape(4, 5)}
    assert_matches_onnx(m, feeds)


@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_groups_dilations_auto_pad(auto_pad):
    attrs = {"group": 2, "dilations": [2, 1], "strides": [1, 2], "auto_pad": auto_pad}
    if auto_pad == "NOTSET":
        attrs["pads"] = [1, 0, 2, 1]
    m = make_model([node("Conv", ["x", "w", "b"], ["y"], **attrs)], [X], out(),
                   {"w": f32(6, 4, 3, 2), "b": f32(6)}, opset=11)
    assert_matches_onnx(m, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("attrs", [
    {"strides": [2, 2], "pads": [1, 0, 0, 1], "output_padding": [1, 0]},
    {"strides": [2, 1], "output_shape": [13, 8]},
    {"strides": [2, 2], "auto_pad": "SAME_UPPER", "dilations": [1, 2]},
])
def test_conv_transpose(attrs):
    m = make_model([node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)], [X], out(),
                   {"w": f32(8, 6, 3, 3), "b": f32(6)}, opset=11)
    assert_matches_onnx(m, rtol=1e-4, atol=1e-5)


def test_grouped_conv_transpose_equals_block_diagonal_dense():
    # (the ONNX reference evaluator fails on grouped ConvTranspose: the oracle is the dense
    # ConvTranspose with a block-diagonal weight, which it does evaluate)
    g, c, og = 2, 8, 3
    w = f32(c, og, 3, 3)
    dense = np.zeros((c, g * og, 3, 3), np.float32)
    for i in range(g):
        rows = slice(i * c // g, (i + 1) * c // g)
        dense[rows, i * og:(i + 1) * og] = w[rows]
    attrs = {"strides": [2, 1], "output_shape": [13, 8]}
    grouped = make_model([node("ConvTranspose", ["x", "w"], ["y"], group=g, **attrs)], [X],
                         out(), {"w": w}, opset=11)
    full = make_model([node("ConvTranspose", ["x", "w"], ["y"], **attrs)], [X], out(),
                      {"w": dense}, opset=11)
    x = f32(*X[2])
    want = onnx_reference(full, {"x": x})["y"]
    assert_matches_numpy(grouped, lambda x: want, {"x": x}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", {"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [3, 3], "dilations": [2, 2], "auto_pad": "SAME_UPPER"}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                     "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}),
])
def test_pooling(op, attrs):
    m = make_model([node(op, ["x"], ["y"], **attrs)], [X], out(), opset=11)
    assert_matches_onnx(m, layout=PackedLayout(channel_block=4))


def test_lrn_matches_the_spec_formula():
    # (the ONNX reference evaluator's LRN disagrees with the spec and onnxruntime here)
    m = make_model([node("LRN", ["x"], ["y"], size=3, alpha=1e-2, beta=0.6, bias=2.0)], [X],
                   out(), opset=13)

    def expected(x):
        sq = np.pad(x.astype(np.float64) ** 2, ((0, 0), (1, 1), (0, 0), (0, 0)))
        s = sq[:, :-2] + sq[:, 1:-1] + sq[:, 2:]
        return x / (2.0 + 1e-2 / 3 * s) ** 0.6

    assert_matches_numpy(m, expected)


def test_flatten_transpose_concat_matmul():
    nodes = [node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
             node("Concat", ["t", "t"], ["c"], axis=-1),
             node("Flatten", ["c"], ["f"], axis=-1),
             node("MatMul", ["f", "w"], ["y"])]
    m = make_model(nodes, [X], out(), {"w": f32(16, 5)}, opset=13)
    assert_matches_onnx(m, rtol=1e-4, atol=1e-5)


def test_elementwise_family_and_sum_broadcast():
    nodes = [node("LeakyRelu", ["x"], ["a"], alpha=0.2), node("Sigmoid", ["x"], ["b"]),
             node("HardSwish", ["x"], ["c"]), node("Sub", ["a", "b"], ["d"]),
             node("Div", ["c", "k"], ["e"]), node("Sum", ["d", "e", "k"], ["y"])]
    m = make_model(nodes, [X], out(), {"k": np.abs(f32(8, 1, 1)) + 0.5}, opset=14)
    assert_matches_onnx(m, layout=PackedLayout(channel_block=4))


def test_input_shapes_accepts_path_bytes_and_model(tmp_path):
    m = make_model([node("Relu", ["x"], ["y"])], [X], out(), opset=13)
    p = tmp_path / "m.onnx"
    p.write_bytes(m.SerializeToString())
    for src in (m, str(p), p, m.SerializeToString()):
        g = from_onnx(src)
        assert g.inputs[0].shape == X[2]


def test_unsorted_graph_is_sorted():
    nodes = [node("Relu", ["a"], ["y"]), node("Neg" if False else "Sigmoid", ["x"], ["a"])]
    m = make_model(nodes, [X], out(), opset=13)
    g = from_onnx(m, check=False)
    assert [n.op for n in g.nodes] == ["Sigmoid", "Relu"]

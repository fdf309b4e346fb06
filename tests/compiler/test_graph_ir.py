"""Graph IR: building with type inference and canonical attributes, known values, the
printer, the verifier, packed layouts and the reference executor's checks."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.graph import (
    EpilogueOp,
    GraphBuilder,
    GraphBuildError,
    GraphVerifyError,
    Layout,
    LayoutError,
    ShapeInferenceError,
    TensorType,
    UnknownOpError,
    print_graph,
    reference,
    verify,
)
from compiler.graph.layout import pack, unpack
from compiler.graph.ops import all_ops

RNG = np.random.default_rng(3)


def conv_relu_graph():
    b = GraphBuilder("tiny")
    x = b.input("x", (1, 3, 8, 8), "float32")
    w = b.constant(RNG.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    bias = b.constant(np.array([0.5, -1.0, 2.0, 0.25], np.float32), "b")
    c = b.op("Conv", x, w, bias, name="conv1", auto_pad="SAME_UPPER", strides=(2, 2))
    y = b.op("Relu", c, name="relu1")
    return b.build([y])


def test_builder_infers_types_and_canonical_attributes():
    g = conv_relu_graph()
    conv = g.nodes[0]
    assert conv.outputs[0].type == TensorType((1, 4, 4, 4), "float32")
    assert dict(conv.attrs) == {"kernel_shape": (3, 3), "strides": (2, 2),
                                "pads": (0, 0, 1, 1), "dilations": (1, 1), "group": 1}
    assert g.producers["conv1"] is conv and g.consumers["conv1"] == (g.nodes[1],)
    assert g.outputs[0].name == "relu1"
    verify(g)


def test_printer():
    assert print_graph(conv_relu_graph()) == (
        'graph "tiny" (%x: float32[1,3,8,8]) -> (%relu1: float32[1,4,4,4]) {\n'
        "  const %w: float32[4,3,3,3]\n"
        "  const %b: float32[4] = [0.5, -1.0, 2.0, 0.25]\n"
        "  %conv1: float32[1,4,4,4] = Conv(%x, %w, %b) {dilations=[1, 1], group=1, "
        "kernel_shape=[3, 3], pads=[0, 0, 1, 1], strides=[2, 2]}  # conv1\n"
        "  %relu1: float32[1,4,4,4] = Relu(%conv1)  # relu1\n"
        "}")


def test_printer_shows_targets_epilogues_layouts_and_quotes_names():
    b = GraphBuilder("g")
    x = b.input("data:0 in", (1, 16, 4, 4), "float32")
    w = b.constant(np.zeros((16, 16, 1, 1), np.float32), "w")
    p = b.node("LayoutTransform", [x], {"src_layout": "", "dst_layout": "NCHW1n16c"})[0]
    wp = b.constant(pack(np.zeros((16, 16, 1, 1), np.float32), "OIHW16o16i"), "wp",
                    layout="OIHW16o16i", shape=(16, 16, 1, 1))
    f = b.node("FusedConv", [p, wp, None, p],
               {"epilogue": (EpilogueOp("Add", operand=3), EpilogueOp("Clip", {"max": 6.0}))},
               name="fc", layouts=["NCHW1n16c"], target="vdla")[0]
    del w
    text = print_graph(b.build([f]))
    assert '%"data:0 in": float32[1,16,4,4]' in text
    assert "float32[16,16,1,1]{OIHW16o16i}" in text
    assert "= FusedConv(%layouttransform, %wp, _, %layouttransform)" in text
    assert "epilogue=[Add(%in3), Clip(max=6.0)]" in text and "@vdla  # fc" in text


def test_known_values_follow_shape_computations():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 4), "float32")
    s = b.op("Shape", x)
    last = b.op("Gather", s, b.constant(np.array([1, 2]), "idx"))
    prod = b.op("Mul", b.op("Slice", last, starts=(0,), ends=(1,)),
                b.op("Slice", last, starts=(1,), ends=(2,)))
    target = b.op("Concat", b.constant(np.array([2]), "two"), prod, axis=0)
    np.testing.assert_array_equal(b.known_value(target), [2, 12])
    assert b.known_value(b.op("Relu", x)) is None


@pytest.mark.parametrize("op,inputs,attrs,pattern", [
    ("Add", [(2, 3), (4,)], {}, r"Add node 'n': shapes \(2, 3\), \(4,\) do not broadcast"),
    ("MatMul", [(2, 3), (4, 5)], {}, r"inner dimensions differ: shapes \(2, 3\) and \(4, 5\)"),
    ("Conv", [(1, 3, 8, 8), (4, 2, 3, 3)], {},
     r"expects 2 input channels with group=1, but the input has shape \(1, 3, 8, 8\)"),
    ("Reshape", [(2, 3)], {"shape": (4, 2)}, r"cannot reshape \(2, 3\) \(6 elements\)"),
    ("Concat", [(2, 3), (3, 3)], {"axis": 1}, "differ outside the concatenation axis 1"),
    ("MaxPool", [(1, 1, 2, 2)], {"kernel_shape": (3, 3)}, "does not fit spatial dimension 0"),
])
def test_shape_errors_name_the_node_and_shapes(op, inputs, attrs, pattern):
    b = GraphBuilder()
    vals = [b.input(f"i{k}", s, "float32") for k, s in enumerate(inputs)]
    with pytest.raises(ShapeInferenceError, match=pattern):
        b.node(op, vals, attrs, name="n")


def test_build_errors():
    b = GraphBuilder()
    x = b.input("x", (2, 3), "float32")
    with pytest.raises(UnknownOpError, match="no operator 'Frobnicate'"):
        b.op("Frobnicate", x)
    with pytest.raises(GraphBuildError, match=r"unknown attribute\(s\) alpha"):
        b.op("Relu", x, alpha=1.0)
    with pytest.raises(GraphBuildError, match="attribute 'kernel_shape' is required"):
        b.op("MaxPool", x)
    with pytest.raises(GraphBuildError, match="takes 2 inputs, got 1"):
        b.op("Add", x)
    with pytest.raises(GraphBuildError, match="value name 'x' is defined twice"):
        b.input("x", (1,), "float32")
    with pytest.raises(GraphBuildError, match="dtype 'complex64' is not supported"):
        b.input("z", (1,), "complex64")
    with pytest.raises(ShapeInferenceError, match="different dtypes"):
        b.op("Add", x, b.input("k", (2, 3), "int32"))


def test_verifier_catches_broken_graphs():
    g = conv_relu_graph()
    conv, relu = g.nodes
    with pytest.raises(GraphVerifyError, match="used before it is defined"):
        verify(g.with_nodes([relu, conv]))
    with pytest.raises(GraphVerifyError, match="node name 'conv1' is used twice"):
        verify(g.with_nodes([conv, relu.replace(name="conv1")]))
    wrong = relu.replace(outputs=(relu.outputs[0].__class__(
        "relu1", TensorType((1, 4, 4, 5), "float32")),))
    with pytest.raises(GraphVerifyError, match="inference gives float32"):
        verify(g.with_nodes([conv, wrong], outputs=wrong.outputs))
    with pytest.raises(GraphVerifyError, match="not canonical"):
        verify(g.with_nodes([conv.replace(attrs={**conv.attrs, "auto_pad": "VALID"}), relu]))
    with pytest.raises(GraphVerifyError, match="stored but never used"):
        verify(g.with_nodes([conv, relu], constants={**g.constants, "junk": np.zeros(1)}))
    with pytest.raises(GraphVerifyError, match="value 'relu1' is defined twice"):
        verify(g.with_nodes([conv, relu, relu.replace(name="again")]))
    with pytest.raises(GraphVerifyError, match="target"):
        verify(g.with_nodes([conv.replace(target=""), relu]))


def test_partitioner_style_annotation():
    g = conv_relu_graph()
    tagged = g.with_nodes([n.replace(target="vdla" if n.op == "Conv" else "cpu")
                           for n in g.nodes])
    verify(tagged)
    assert [n.target for n in tagged.nodes] == ["vdla", "cpu"]
    assert "@vdla  # conv1" in str(tagged) and "@cpu  # relu1" in str(tagged)
    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(reference.run(tagged, {"x": x})["relu1"],
                                  reference.run(g, {"x": x})["relu1"])


def test_every_node_has_a_typed_signature():
    g = conv_relu_graph()
    for n in g.nodes:
        assert all(v.dtype == "float32" and v.shape for v in n.inputs + n.outputs)
    assert {"Conv", "FusedConv", "LayoutTransform", "Resize"} <= set(all_ops())


# ------------------------------------------------------------------ layouts
@given(st.lists(st.integers(1, 7), min_size=4, max_size=4), st.integers(1, 3),
       st.integers(1, 8))
def test_pack_unpack_round_trip(shape, nb, cb):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 1
    layout = f"NCHW{nb}n{cb}c"
    p = pack(x, layout)
    assert p.shape == Layout.parse(layout).physical_shape(shape)
    np.testing.assert_array_equal(unpack(p, layout, shape), x)
    # element (n, c, h, w) is at (n // nb, c // cb, h, w, n % nb, c % cb); padding is zero
    n, c, h, w = (d - 1 for d in shape)
    assert p[n // nb, c // cb, h, w, n % nb, c % cb] == x[n, c, h, w]
    assert p.sum() == x.sum()


def test_weight_layout_and_errors():
    w = np.arange(32 * 48 * 9, dtype=np.float32).reshape(32, 48, 3, 3)
    p = pack(w, "OIHW16o16i")
    assert p.shape == (2, 3, 3, 3, 16, 16)
    assert p[1, 2, 0, 1, 3, 4] == w[16 + 3, 32 + 4, 0, 1]
    for bad, pattern in [("NCHW16x", "block '16x' of a dimension 'X'"),
                         ("NC16cHW", "after a block"), ("NCHWN", "repeats dimension"),
                         ("nchw", "cannot parse")]:
        with pytest.raises(LayoutError, match=pattern):
            Layout.parse(bad)
    with pytest.raises(LayoutError, match="has 4 dimensions but the tensor"):
        _ = TensorType((2, 3), "float32", "NCHW16c").physical_shape


def test_packed_values_run_by_unpacking():
    b = GraphBuilder()
    x = b.input("x", (1, 5, 3, 3), "float32")
    p = b.node("LayoutTransform", [x], {"src_layout": "", "dst_layout": "NCHW1n4c"})[0]
    r = b.node("Relu", [p], layouts=["NCHW1n4c"])[0]
    y = b.node("LayoutTransform", [r], {"src_layout": "NCHW1n4c", "dst_layout": ""})[0]
    g = b.build([y])
    verify(g)
    assert r.type.physical_shape == (1, 2, 3, 3, 1, 4)
    xv = RNG.standard_normal((1, 5, 3, 3)).astype(np.float32)
    seen = {}
    out = reference.run(g, {"x": xv}, observer=lambda n, o: seen.update({n.name: o[0]}))
    np.testing.assert_array_equal(out[y.name], np.maximum(xv, 0))
    assert seen["relu"].shape == (1, 2, 3, 3, 1, 4)

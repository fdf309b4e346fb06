"""Each graph pass on small synthetic models (built with onnx.helper): the structure it should
produce, and that it preserves what the graph computes (reference executor before vs after,
verifier on the result). Plus random small CNNs through the whole pipeline (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from compiler.frontend.onnx import from_onnx
from compiler.frontend.testing import make_model
from compiler.graph import EpilogueOp, GraphBuildError, optimize, verify
from compiler.graph.passes import (
    PackedLayout,
    eliminate_dead_code,
    fold_batchnorm,
    fold_constants,
    fuse_ops,
    simplify,
    transform_layout,
)
from compiler.graph.testing import check_preserves

RNG = np.random.default_rng(11)


def f32(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def i64(*v):
    return np.array(v, np.int64)


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, name=outs[0], **attrs)


def graph_of(nodes, inputs, outputs, inits=None, opset=13):
    return from_onnx(make_model(nodes, inputs, [(o, "float32", None) for o in outputs],
                                inits or {}, opset=opset))


def ops(g):
    return [n.op for n in g.nodes]


X = ("x", "float32", (1, 8, 6, 6))


# ------------------------------------------------------------------ fold_constants + DCE
def test_shape_computation_folds_away():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape: only the Reshape survives."""
    nodes = [node("Shape", ["x"], ["s"]), node("Gather", ["s", "zero"], ["n"]),
             node("Unsqueeze", ["n", "axes"], ["n1"]), node("Concat", ["n1", "minus1"], ["t"],
                                                           axis=0),
             node("Reshape", ["x", "t"], ["y"])]
    g = graph_of(nodes, [X], ["y"], {"zero": np.array(0, np.int64), "axes": i64(0),
                                     "minus1": i64(-1)})
    assert ops(g) == ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"]
    assert g.nodes[-1].attrs["shape"] == (1, 288)
    folded = check_preserves(fold_constants, g)
    assert ops(folded) == ["Reshape"]
    assert ops(check_preserves(eliminate_dead_code, g)) == ["Reshape"]
    assert ops(optimize(g)) == ["Reshape"] and not optimize(g).constants


def test_constant_subgraphs_and_weight_generators_fold():
    nodes = [node("ConstantOfShape", ["wshape"], ["w"],
                  value=helper.make_tensor("v", 1, [1], [0.02])),
             node("Mul", ["w", "k"], ["w2"]), node("Transpose", ["w2"], ["w3"], perm=[1, 0, 2, 3]),
             node("Conv", ["x", "w3"], ["y"])]
    g = graph_of(nodes, [X], ["y"], {"wshape": i64(8, 4, 1, 1), "k": f32(8, 1, 1, 1)})
    folded = check_preserves(fold_constants, g)
    assert ops(folded) == ["Conv"]
    assert folded.constants["w3"].shape == (4, 8, 1, 1)


def test_dead_code_keeps_inputs_and_used_nodes():
    nodes = [node("Relu", ["x"], ["a"]), node("Sigmoid", ["x"], ["dead1"]),
             node("Relu", ["dead1"], ["dead2"]), node("Add", ["a", "k"], ["y"])]
    g = graph_of(nodes, [X, ("unused", "float32", (2,))], ["y"], {"k": f32(8, 1, 1)})
    out = check_preserves(eliminate_dead_code, g)
    assert ops(out) == ["Relu", "Add"] and [v.name for v in out.inputs] == ["x", "unused"]
    assert eliminate_dead_code(out) is out


# ------------------------------------------------------------------ simplify
def test_simplify_drops_identity_and_keeps_output_names():
    nodes = [node("Identity", ["x"], ["a"]), node("Dropout", ["a"], ["b"]),
             node("Sum", ["b", "x"], ["c"]), node("Sum", ["c"], ["d"]),
             node("Relu", ["d"], ["e"]), node("Identity", ["e"], ["y"])]
    g = graph_of(nodes, [X], ["y"])
    out = check_preserves(simplify, g)
    assert ops(out) == ["Add", "Relu"]
    assert out.outputs[0].name == "y" and out.nodes[-1].outputs[0].name == "y"


def test_identity_from_input_to_output_stays():
    g = graph_of([node("Identity", ["x"], ["y"])], [X], ["y"])
    out = check_preserves(simplify, g)
    assert ops(out) == ["Identity"] and out.outputs[0].name == "y"


# ------------------------------------------------------------------ fold_batchnorm
def bn_inits(prefix, c):
    return {f"{prefix}s": f32(c), f"{prefix}b": f32(c), f"{prefix}m": f32(c),
            f"{prefix}v": np.abs(f32(c)) + 0.5}


def test_conv_batchnorm_scale_shift_fold_into_one_conv():
    nodes = [node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"], epsilon=1e-3),
             node("Mul", ["n", "k"], ["p"]), node("Add", ["p", "d"], ["q"]),
             node("Sub", ["q", "e"], ["y"])]
    inits = {"w": f32(16, 8, 3, 3), "k": f32(16, 1, 1), "d": f32(1, 16, 1, 1), "e": f32(16, 1,
                                                                                       1),
             **bn_inits("", 16)}
    g = graph_of(nodes, [X], ["y"], inits)
    out = check_preserves(fold_batchnorm, g, rtol=1e-4, atol=1e-5)
    assert ops(out) == ["Conv"] and out.nodes[0].outputs[0].name == "y"
    assert len(out.nodes[0].inputs) == 3   # a bias was created


def test_batchnorm_not_folded_when_conv_output_is_shared():
    nodes = [node("Conv", ["x", "w", "cb"], ["c"]),
             node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
             node("Add", ["n", "c"], ["y"])]
    g = graph_of(nodes, [X], ["y"], {"w": f32(8, 8, 1, 1), "cb": f32(8), **bn_inits("", 8)})
    out = check_preserves(fold_batchnorm, g, rtol=1e-4, atol=1e-5)
    assert ops(out) == ["Conv", "BatchNormalization", "Add"]


def test_standalone_affine_chain_becomes_one_batchnorm():
    """DenseNet's pre-activation BatchNormalization -> Mul -> Add -> Relu."""
    nodes = [node("Concat", ["x", "x"], ["cat"], axis=1),
             node("BatchNormalization", ["cat", "s", "b", "m", "v"], ["n"]),
             node("Unsqueeze", ["kw", "ax"], ["k"]), node("Mul", ["n", "k"], ["p"]),
             node("Unsqueeze", ["kb", "ax"], ["d"]), node("Add", ["d", "p"], ["q"]),
             node("Relu", ["q"], ["y"])]
    g = graph_of(nodes, [X], ["y"], {**bn_inits("", 16), "kw": f32(16), "kb": f32(16),
                                     "ax": i64(1, 2)})
    out = optimize(g, verify=True)
    assert ops(out) == ["Concat", "BatchNormalization", "Relu"]
    assert out.nodes[1].attrs["epsilon"] == 0.0
    check_preserves(lambda g: optimize(g), g, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ fuse_ops
def test_conv_bias_add_relu_fuses():
    nodes = [node("Conv", ["x", "w"], ["c"]), node("Add", ["c", "bias"], ["a"]),
             node("Relu", ["a"], ["y"])]
    g = graph_of(nodes, [X], ["y"], {"w": f32(8, 8, 3, 3), "bias": f32(8, 1, 1)})
    fused = check_preserves(fuse_ops, g)
    (f,) = fused.nodes
    assert f.op == "FusedConv" and f.name == "c" and f.outputs[0].name == "y"
    assert f.attrs["epilogue"] == (EpilogueOp("Add", operand=3), EpilogueOp("Relu"))
    # in the pipeline the per-channel add is folded into the conv bias first
    (p,) = optimize(g).nodes
    assert p.op == "FusedConv" and p.attrs["epilogue"] == (EpilogueOp("Relu"),)
    assert p.inputs[2] is not None


def test_residual_add_relu_fuses_where_the_shortcut_is_ready():
    """The shortcut conv comes after the main conv: the fused node goes at the Add."""
    nodes = [node("Conv", ["x", "w1"], ["main"], pads=[1, 1, 1, 1]),
             node("Conv", ["x", "w2"], ["short"]),
             node("Add", ["main", "short"], ["s"]), node("Relu", ["s"], ["y"])]
    g = graph_of(nodes, [X], ["y"], {"w1": f32(8, 8, 3, 3), "w2": f32(8, 8, 1, 1)})
    fused = check_preserves(fuse_ops, g, rtol=1e-5, atol=1e-5)
    assert ops(fused) == ["Conv", "FusedConv"]
    f = fused.nodes[1]
    assert f.inputs[3].name == "short" and f.inputs[2] is None
    assert [s.op for s in f.attrs["epilogue"]] == ["Add", "Relu"]


def test_dense_relu_and_matmul_bias_clip_fuse():
    a = ("a", "float32", (4, 16))
    nodes = [node("Gemm", ["a", "w", "c"], ["g"], transB=1), node("Relu", ["g"], ["r"]),
             node("MatMul", ["r", "w2"], ["m"]), node("Add", ["m", "b2"], ["mb"]),
             node("Clip", ["mb", "lo", "hi"], ["y"])]
    g = graph_of(nodes, [a], ["y"], {"w": f32(32, 16), "c": f32(32), "w2": f32(32, 8),
                                     "b2": f32(8), "lo": np.array(0, np.float32),
                                     "hi": np.array(6, np.float32)})
    fused = check_preserves(optimize, g, rtol=1e-5, atol=1e-5)
    assert ops(fused) == ["FusedGemm", "FusedMatMul"]
    assert fused.nodes[1].attrs["epilogue"] == (EpilogueOp("Add", operand=2),
                                                EpilogueOp("Clip", {"min": 0.0, "max": 6.0}))


def test_no_fusion_through_shared_or_output_values():
    nodes = [node("Conv", ["x", "w"], ["c"]), node("Relu", ["c"], ["r"]),
             node("Add", ["r", "c"], ["y"]), node("Sigmoid", ["r"], ["z"])]
    g = graph_of(nodes, [X], ["y", "z"], {"w": f32(8, 8, 1, 1)})
    assert ops(check_preserves(fuse_ops, g)) == ["Conv", "Relu", "Add", "Sigmoid"]
    g2 = graph_of([node("Conv", ["x", "w"], ["c"]), node("Relu", ["c"], ["y"])], [X],
                  ["c", "y"], {"w": f32(8, 8, 1, 1)})
    assert ops(check_preserves(fuse_ops, g2)) == ["Conv", "Relu"]


# ------------------------------------------------------------------ transform_layout
def all_packed_cnn(c=16):
    nodes = [node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             node("Relu", ["c1"], ["r1"]), node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2],
                                                strides=[2, 2]),
             node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             node("Add", ["c2", "p1"], ["s"]), node("Relu", ["s"], ["r2"]),
             node("Concat", ["r2", "p1"], ["cat"], axis=1),
             node("BatchNormalization", ["cat", "s3", "b3", "m3", "v3"], ["n3"]),
             node("GlobalAveragePool", ["n3"], ["y"])]
    inits = {"w1": f32(c, c, 3, 3, scale=0.2), "b1": f32(c), "w2": f32(c, c, 3, 3, scale=0.2),
             **{k[0] + "3": v for k, v in bn_inits("", 2 * c).items()}}
    return graph_of(nodes, [("x", "float32", (2, c, 8, 8))], ["y"], inits)


@pytest.mark.parametrize("fuse", [False, True])
def test_packed_model_gets_exactly_two_conversions(fuse):
    g = all_packed_cnn()
    if fuse:
        g = optimize(g)
    out = check_preserves(lambda g: transform_layout(g, channel_block=16), g, rtol=1e-4,
                          atol=1e-5)
    conversions = [n for n in out.nodes if n.op == "LayoutTransform"]
    assert len(conversions) == 2
    assert conversions[0].inputs[0].name == "x" and conversions[-1].outputs[0].name == "y"
    assert all(o.layout == "NCHW1n16c" for n in out.nodes if n.op != "LayoutTransform"
               for o in n.outputs)
    conv = next(n for n in out.nodes if n.op in ("Conv", "FusedConv"))
    assert conv.inputs[1].layout == "OIHW16o16i"
    assert out.constants[conv.inputs[1].name].shape == (1, 1, 3, 3, 16, 16)
    assert conv.inputs[2].layout == ""   # the bias stays 1-d


def test_conversions_only_at_region_edges_and_shared():
    """A plain Flatten in the middle: one conversion out, one back; a value used in both
    layouts is converted once."""
    nodes = [node("Conv", ["x", "w"], ["c"]), node("Relu", ["c"], ["r"]),
             node("Flatten", ["r"], ["f"]), node("Reshape", ["f", "shape"], ["u"]),
             node("Relu", ["u"], ["v"]), node("Add", ["v", "r"], ["y"]),
             node("Softmax", ["r"], ["z"], axis=1)]
    g = graph_of(nodes, [("x", "float32", (1, 16, 4, 4))], ["y", "z"],
                 {"w": f32(16, 16, 1, 1), "shape": i64(1, 16, 4, 4)})
    out = check_preserves(transform_layout, g)
    lt = [(n.inputs[0].name, n.attrs["dst_layout"]) for n in out.nodes
          if n.op == "LayoutTransform"]
    assert lt == [("x", "NCHW1n16c"), ("r__packed", ""), ("u", "NCHW1n16c"),
                  ("y__packed", "")]


@pytest.mark.parametrize("nb,cb,c", [(1, 16, 3), (2, 4, 6), (1, 8, 8)])
def test_padded_channels_and_batch_blocks(nb, cb, c):
    """Channels that are not whole blocks (the RGB input) are zero-padded in storage."""
    nodes = [node("Conv", ["x", "w"], ["c1"], pads=[1, 1, 1, 1]), node("Relu", ["c1"], ["r"]),
             node("Conv", ["r", "w2", "b2"], ["c2"]), node("AveragePool", ["c2"], ["y"],
                                                            kernel_shape=[2, 2])]
    g = graph_of(nodes, [("x", "float32", (2, c, 6, 6))], ["y"],
                 {"w": f32(5, c, 3, 3), "w2": f32(7, 5, 1, 1), "b2": f32(7)})
    out = check_preserves(lambda g: optimize(g, layout=PackedLayout(nb, cb)), g, rtol=1e-4,
                          atol=1e-5)
    assert sum(n.op == "LayoutTransform" for n in out.nodes) == 2


def test_different_input_and_output_channel_blocks():
    """BLOCK_IN=4, BLOCK_OUT=8: convolutions write 8c, read 4c; a conversion between the two
    packed layouts goes where one convolution reads another's result."""
    nodes = [node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]), node("Relu", ["c1"], ["r"]),
             node("Conv", ["r", "w2"], ["c2"]), node("Add", ["c2", "r"], ["y"])]
    g = graph_of(nodes, [("x", "float32", (1, 8, 5, 5))], ["y"],
                 {"w1": f32(8, 8, 3, 3), "w2": f32(8, 8, 1, 1)})
    out = check_preserves(lambda g: transform_layout(g, channel_block=4, out_channel_block=8),
                          g, rtol=1e-5, atol=1e-5)
    lt = [(n.attrs["src_layout"], n.attrs["dst_layout"]) for n in out.nodes
          if n.op == "LayoutTransform"]
    assert lt == [("", "NCHW1n4c"), ("NCHW1n8c", "NCHW1n4c"), ("NCHW1n8c", "")]
    convs = [n for n in out.nodes if n.op == "Conv"]
    assert [c.inputs[1].layout for c in convs] == ["OIHW8o4i"] * 2
    assert [c.outputs[0].layout for c in convs] == ["NCHW1n8c"] * 2
    check_preserves(lambda g: optimize(g, layout=PackedLayout(1, 4, 8)), g, rtol=1e-5,
                    atol=1e-5)


def test_grouped_conv_and_unlisted_ops_stay_plain():
    nodes = [node("Conv", ["x", "w"], ["c"], group=2), node("Relu", ["c"], ["y"])]
    g = graph_of(nodes, [X], ["y"], {"w": f32(8, 4, 1, 1)})
    out = check_preserves(lambda g: transform_layout(g, channel_block=4), g)
    assert [(n.op, n.outputs[0].layout) for n in out.nodes] == [
        ("Conv", ""), ("LayoutTransform", "NCHW1n4c"), ("Relu", "NCHW1n4c"),
        ("LayoutTransform", "")]
    only_relu = check_preserves(lambda g: transform_layout(g, ops={"Conv"}), g)
    assert "LayoutTransform" not in ops(only_relu)
    with pytest.raises(GraphBuildError, match="already has packed values"):
        transform_layout(out)


# ------------------------------------------------------------------ random pipelines
@st.composite
def random_cnn(draw):
    """A random small CNN of conv / bn / activations / residuals / pools / concat."""
    c = draw(st.sampled_from([4, 8]))
    nodes, inits, live, k = [], {}, ["x"], 0
    for _ in range(draw(st.integers(2, 7))):
        k += 1
        src = draw(st.sampled_from(live))
        kind = draw(st.sampled_from(["conv", "bn", "relu", "clip", "add", "mul", "pool",
                                     "concat_conv", "hardswish"]))
        out = f"t{k}"
        if kind == "conv":
            ks = draw(st.sampled_from([1, 3]))
            inits[f"w{k}"] = f32(c, c, ks, ks, scale=0.3)
            ins = [src, f"w{k}"] + ([f"b{k}"] if draw(st.booleans()) else [])
            if len(ins) == 3:
                inits[f"b{k}"] = f32(c)
            nodes.append(node("Conv", ins, [out], pads=[ks // 2] * 4))
        elif kind == "bn":
            inits.update(bn_inits(f"n{k}", c))
            nodes.append(node("BatchNormalization", [src] + [f"n{k}{s}" for s in "sbmv"],
                              [out]))
        elif kind in ("relu", "hardswish"):
            nodes.append(node("Relu" if kind == "relu" else "HardSwish", [src], [out]))
        elif kind == "clip":
            inits[f"lo{k}"], inits[f"hi{k}"] = np.float32(-0.5), np.float32(0.5)
            nodes.append(node("Clip", [src, f"lo{k}", f"hi{k}"], [out]))
        elif kind in ("add", "mul"):
            other = draw(st.sampled_from(live + ["const"]))
            if other == "const":
                other = f"k{k}"
                inits[other] = f32(c, 1, 1)
            nodes.append(node("Add" if kind == "add" else "Mul", [src, other], [out]))
        elif kind == "pool":
            nodes.append(node("MaxPool", [src], [out], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]))
        else:   # concat then a 1x1 conv back to c channels
            inits[f"w{k}"] = f32(c, 2 * c, 1, 1, scale=0.3)
            nodes.append(node("Concat", [src, live[0]], [f"cat{k}"], axis=1))
            nodes.append(node("Conv", [f"cat{k}", f"w{k}"], [out]))
        live.append(out)
    outputs = [live[-1]] + ([live[1]] if len(live) > 2 and draw(st.booleans()) else [])
    return graph_of(nodes, [("x", "float32", (1, c, 5, 5))], outputs, inits, opset=14)


@settings(max_examples=100)
@given(random_cnn(), st.sampled_from([None, PackedLayout(1, 4), PackedLayout(1, 16),
                                     PackedLayout(2, 4, 8)]))
def test_random_models_survive_the_pipeline(g, layout):
    verify(g)
    check_preserves(lambda g: optimize(g, layout=layout, verify=True), g, rtol=2e-4,
                    atol=2e-5)

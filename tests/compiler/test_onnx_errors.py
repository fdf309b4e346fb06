"""Malformed and unsupported inputs get one clear error each: truncated or corrupted files,
unsupported operators (all listed at once), dynamic input dimensions, run-time shape
parameters, and wrong inputs at run time."""

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.frontend import ModelLoadError, UnsupportedModelError
from compiler.frontend.onnx import from_onnx
from compiler.frontend.testing import make_model
from compiler.graph import reference
from compiler.graph.errors import (
    DynamicShapeError,
    GraphBuildError,
    InputMismatchError,
    ShapeInferenceError,
    StaticValueError,
)

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def small_cnn() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["y"], name="gap")]
    return make_model(nodes, [("x", "float32", (1, 4, 8, 8))], [("y", "float32", None)],
                      {"w": rng.standard_normal((16, 4, 3, 3)).astype(np.float32),
                       "b": rng.standard_normal(16).astype(np.float32)}, opset=13)


# ------------------------------------------------------------------ unreadable files
@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.95, -1])
def test_truncated_file(tmp_path, fraction):
    data = small_cnn().SerializeToString()
    cut = len(data) - 1 if fraction == -1 else int(len(data) * fraction)
    p = tmp_path / "cut.onnx"
    p.write_bytes(data[:cut])
    with pytest.raises(ModelLoadError, match="truncated or corrupted") as e:
        from_onnx(p)
    assert "cut.onnx" in str(e.value)


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_truncated_zoo_model(tmp_path, fraction):
    data = open(os.path.join(LIGHT, "light_resnet50.onnx"), "rb").read()
    p = tmp_path / "resnet.onnx"
    p.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(ModelLoadError, match="truncated or corrupted"):
        from_onnx(p)


def test_corrupted_bytes_empty_file_missing_path_directory(tmp_path):
    rng = np.random.default_rng(1)
    data = bytearray(small_cnn().SerializeToString())
    for i in rng.choice(len(data), 40, replace=False):
        data[i] = int(rng.integers(0, 256))
    (tmp_path / "bad.onnx").write_bytes(bytes(data))
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "noise.onnx").write_bytes(rng.bytes(1000))
    for name, pattern in [("bad.onnx", "truncated or corrupted|fails the ONNX checker"),
                          ("empty.onnx", "is empty"),
                          ("noise.onnx", "truncated or corrupted|no ONNX graph"),
                          ("missing.onnx", "does not exist")]:
        with pytest.raises(ModelLoadError, match=pattern):
            from_onnx(tmp_path / name)
    with pytest.raises(ModelLoadError, match="is a directory"):
        from_onnx(tmp_path)


def test_value_nothing_defines():
    nodes = [helper.make_node("Relu", ["ghost"], ["y"], name="r")]
    m = make_model(nodes, [("x", "float32", (2,))], [("y", "float32", (2,))], opset=13)
    with pytest.raises(ModelLoadError, match="'ghost', which no node"):
        from_onnx(m, check=False)
    with pytest.raises(ModelLoadError, match="fails the ONNX checker"):
        from_onnx(m)


# ------------------------------------------------------------------ unsupported features
def test_one_error_lists_every_unsupported_operator():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"),
             helper.make_node("FancyOp", ["a"], ["b"], name="fancy_1"),
             helper.make_node("Resize", ["b", "", "s"], ["c"], mode="cubic", name="up"),
             helper.make_node("FancyOp", ["c"], ["d"], name="fancy_2"),
             helper.make_node("Det", ["d"], ["e"], name="det"),
             helper.make_node("Gelu", ["e"], ["y"], domain="com.microsoft", name="ms_gelu")]
    g = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [2, 2, 4, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("com.microsoft", 1)])
    with pytest.raises(UnsupportedModelError) as e:
        from_onnx(m)
    msg = str(e.value)
    problems = [(p.op_type, p.node, p.opset) for p in e.value.problems]
    assert problems == [("FancyOp", "fancy_1", 13), ("Resize", "up", 13),
                        ("FancyOp", "fancy_2", 13), ("Det", "det", 13),
                        ("Gelu", "ms_gelu", 1)]
    for text in ["FancyOp 'fancy_1' (opset 13): operator not supported",
                 "FancyOp 'fancy_2' (opset 13)", "Det 'det' (opset 13)",
                 "Resize 'up' (opset 13): mode 'cubic' is not supported",
                 "domain 'com.microsoft'", "5 unsupported feature(s)", "supports: Add"]:
        assert text in msg


def test_unsupported_dtype_and_training_mode_are_listed():
    nodes = [helper.make_node("Identity", ["x"], ["a"], name="id"),
             helper.make_node("BatchNormalization", ["f", "s", "b", "m", "v"],
                              ["y", "rm", "rv"], training_mode=1, name="bn")]
    m = make_model(nodes, [("x", np.float32, (2, 3)), ("f", "float32", (2, 3))],
                   [("a", "float32", None), ("y", "float32", None),
                    ("rm", "float32", (3,)), ("rv", "float32", (3,))],
                   {k: np.ones(3, np.float32) for k in "sbmv"}, opset=15)
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.BFLOAT16
    with pytest.raises(UnsupportedModelError) as e:
        from_onnx(m, check=False)
    msg = str(e.value)
    assert "input 'x': dtype BFLOAT16 is not supported" in msg
    assert "BatchNormalization 'bn' (opset 15): training_mode=1" in msg
    assert "running/saved statistics" in msg


def test_operator_newer_than_the_models_opset():
    m = make_model([helper.make_node("HardSwish", ["x"], ["y"], name="hs")],
                   [("x", "float32", (2,))], [("y", "float32", (2,))], opset=13)
    with pytest.raises(UnsupportedModelError, match=r"HardSwish 'hs' \(opset 13\): HardSwish "
                                                    "does not exist before opset 14"):
        from_onnx(m)


@pytest.mark.parametrize("opset,pattern", [(6, "older than the oldest supported"),
                                           (99, "newer than the installed onnx")])
def test_opset_out_of_range(opset, pattern):
    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", "float32", (2,))],
                   [("y", "float32", (2,))], opset=13)
    m.opset_import[0].version = opset
    with pytest.raises(UnsupportedModelError, match=pattern):
        from_onnx(m, check=False)


# ------------------------------------------------------------------ dynamic shapes
def dynamic_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Add", ["a", "z"], ["y"])]
    g = helper.make_graph(nodes, "dyn", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, None]),
        helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_dynamic_dimension_must_be_fixed():
    with pytest.raises(DynamicShapeError) as e:
        from_onnx(dynamic_model())
    msg = str(e.value)
    assert "'x'" in msg and "'batch'" in msg and "dimension(s) 0 ('batch'), 3 (unknown)" in msg
    assert "input_shapes={'x': (1, 3, 8, 1)}" in msg
    assert "--input-shape x:1,3,8,1" in msg
    assert e.value.inputs == {"x": ("batch", 3, 8, None)}
    g = from_onnx(dynamic_model(), input_shapes={"x": (4, 3, 8, 8)})
    assert g.outputs[0].shape == (4, 3, 8, 8)


def test_input_without_any_shape():
    m = dynamic_model()
    m.graph.input[0].type.tensor_type.ClearField("shape")
    with pytest.raises(DynamicShapeError, match="'x': no shape declared"):
        from_onnx(m)


def test_input_shapes_must_agree_with_the_model():
    with pytest.raises(GraphBuildError, match="changes dimension"):
        from_onnx(dynamic_model(), input_shapes={"x": (1, 4, 8, 8)})
    with pytest.raises(GraphBuildError, match="has rank 3"):
        from_onnx(dynamic_model(), input_shapes={"x": (1, 3, 8)})
    with pytest.raises(GraphBuildError, match=r"\['nope'\], which are not inputs"):
        from_onnx(dynamic_model(), input_shapes={"x": (1, 3, 8, 8), "nope": (1,)})


def test_shape_parameter_computed_at_run_time():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")]
    m = make_model(nodes, [("x", "float32", (2, 6)), ("shape", "int64", (2,))],
                   [("y", "float32", (3, 4))], opset=13)
    with pytest.raises(StaticValueError, match="Reshape node 'reshape': input 1 "
                                               r"\(shape, value 'shape'\)") as e:
        from_onnx(m)
    assert e.value.value_name == "shape"
    g = from_onnx(m, constant_inputs={"shape": np.array([3, 4])})
    assert [v.name for v in g.inputs] == ["x"] and g.outputs[0].shape == (3, 4)


def test_incompatible_shapes_name_the_node():
    nodes = [helper.make_node("Add", ["x", "z"], ["y"], name="the_add")]
    m = make_model(nodes, [("x", "float32", (2, 3)), ("z", "float32", (4,))],
                   [("y", "float32", None)], opset=13)
    m.graph.output[0].type.tensor_type.shape.dim.add().dim_value = 2
    with pytest.raises(ShapeInferenceError, match=r"Add node 'the_add': shapes \(2, 3\), "
                                                  r"\(4,\) do not broadcast"):
        from_onnx(m, check=False)


# ------------------------------------------------------------------ run time
def test_wrong_inputs_at_run_time():
    g = from_onnx(small_cnn())
    x = np.zeros((1, 4, 8, 8), np.float32)
    with pytest.raises(InputMismatchError, match=r"'x' has shape \(1, 4, 9, 8\), but the "
                                                 r"graph was compiled for \(1, 4, 8, 8\)"):
        reference.run(g, {"x": np.zeros((1, 4, 9, 8), np.float32)})
    with pytest.raises(InputMismatchError, match=r"dtype float64, expected float32; convert "
                                                 r"it with .astype\('float32'\)"):
        reference.run(g, {"x": x.astype(np.float64)})
    with pytest.raises(InputMismatchError, match="input 'x' .* is missing"):
        reference.run(g, {})
    with pytest.raises(InputMismatchError, match=r"no input\(s\) \['q'\]"):
        reference.run(g, {"x": x, "q": x})
    with pytest.raises(InputMismatchError, match="takes 1 inputs"):
        reference.run(g, [x, x])
    assert reference.run(g, [x])["y"].shape == (1, 16, 1, 1)

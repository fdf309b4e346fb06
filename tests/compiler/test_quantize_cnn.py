"""Post-training int8 quantization (``compiler.quantize``) of a small float CNN
(conv-relu-conv-add-relu-maxpool-flatten-dense): accuracy against the float model, the
quantized numpy reference against the accelerator simulator bit for bit, and
``vdla compile --calib`` end to end."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.frontend.onnx import from_onnx
from compiler.frontend.testing import make_model
from compiler.graph import optimize, reference
from compiler.graph.ops.quantized import requantize
from compiler.quantize import QuantizeError, quantize, requant_params
from runtime.cli import main
from runtime.module import compile_model

X_SHAPE = (1, 3, 8, 8)


def cnn() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "r1"], ["a"]),
             helper.make_node("Relu", ["a"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1)]
    inits = {"w1": (rng.standard_normal((16, 3, 3, 3)) * 0.3).astype(np.float32),
             "b1": (rng.standard_normal(16) * 0.1).astype(np.float32),
             "w2": (rng.standard_normal((16, 16, 3, 3)) * 0.1).astype(np.float32),
             "b2": (rng.standard_normal(16) * 0.1).astype(np.float32),
             "fc_w": (rng.standard_normal((10, 256)) * 0.1).astype(np.float32),
             "fc_b": (rng.standard_normal(10) * 0.1).astype(np.float32)}
    return make_model(nodes, [("x", "float32", X_SHAPE)], [("y", "float32", (1, 10))], inits)


def samples(k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (k,) + X_SHAPE[1:]).astype(np.float32)


@pytest.fixture(scope="module")
def graphs():
    g = optimize(from_onnx(cnn()), fuse=False)
    return g, quantize(g, samples(32, 1))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_quantized_graph_ops(graphs):
    _, q = graphs
    ops = q.op_counts()
    assert ops["QConv"] == 2 and ops["QDense"] == 1
    assert ops["Quantize"] == 1 and ops["Dequantize"] == 1
    assert "Conv" not in ops and "Gemm" not in ops and "Add" not in ops
    assert "QAdd" not in ops            # conv2 + add + relu is one QConv with a residual
    conv1, conv2 = [n for n in q.nodes if n.op == "QConv"]
    assert conv2.inputs[3] is conv1.outputs[0] and conv2.attrs["relu"] == 1
    # the biases are int32 vectors at the accumulator's scale
    for n in (conv1, conv2):
        assert q.const(n.inputs[4]).dtype == np.int32 and q.const(n.inputs[4]).shape == (16,)
    fc = next(n for n in q.nodes if n.op == "QDense")
    assert q.const(fc.inputs[3]).shape == (10,)


def test_accuracy_against_float(graphs):
    g, q = graphs
    xs = samples(20, 2)
    cos = [cosine(reference.run(g, [x[None]])["y"], reference.run(q, [x[None]])["y"])
           for x in xs]
    assert min(cos) >= 0.99, cos


def test_reference_equals_simulator_bit_exact(graphs):
    _, q = graphs
    mod = compile_model(q, min_cycles=0)
    assert {p.node for p in mod.report.nodes if p.target == "vdla"} >= \
        {n.name for n in q.nodes if n.op in ("QConv", "QDense", "MaxPool")}
    for x in samples(3, 3):
        # y = Dequantize(QDense(...)): equal floats mean equal int8 results
        ref = reference.run(q, [x[None]])
        sim = mod.run([x[None]], backend="sim")
        np.testing.assert_array_equal(sim["y"], ref["y"])


def test_requant_params_rshr_and_mulshr():
    shift, m = requant_params(np.array([0.25, 0.25]))
    assert (shift, m) == (2, None)
    scale = np.array([0.0123, 0.0456, 0.00078])
    shift, m = requant_params(scale)
    assert m.dtype == np.int32 and m.max() < 2 ** 24 and 0 < shift <= 62
    acc = np.random.default_rng(0).integers(-10 ** 6, 10 ** 6, (4, 3), dtype=np.int64)
    got = requantize(acc, shift, m, channel_axis=1).astype(np.int64)
    assert np.max(np.abs(got - np.clip(np.rint(acc * scale), -128, 127))) <= 1


def test_wrong_calibration_shape(graphs):
    g, _ = graphs
    with pytest.raises(QuantizeError, match=r"shape \(4, 3, 7, 7\)"):
        quantize(g, np.zeros((4, 3, 7, 7), np.float32))


def test_cli_compile_calib(tmp_path, capsys):
    src = tmp_path / "cnn.onnx"
    onnx.save(cnn(), src)
    np.save(tmp_path / "calib.npy", samples(16, 4))
    code = main(["compile", str(src), "--calib", str(tmp_path / "calib.npy"), "-q"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()]
    on_vdla = {r[1] for r in rows if len(r) > 3 and r[3] == "vdla"}
    assert {"QConv", "MaxPool"} <= on_vdla, out
    x = samples(1, 5)
    np.save(tmp_path / "x.npy", x)
    code = main(["run", str(tmp_path / "cnn.vdla"), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")])
    out, err = capsys.readouterr()
    assert code == 0, err
    q = quantize(optimize(from_onnx(cnn()), fuse=False), samples(16, 4))
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), reference.run(q, [x])["y"])


def test_cli_calib_wrong_shape(tmp_path, capsys):
    src = tmp_path / "cnn.onnx"
    onnx.save(cnn(), src)
    np.save(tmp_path / "calib.npy", np.zeros((5, 8, 8), np.float32))
    code = main(["compile", str(src), "--calib", str(tmp_path / "calib.npy"), "-q"])
    _, err = capsys.readouterr()
    assert code == 2 and "calibration samples" in err and "(5, 8, 8)" in err, err


def test_float_fallback_and_dense_relu():
    """A Sigmoid (no int8 accelerator operator) runs in float between a Dequantize and a
    Quantize; GlobalAveragePool + Flatten become one QGlobalAveragePool; bias-free MatMul + Relu
    becomes one QDense with relu."""
    rng = np.random.default_rng(7)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("MatMul", ["f", "m1"], ["h"]),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Sigmoid", ["hr"], ["hs"]),
             helper.make_node("MatMul", ["hs", "m2"], ["y"])]
    inits = {"w": (rng.standard_normal((16, 3, 3, 3)) * 0.3).astype(np.float32),
             "m1": (rng.standard_normal((16, 32)) * 0.3).astype(np.float32),
             "m2": (rng.standard_normal((32, 8)) * 0.3).astype(np.float32)}
    model = make_model(nodes, [("x", "float32", X_SHAPE)], [("y", "float32", (1, 8))], inits)
    g = optimize(from_onnx(model), fuse=False)
    q = quantize(g, samples(16, 8))
    ops = q.op_counts()
    assert ops["QConv"] == 1 and ops["QDense"] == 2 and ops["QGlobalAveragePool"] == 1
    assert ops["Sigmoid"] == 1 and "Flatten" not in ops and "Relu" not in ops
    assert ops["Quantize"] == 2 and ops["Dequantize"] == 2
    mod = compile_model(q, min_cycles=0)
    for x in samples(4, 9):
        ref, flt = reference.run(q, [x[None]])["y"], reference.run(g, [x[None]])["y"]
        np.testing.assert_array_equal(mod.run([x[None]], backend="sim")["y"], ref)
        assert cosine(ref, flt) >= 0.99


def test_activations_stay_packed_between_accelerator_layers(graphs):
    """Inside a region each accelerator layer takes its predecessor's packed DRAM result as it
    is; only the first layer (fed by the CPU's Quantize) packs from NCHW."""
    _, q = graphs
    mod = compile_model(q, min_cycles=0)
    ex = mod.executor("sim")
    x = samples(1, 11)
    np.testing.assert_array_equal(ex.run([x])["y"], reference.run(q, [x])["y"])
    order = [n.name for n, _ in mod.all_nodes() if n.name in mod.programs]
    repacked = {n: mod.vdla_kernel(n).repacked for n in order}
    first = order[0]
    assert repacked[first] == 1, repacked
    # the dense layer reads MaxPool's NCHW result (the Flatten is absorbed): no host step
    assert "Flatten" not in q.op_counts()
    assert all(v == 0 for k, v in repacked.items() if k != first), repacked

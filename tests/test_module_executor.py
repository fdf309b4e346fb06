"""The graph executor: input validation (each mistake named), results against the reference
executor, inputs never modified, per-layer profile and trace."""

import numpy as np
import pytest
from onnx import helper

from compiler.frontend.onnx import from_onnx
from compiler.frontend.testing import make_model, onnx_reference
from compiler.graph import reference
from runtime.errors import BackendError, InputError
from runtime.executor import GraphExecutor
from runtime.module import compile_model


def two_input_model():
    """Conv + residual add (fused into the conv's epilogue) + relu, and a second output."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "skip"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"]),
             helper.make_node("GlobalAveragePool", ["y"], ["g"]),
             helper.make_node("Mul", ["g", "scale"], ["z"])]
    inits = {"w": rng.standard_normal((4, 4, 3, 3)).astype(np.float32),
             "scale": np.float32([2.0])}
    return make_model(nodes, [("x", "float32", (1, 4, 6, 6)), ("skip", "float32",
                                                                 (1, 4, 6, 6))],
                      [("y", "float32", (1, 4, 6, 6)), ("z", "float32", (1, 4, 1, 1))],
                      inits)


@pytest.fixture(scope="module")
def mod():
    return compile_model(two_input_model(), target="cpu")


def feeds(seed=1):
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(-1, 1, (1, 4, 6, 6)).astype(np.float32),
            "skip": rng.uniform(-1, 1, (1, 4, 6, 6)).astype(np.float32)}


def test_results_match_and_inputs_are_not_modified(mod):
    f = feeds()
    copies = {k: v.copy() for k, v in f.items()}
    out = mod.executor("cpu").run(f)
    assert list(out) == ["y", "z"]
    want = onnx_reference(two_input_model(), f)
    for k in want:
        np.testing.assert_allclose(out[k], want[k], rtol=1e-5, atol=1e-6)
    ref = reference.run(from_onnx(two_input_model()), f)
    np.testing.assert_allclose(out["y"], ref["y"], rtol=1e-5, atol=1e-6)
    for k in f:
        np.testing.assert_array_equal(f[k], copies[k])     # the epilogue's add is in place
    assert any(n.op == "FusedConv" for n in mod.graph.nodes)
    # positional inputs, in the graph's order
    out2 = mod.executor("sim").run([f["x"], f["skip"]])
    np.testing.assert_array_equal(out2["z"], out["z"])


@pytest.mark.parametrize("bad, message", [
    ({"x": np.zeros((1, 4, 6, 6), np.float32)},
     r"input 'skip' \(float32\[1,4,6,6\]\) is missing"),
    ({**feeds(), "extra": np.zeros(1)}, r"unknown input\(s\) 'extra'"),
    ({**feeds(), "x": np.zeros((1, 4, 7, 7), np.float32)},
     r"input 'x' has shape \(1, 4, 7, 7\), but the module was compiled for \(1, 4, 6, 6\)"),
    ({**feeds(), "skip": np.zeros((1, 4, 6, 6), np.float64)},
     r"input 'skip' has dtype float64, expected float32"),
])
def test_input_errors_name_the_input(mod, bad, message):
    ex = mod.executor("cpu")
    with pytest.raises(InputError, match=message):
        ex.run(bad)


def test_positional_count_and_backend_errors(mod):
    with pytest.raises(InputError, match=r"takes 2 input\(s\).*got 1"):
        mod.executor("cpu").run([feeds()["x"]])
    with pytest.raises(BackendError, match="unknown backend 'gpu'"):
        GraphExecutor(mod, "gpu")


def test_profile_and_trace(mod):
    out, prof = mod.executor("cpu").run_profiled(feeds())
    assert [lp.node for lp in prof.layers] == [n.name for n in mod.graph.nodes]
    assert all(lp.device == "cpu" and lp.seconds >= 0 for lp in prof.layers)
    conv = prof.layers[0]
    assert conv.kernel == "llvm:conv2d" and conv.macs == 4 * 36 * 4 * 9
    assert prof.total_cycles is None and prof.wall_seconds >= sum(lp.seconds
                                                                  for lp in prof.layers)
    text = prof.format()
    assert "llvm:conv2d" in text and "total:" in text
    events = [e for e in prof.trace_events() if e["ph"] == "X"]
    assert [e["name"] for e in events] == [lp.node for lp in prof.layers]
    assert all(e["tid"] == 1 and e["dur"] >= 0 for e in events)
    doc = prof.to_dict()
    assert doc["backend"] == "cpu" and len(doc["layers"]) == len(prof.layers)

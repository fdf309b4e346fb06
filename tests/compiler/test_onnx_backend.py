"""The ``onnx.backend.base.Backend`` adapter: the standard onnx runner drives it, shape
parameters given as graph inputs compile on first run (and again for new values), and the
executor is one replaceable function."""

import unittest

import numpy as np
import onnx.backend.test
import pytest
from onnx import helper

import compiler.frontend.onnx_backend as ob
from compiler.frontend.onnx_backend import VdlaBackend, prepare, run_model, run_node
from compiler.frontend.testing import make_model


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the case generators overflow casts
def test_standard_onnx_runner_drives_the_backend():
    bt = onnx.backend.test.BackendTest(VdlaBackend, __name__)
    bt.include(r"^test_(conv_with_strides_padding|relu|reshape_negative_dim|averagepool_2d_ceil"
               r"|resize_upsample_sizes_nearest)_cpu$")
    suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(c)
                               for c in bt.test_cases.values())
    result = unittest.TestResult()
    suite.run(result)
    assert not result.failures and not result.errors, result.failures + result.errors
    assert result.testsRun - len(result.skipped) == 5


def test_run_node_and_run_model():
    x = np.array([[-1.0, 2.0], [3.0, -4.0]], np.float32)
    (y,) = run_node(helper.make_node("Relu", ["x"], ["y"]), [x])
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    m = make_model([helper.make_node("Sigmoid", ["x"], ["y"])], [("x", "float32", (2, 2))],
                   [("y", "float32", (2, 2))])
    (y,) = run_model(m, [x])
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x)), rtol=1e-6)
    assert VdlaBackend.supports_device("CPU") and not VdlaBackend.supports_device("CUDA")


def test_shape_inputs_are_bound_at_first_run_and_recompiled_for_new_values():
    m = make_model([helper.make_node("Reshape", ["x", "shape"], ["r"]),
                    helper.make_node("Relu", ["r"], ["y"])],
                   [("x", "float32", (2, 6)), ("shape", "int64", (2,))],
                   [("y", "float32", None)])
    rep = prepare(m)
    x = np.arange(12, dtype=np.float32).reshape(2, 6) - 6
    (a,) = rep.run([x, np.array([3, 4])])
    (b,) = rep.run({"x": x, "shape": np.array([4, -1])})
    assert a.shape == (3, 4) and b.shape == (4, 3)
    assert rep.static_inputs == ["shape"] and len(rep._cache) == 2
    rep.run([x, np.array([3, 4])])
    assert len(rep._cache) == 2


def test_executor_is_one_line_to_switch(monkeypatch):
    calls = []

    def spy(graph, inputs):
        calls.append(graph.name)
        return ob.reference.run(graph, inputs)

    monkeypatch.setattr(ob, "EXECUTOR", spy)
    (y,) = run_node(helper.make_node("Neg" if False else "Relu", ["x"], ["y"]),
                    [np.ones((2,), np.float32)])
    assert calls == ["node"] and y.tolist() == [1.0, 1.0]

"""The onnx package's node test cases for every supported operator, on the CPU backend:
``VdlaCompiledBackend`` (an ``onnx.backend.base.Backend``) imports each model, optimizes it,
compiles it with ``target="cpu"`` into a module (LLVM kernels), sends the module through its
file format (bytes and back), and runs it with the graph executor.

The selection and the expected rejections are those of the reference path
(``test_onnx_node_tests.py``). ``test_llvm_kernels_cover_the_common_cases`` checks that the
cases mostly run LLVM kernels, not the numpy fallback.
"""

import unittest
import warnings

import onnx.backend.test
import pytest
from onnx.backend.test.runner import Runner
from test_onnx_node_tests import CASES, _array, _expected_reason

import compiler.frontend.onnx_backend as ob
from compiler.frontend import UnsupportedModelError
from compiler.frontend.onnx_backend import VdlaBackend, VdlaCompiledBackend


def test_selection_matches_the_reference_path():
    runnable = [c for c in CASES if _expected_reason(c.name) is None]
    assert len(runnable) >= 290


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_node_case_on_cpu(case):
    reason = _expected_reason(case.name)
    if reason is not None:
        with pytest.raises(UnsupportedModelError):
            for inputs, _ in case.data_sets:
                VdlaCompiledBackend.prepare(case.model, roundtrip=True).run(inputs)
        return
    rep = VdlaCompiledBackend.prepare(case.model, roundtrip=True)
    assert rep.mode == "compiled"
    for inputs, outputs in case.data_sets:
        got = rep.run([_array(x) for x in inputs])
        Runner.assert_similar_outputs([_array(o) for o in outputs], list(got),
                                      rtol=case.rtol, atol=case.atol)


def test_llvm_kernels_cover_the_common_cases(monkeypatch):
    """Across the runnable cases, count the kernels by kind: most nodes that compute run
    LLVM code."""
    seen = {}
    real = ob.compiled_cpu_executor

    def spy(roundtrip=False):
        run = real(roundtrip)

        def wrapped(graph, inputs):
            out = run(graph, inputs)
            for ex in ob._COMPILED[graph].values():
                for s in ex.steps:
                    seen[(id(graph), s.node.name)] = (s.node.op, s.kernel.split(":")[0])
            return out

        return wrapped

    monkeypatch.setattr(ob, "compiled_cpu_executor", spy)
    names = ("test_conv_with_strides_padding", "test_gemm_default_matrix_bias",
             "test_maxpool_2d_pads", "test_averagepool_2d_pads", "test_softmax_axis_1",
             "test_concat_2d_axis_0", "test_add_bcast", "test_relu", "test_lrn",
             "test_batchnorm_example", "test_transpose_all_permutations_0",
             "test_globalaveragepool", "test_matmul_2d", "test_leakyrelu")
    cases = [c for c in CASES if c.name in names]
    assert len(cases) == len(names)
    for case in cases:
        rep = VdlaCompiledBackend.prepare(case.model)
        for inputs, _ in case.data_sets:
            rep.run([_array(x) for x in inputs])
    kinds = {op: kind for op, kind in seen.values()}
    assert set(kinds.values()) == {"llvm"}, kinds


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the case generators overflow casts
def test_standard_onnx_runner_drives_the_compiled_backend():
    bt = onnx.backend.test.BackendTest(VdlaCompiledBackend, __name__)
    bt.include(r"^test_(conv_with_strides_padding|relu|reshape_negative_dim|averagepool_2d_ceil"
               r"|resize_upsample_sizes_nearest|gemm_default_scalar_bias)_cpu$")
    suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(c)
                               for c in bt.test_cases.values())
    result = unittest.TestResult()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        suite.run(result)
    assert not result.failures and not result.errors, result.failures + result.errors
    assert result.testsRun - len(result.skipped) == 6


def test_modes_select_the_executor():
    import numpy as np
    from onnx import helper

    node = helper.make_node("Relu", ["x"], ["y"])
    x = np.array([[-1.0, 2.0]], np.float32)
    for backend in (VdlaBackend, VdlaCompiledBackend):
        (y,) = backend.run_node(node, [x])
        np.testing.assert_array_equal(y, np.maximum(x, 0))
    (y,) = VdlaBackend.run_node(node, [x], mode="compiled")
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    with pytest.raises(ValueError, match="mode"):
        VdlaBackend.prepare(helper.make_model(helper.make_graph(
            [node], "g", [helper.make_tensor_value_info("x", 1, (1, 2))],
            [helper.make_tensor_value_info("y", 1, (1, 2))])), mode="gpu")

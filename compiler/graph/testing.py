"""Test helpers for graphs: random inputs, output comparison, and a pass-preservation check.

``check_preserves(pass_fn, graph)`` is how every pass is tested: run the reference executor
on the graph before and after the pass (with the verifier on the result) and compare.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from . import reference
from .ir import Graph
from .layout import pack
from .verify import verify


def random_inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic inputs for every graph input: floats in [-1, 1), small integers."""
    rng = np.random.default_rng(seed)
    out = {}
    for v in graph.inputs:
        dt = np.dtype(v.dtype)
        if dt.kind == "f":
            a = rng.uniform(-1, 1, v.shape).astype(dt)
        elif dt.kind == "b":
            a = rng.integers(0, 2, v.shape).astype(bool)
        else:
            a = rng.integers(0, 8, v.shape).astype(dt)
        out[v.name] = pack(a, v.layout)
    return out


def assert_close(actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray],
                 rtol: float = 1e-5, atol: float = 1e-6, what: str = "") -> None:
    """Same output names, shapes and dtypes, and values within tolerance."""
    assert list(actual) == list(expected), f"{what}: outputs {list(actual)} vs {list(expected)}"
    for k in expected:
        a, e = np.asarray(actual[k]), np.asarray(expected[k])
        assert a.shape == e.shape, f"{what}: output '{k}' shape {a.shape} vs {e.shape}"
        assert a.dtype == e.dtype, f"{what}: output '{k}' dtype {a.dtype} vs {e.dtype}"
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol,
                                   err_msg=f"{what}: output '{k}' differs")


def check_preserves(pass_fn: Callable[[Graph], Graph], graph: Graph,
                    inputs: Mapping[str, np.ndarray] | None = None, *, rtol: float = 1e-5,
                    atol: float = 1e-6) -> Graph:
    """Apply ``pass_fn``; verify the result and check it computes what ``graph`` did."""
    verify(graph, "input of the pass")
    after = pass_fn(graph)
    verify(after, f"after {getattr(pass_fn, '__name__', 'the pass')}")
    inputs = random_inputs(graph) if inputs is None else inputs
    assert [v.name for v in after.inputs] == [v.name for v in graph.inputs]
    before_out = reference.run(graph, inputs)
    after_out = reference.run(after, inputs)
    assert_close(reference.logical_outputs(after, after_out),
                 reference.logical_outputs(graph, before_out), rtol, atol,
                 getattr(pass_fn, "__name__", "pass"))
    return after

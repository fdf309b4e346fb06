"""Tensor expressions: describe a computation once, then schedule and lower it.

Example (a matrix product, tiled, vectorized, lowered and run by the reference interpreter)::

    import numpy as np
    from compiler import te
    from compiler.tir import lower, interp, print_ir

    A = te.placeholder((64, 32), "float32", name="A")
    B = te.placeholder((32, 48), "float32", name="B")
    k = te.reduce_axis((0, 32), name="k")
    C = te.compute((64, 48), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")

    s = te.create_schedule(C)
    i, j = C.op.axis
    io, jo, ii, ji = s[C].tile(i, j, 8, 8)
    s[C].reorder(io, jo, k, ii, ji)
    s[C].vectorize(ji)
    s[C].parallel(io)
    print(s)                                  # stages and primitive history

    f = lower(s, [A, B, C], name="matmul")    # loop IR PrimFunc, flattened
    print(print_ir(f))
    a, b = np.random.rand(64, 32).astype("float32"), np.random.rand(32, 48).astype("float32")
    c = np.zeros((64, 48), "float32")
    interp.run(f, a, b, c)                    # slow pure-Python reference execution
    assert np.allclose(c, a @ b, rtol=1e-5)

Modules: ``expr`` (operators, casts, math), ``tensor`` (placeholder, compute, reduce_axis,
reducers), and the schedule package ``compiler.schedule`` (primitives; re-exported here).
"""

from .expr import (
    TExpr,
    abs,
    all,
    any,
    cast,
    ceil,
    const,
    erf,
    exp,
    floor,
    if_then_else,
    log,
    pow,
    round,
    select,
    sigmoid,
    sqrt,
    tanh,
)
from .tensor import (
    ComputeOp,
    IterVar,
    PlaceholderOp,
    ProducerLoad,
    Reduce,
    Tensor,
    compute,
    max,
    min,
    placeholder,
    reduce_axis,
    sum,
)

# Schedule names are re-exported lazily: compiler.schedule imports compiler.te.tensor, so an
# eager import here would make the import order of the two packages matter.
_SCHEDULE_NAMES = frozenset({
    "GLOBAL",
    "LOCAL",
    "MemoryScope",
    "Record",
    "Schedule",
    "Stage",
    "TensorIntrin",
    "TensorRegion",
    "VThread",
    "create_schedule",
    "decl_tensor_intrin",
    "replay",
    "vthread",
})


def __getattr__(name: str):
    if name in _SCHEDULE_NAMES:
        from .. import schedule

        return getattr(schedule, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GLOBAL", "LOCAL", "ComputeOp", "IterVar", "MemoryScope", "PlaceholderOp", "ProducerLoad",
    "Record", "Reduce", "Schedule", "Stage", "TExpr", "Tensor", "TensorIntrin", "TensorRegion",
    "VThread", "abs", "all", "any", "cast", "ceil", "compute", "const", "create_schedule",
    "decl_tensor_intrin", "erf", "exp", "floor", "if_then_else", "log", "max", "min",
    "placeholder", "pow", "reduce_axis", "replay", "round", "select", "sigmoid", "sqrt", "sum",
    "tanh", "vthread",
]

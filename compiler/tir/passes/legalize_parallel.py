"""Pass: a parallel loop nested inside another parallel (or vthread) loop runs serially.

The CPU backend parallelises one level of loops (it calls the loop body of the outermost
parallel loop on worker threads), so inner parallel loops — which a compute_at or a second
``parallel`` primitive can produce — are demoted to serial loops with the annotation
``demoted_parallel``.

Before::

    parallel for i in range(4):
      parallel for j in range(8):
        ...

After::

    parallel for i in range(4):
      for j in range(8):  # demoted_parallel=True
        ...
"""

from __future__ import annotations

from .. import ir
from ..functor import IRMutator


class _Legalize(IRMutator):
    def __init__(self) -> None:
        self.depth = 0

    def visit_For(self, n: ir.For):
        par = n.kind in ("parallel", "vthread")
        if n.kind == "parallel" and self.depth > 0:
            self.depth += 1
            body = self.visit(n.body)
            self.depth -= 1
            return ir.For(n.var, n.min, n.extent, "serial", body,
                          n.annotations + (("demoted_parallel", True),))
        self.depth += par
        r = self.generic(n)
        self.depth -= par
        return r


def legalize_parallel(func: ir.PrimFunc) -> ir.PrimFunc:
    body = _Legalize().visit(func.body)
    return func if body is func.body else ir.PrimFunc(func.name, func.params, body, func.attrs)

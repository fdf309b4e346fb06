"""Pass: arithmetic simplification of every expression, using loop ranges.

Runs ``arith.Simplifier`` over the function body; each ``For`` contributes its variable's
range, which lets guards that always hold disappear and index arithmetic fold.

Before::

    for i.outer in range(4):
      for i.inner in range(4):
        if i.outer * 4 + i.inner < 16:
          B[(i.outer * 4 + i.inner) * 1 + 0] = A[i.outer * 4 + i.inner] * 1.0f

After::

    for i.outer in range(4):
      for i.inner in range(4):
        B[i.outer * 4 + i.inner] = A[i.outer * 4 + i.inner] * 1.0f

(float ``* 1.0f`` stays: only integer identities are applied to non-constant operands.)
"""

from __future__ import annotations

from .. import ir
from ..arith import Simplifier


def simplify_func(func: ir.PrimFunc) -> ir.PrimFunc:
    body = Simplifier().visit(func.body)
    return func if body is func.body else ir.PrimFunc(func.name, func.params, body, func.attrs)

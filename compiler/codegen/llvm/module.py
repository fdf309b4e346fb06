"""Lower one flattened ``PrimFunc`` to an LLVM module (text) — no optimization, no JIT.

The entry function is ``i32 vdla_<name>(<params...>, <implicit shape vars...>)``:

* a ``Buffer`` parameter is a ``ptr`` (``noalias`` unless ``noalias=False``: the caller
  checks that no written buffer overlaps another argument);
* a scalar ``Var`` parameter is passed in its dtype (``bool`` as one byte);
* a variable used in the body that is not a parameter but names a dimension of a buffer
  parameter's shape (``A: Buffer((n, 4))``) is an implicit trailing argument, filled in by the
  runtime from the array's shape.

Before translation the body goes through the backend's own loop-IR passes, in order::

    vectorize_loops   vectorized loops -> vector expressions (vectorize.py)
    unroll_loops      unrolled loops -> copies with constant indices (unroll.py)
    fold_constants    tidy the arithmetic those two produced (fold.py)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import llvmlite.ir as ll

from compiler.tir import ir

from .analysis import unbound_vars, written_buffers
from .dtypes import I32, PTR, arg_type, mangle, scalar_of
from .emit_stmt import FunctionEmitter
from .errors import CodegenError
from .fold import fold_constants
from .target import HostTarget
from .unroll import unroll_loops
from .vectorize import vectorize_loops


@dataclass(frozen=True)
class LoweredModule:
    """The LLVM IR of one PrimFunc plus what the runtime needs to call it."""

    ir_text: str
    entry: str                               # symbol of the entry function
    chunks: tuple[str, ...]                  # symbols of the parallel chunk wrappers
    params: tuple                            # the PrimFunc's params (Buffer | Var)
    implicit: tuple[tuple[ir.Var, int, int], ...]   # (var, param position, dimension)
    written: frozenset[int]                  # positions of buffer params stored to
    signature: str                           # printable parameter declarations


class ModuleContext:
    """Module-wide state shared by the function emitters."""

    def __init__(self, name: str, target: HostTarget, *, fastmath: bool, noalias: bool) -> None:
        self.module = ll.Module(name=name)
        self.module.triple = target.triple
        self.module.data_layout = target.data_layout
        self.target = target
        self.noalias = noalias
        # contract: let LLVM fuse a*b+c into one FMA; fast: also reassociate (reductions)
        self.fmf: tuple[str, ...] = ("fast",) if fastmath else ("contract",)
        self.chunks: list[str] = []
        self._decls: dict[str, ll.Function] = {}

    def declare(self, name: str, ret: ll.Type, args: list) -> ll.Function:
        """Declare (once) the external function ``name``."""
        fn = self._decls.get(name)
        if fn is None:
            fn = ll.Function(self.module, ll.FunctionType(ret, args), name=name)
            self._decls[name] = fn
        return fn

    def intrinsic(self, base: str, ret: ll.Type, args: list, overloads: list) -> ll.Function:
        """Declare LLVM intrinsic ``base`` overloaded on ``overloads`` (``llvm.smin.v8i32``)."""
        name = base + "".join("." + mangle(t) for t in overloads)
        return self.declare(name, ret, args)

    def new_chunk(self, fn_name: str) -> tuple[str, str]:
        """Fresh (wrapper, body) symbol names for a parallel loop outlined from ``fn_name``."""
        k = len(self.chunks)
        wrapper = f"{fn_name}__par{k}"
        self.chunks.append(wrapper)
        return wrapper, wrapper + "_body"


def symbol_name(name: str) -> str:
    """The entry symbol for a PrimFunc called ``name`` (prefixed: never clashes with libc)."""
    return "vdla_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def prepare_body(body: ir.Stmt, target: HostTarget | None = None) -> ir.Stmt:
    """The backend's loop-IR pipeline (see the module docstring)."""
    native = target.vector_bits if target is not None else None
    body = vectorize_loops(body, native)  # vectorized loops -> Ramp/Broadcast vector code
    body = unroll_loops(body)       # unrolled loops -> copies with constant indices
    return fold_constants(body)     # fold what the two rewrites left behind


def describe_param(p) -> str:
    if isinstance(p, ir.Buffer):
        shape = ", ".join(d.name if isinstance(d, ir.Var) else str(getattr(d, "value", d))
                          for d in p.shape)
        strides = "" if p.strides is None else " strides=" + ", ".join(
            str(getattr(d, "value", d)) for d in p.strides)
        return f"{p.name}: {p.dtype}[{shape}] {p.scope}{strides}"
    return f"{p.name}: {p.dtype}"


def lower_to_llvm(func: ir.PrimFunc, target: HostTarget, *, name: str | None = None,
                  fastmath: bool = False, noalias: bool = True) -> LoweredModule:
    """Translate ``func`` to LLVM IR text (see the module docstring)."""
    fname = name or func.name
    _check_params(func, fname)
    body = prepare_body(func.body, target)
    params = tuple(func.params)
    implicit = _implicit_vars(body, params, fname)

    mod = ModuleContext(fname, target, fastmath=fastmath, noalias=noalias)
    arg_types = []
    for p in params:
        arg_types.append(PTR if isinstance(p, ir.Buffer) else arg_type(p.dtype))
    arg_types += [arg_type(v.dtype) for v, _, _ in implicit]
    sym = symbol_name(fname)
    fn = ll.Function(mod.module, ll.FunctionType(I32, arg_types), name=sym)
    fn.attributes.add("nounwind")
    em = FunctionEmitter(mod, fn, fname, in_chunk=False)
    for p, arg in zip(params, fn.args):
        arg.name = p.name
        if isinstance(p, ir.Buffer):
            if noalias:
                arg.add_attribute("noalias")
            em.bufs[p] = arg
        else:
            em.bind_scalar(p, arg)
    for (v, _, _), arg in zip(implicit, fn.args[len(params):]):
        arg.name = v.name
        em.bind_scalar(v, arg)
    em.emit_stmt(body)
    em.finish()

    written = written_buffers(body)
    signature = "; ".join(describe_param(p) for p in params)
    return LoweredModule(
        ir_text=str(mod.module), entry=sym, chunks=tuple(mod.chunks), params=params,
        implicit=tuple(implicit),
        written=frozenset(i for i, p in enumerate(params) if p in written),
        signature=signature)


def _check_params(func: ir.PrimFunc, fname: str) -> None:
    seen: set = set()
    for p in func.params:
        if not isinstance(p, (ir.Buffer, ir.Var)):
            raise CodegenError(f"{fname}: parameter {p!r} is neither a Buffer nor a Var")
        if id(p) in seen:
            raise CodegenError(f"{fname}: parameter '{p.name}' appears twice")
        seen.add(id(p))
        scalar_of(p.dtype)  # raises for unsupported dtypes
        if isinstance(p, ir.Var) and ir.split_dtype(p.dtype)[1] != 1:
            raise CodegenError(f"{fname}: scalar parameter '{p.name}' has vector dtype "
                               f"{p.dtype}")


def _implicit_vars(body: ir.Stmt, params: tuple, fname: str) -> list:
    """Free variables of ``body`` bound from buffer shapes: [(var, param position, dim)]."""
    explicit = {p for p in params if isinstance(p, ir.Var)}
    out = []
    for v in unbound_vars(body):
        if v in explicit:
            continue
        where = next(((i, d) for i, p in enumerate(params) if isinstance(p, ir.Buffer)
                      for d, extent in enumerate(p.shape) if extent is v), None)
        if where is None:
            raise CodegenError(f"{fname}: variable '{v.name}' is used but is neither a "
                               f"parameter, a loop/let variable, nor a dimension of a buffer "
                               f"parameter's shape; add it to the PrimFunc's params")
        out.append((v, where[0], where[1]))
    return out

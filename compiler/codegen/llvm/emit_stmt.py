"""Statements of the loop IR as LLVM control flow, allocations and parallel launches.

Every generated function returns an ``i32`` status: 0 on success, 2 when a heap allocation
failed, or the non-zero status a parallel launch reported.

* ``For`` is a rotated loop over an ``i64`` induction variable (the loop variable's own dtype
  is a ``trunc`` of it): ``pre: br lo<hi ? body : exit; body: ...; latch: v+1 < hi``.
* ``Allocate`` of a constant size up to ``STACK_LIMIT`` bytes (``LOCAL_STACK_LIMIT`` for scope
  ``"local"``) is an ``alloca`` in the function's entry block (64-byte aligned), where SROA and
  mem2reg can promote small register-blocked accumulators to registers; anything else is
  ``aligned_alloc``/``free`` around the body.
* The first ``parallel`` loop on a path (parallel loops nested in it run serially) is outlined:
  its body becomes ``<f>__par<k>_body(i64 begin, i64 end, <noalias buffers>, <scalars>)``,
  wrapped by ``<f>__par<k>(i64 begin, i64 end, ptr closure)`` that unpacks the captured
  values from a struct; the caller fills the struct and calls
  ``vdla_parallel_launch(ptr chunk_fn, ptr closure, i64 lo, i64 hi)``, provided by
  ``runtime.py``, which splits [lo, hi) among worker threads.
"""

from __future__ import annotations

import llvmlite.ir as ll

from compiler.tir import ir

from .analysis import accessed_buffers, contains_load, unbound_vars
from .dtypes import I32, I64, PTR, itemsize, lanes_of, llvm_type, mem_type, scalar_of
from .emit_expr import INDEX_DTYPES, Binding, ExprEmitter, int_const
from .errors import CodegenError

STACK_LIMIT = 64 * 1024
LOCAL_STACK_LIMIT = 1024 * 1024
HEAP_ALIGN = 64
STATUS_OOM = 2


class FunctionEmitter(ExprEmitter):
    """Emits loop-IR statements into one LLVM function (see the module docstring)."""

    def __init__(self, mod, fn: ll.Function, func_name: str, *, in_chunk: bool) -> None:
        self.mod = mod
        self.fn = fn
        self.func_name = func_name
        self.in_chunk = in_chunk
        self.entry_b = ll.IRBuilder(fn.append_basic_block("entry"))
        self._first = fn.append_basic_block("start")
        self.b = ll.IRBuilder(self._first)
        self.vars: dict = {}
        self.bufs: dict = {}

    def finish(self) -> None:
        """Close the function: return success and jump from the alloca block to the code."""
        self.b.ret(ll.Constant(I32, 0))
        self.entry_b.branch(self._first)

    # ------------------------------------------------------------------ bindings
    def bind_scalar(self, var: ir.Var, value: ll.Value) -> None:
        """Bind a scalar parameter or capture given in its argument representation."""
        if scalar_of(var.dtype) == "bool":
            value = self.b.icmp_unsigned("!=", value, ll.Constant(value.type, 0))
        index = None
        if scalar_of(var.dtype) in INDEX_DTYPES and lanes_of(var.dtype) == 1:
            index = self.extend64(value, var.dtype)
        self.vars[var] = Binding(value, index)

    def emit_stmt(self, s: ir.Stmt) -> None:
        meth = getattr(self, "stmt_" + type(s).__name__, None)
        if meth is None:
            raise CodegenError(f"the LLVM backend cannot translate statement "
                               f"{type(s).__name__} in '{self.func_name}'")
        meth(s)

    def _scoped_var(self, var: ir.Var, binding: Binding, body: ir.Stmt) -> None:
        old = self.vars.get(var)
        self.vars[var] = binding
        self.emit_stmt(body)
        if old is None:
            del self.vars[var]
        else:
            self.vars[var] = old

    def _scoped_buffer(self, buf: ir.Buffer, ptr: ll.Value, body: ir.Stmt) -> None:
        old = self.bufs.get(buf)
        self.bufs[buf] = ptr
        self.emit_stmt(body)
        if old is None:
            del self.bufs[buf]
        else:
            self.bufs[buf] = old

    # ------------------------------------------------------------------ simple statements
    def stmt_Seq(self, s: ir.Seq) -> None:
        for x in s.stmts:
            self.emit_stmt(x)

    def stmt_Evaluate(self, s: ir.Evaluate) -> None:
        self.emit(s.value)  # pure: only checks that it translates; LLVM deletes it

    def stmt_AttrStmt(self, s: ir.AttrStmt) -> None:
        self.emit_stmt(s.body)  # pragmas and scopes carry no meaning for the CPU

    def stmt_Store(self, s: ir.Store) -> None:
        self.store(s.buffer, s.index, s.value, None)

    def stmt_MaskedStore(self, s) -> None:
        self.store(s.buffer, s.index, s.value, s.mask)

    def stmt_BufferStore(self, s: ir.BufferStore) -> None:
        raise CodegenError(f"BufferStore to '{s.buffer.name}' reached the LLVM backend; "
                           f"flatten the storage (lower the function) first")

    def stmt_LetStmt(self, s: ir.LetStmt) -> None:
        if s.var.dtype != s.value.dtype:
            raise CodegenError(f"let {s.var.name}: variable is {s.var.dtype} but the value is "
                               f"{s.value.dtype}")
        data = self.emit(s.value)
        index = None
        if scalar_of(s.var.dtype) in INDEX_DTYPES and lanes_of(s.var.dtype) == 1 \
                and not contains_load(s.value):
            index = self.index(s.value)
        self._scoped_var(s.var, Binding(data, index), s.body)

    def stmt_IfThenElse(self, s: ir.IfThenElse) -> None:
        cond = self.emit(s.cond)
        if cond.type != ll.IntType(1):
            raise CodegenError(f"IfThenElse condition must be a scalar bool, got "
                               f"{s.cond.dtype}: {s.cond!r}")
        then_bb = self.fn.append_basic_block("then")
        else_bb = self.fn.append_basic_block("else") if s.else_case is not None else None
        merge = self.fn.append_basic_block("endif")
        self.b.cbranch(cond, then_bb, else_bb or merge)
        self.b.position_at_end(then_bb)
        self.emit_stmt(s.then_case)
        self.b.branch(merge)
        if else_bb is not None:
            self.b.position_at_end(else_bb)
            self.emit_stmt(s.else_case)
            self.b.branch(merge)
        self.b.position_at_end(merge)

    def check_status(self, rc: ll.Value) -> None:
        """Return ``rc`` from the function if it is non-zero."""
        fail = self.fn.append_basic_block("fail")
        cont = self.fn.append_basic_block("ok")
        self.b.cbranch(self.b.icmp_signed("!=", rc, ll.Constant(rc.type, 0)), fail, cont)
        ll.IRBuilder(fail).ret(rc)
        self.b.position_at_end(cont)

    # ------------------------------------------------------------------ loops
    def stmt_For(self, s: ir.For) -> None:
        if s.kind == "parallel" and not self.in_chunk:
            self.parallel_for(s)
            return
        lo = self.index(s.min)
        hi = self.index_binop("add", lo, self.index(s.extent))
        self.loop(s.var, lo, hi, s.body)

    def loop(self, var: ir.Var, lo: ll.Value, hi: ll.Value, body: ir.Stmt) -> None:
        """``for var in [lo, hi): body`` with i64 bounds ``lo``, ``hi``."""
        b = self.b
        clo, chi = int_const(lo), int_const(hi)
        if clo is not None and chi is not None and chi <= clo:
            return
        body_bb = self.fn.append_basic_block(f"for_{var.name}")
        exit_bb = self.fn.append_basic_block(f"for_{var.name}_end")
        pre = b.block
        if clo is not None and chi is not None:
            b.branch(body_bb)
        else:
            b.cbranch(b.icmp_signed("<", lo, hi), body_bb, exit_bb)
        b.position_at_end(body_bb)
        phi = b.phi(I64, name=var.name)
        phi.add_incoming(lo, pre)
        if scalar_of(var.dtype) not in INDEX_DTYPES:
            raise CodegenError(f"loop variable '{var.name}' has dtype {var.dtype}; loops "
                               f"count in int32, int64 or uint32")
        data = phi if llvm_type(var.dtype) == I64 else b.trunc(phi, llvm_type(var.dtype))
        self._scoped_var(var, Binding(data, phi), body)
        nxt = b.add(phi, ll.Constant(I64, 1), flags=("nsw",))
        phi.add_incoming(nxt, b.block)
        b.cbranch(b.icmp_signed("<", nxt, hi), body_bb, exit_bb)
        b.position_at_end(exit_bb)

    # ------------------------------------------------------------------ allocation
    def alloca(self, t: ll.Type, name: str) -> ll.Value:
        """A 64-byte aligned stack slot in the entry block, typed as an opaque ``ptr``."""
        p = self.entry_b.alloca(t, name=name)
        p.align = HEAP_ALIGN
        p.type = PTR  # llvmlite would otherwise treat it as a typed pointer
        return p

    def stmt_Allocate(self, s: ir.Allocate) -> None:
        buf = s.buffer
        et = mem_type(buf.dtype)
        size = ir.IntImm(1, "int64")
        for d in buf.shape:
            d = d if isinstance(d, ir.Expr) else ir.IntImm(int(d), "int64")
            d = d if d.dtype == "int64" else ir.Cast("int64", d)
            size = ir.BinOp("mul", size, d)
        n = int_const(self.index(size))
        limit = LOCAL_STACK_LIMIT if buf.scope == "local" else STACK_LIMIT
        if n is not None and n * itemsize(buf.dtype) <= limit:
            p = self.alloca(ll.ArrayType(et, max(n, 1)), buf.name)
            self._scoped_buffer(buf, p, s.body)
            return
        b = self.b
        nbytes = self.index_binop("mul", self.index(size), ll.Constant(I64, itemsize(buf.dtype)))
        nbytes = b.add(nbytes, ll.Constant(I64, HEAP_ALIGN), flags=("nsw",))  # never 0
        nbytes = b.and_(nbytes, ll.Constant(I64, -HEAP_ALIGN))
        alloc = self.mod.declare("aligned_alloc", PTR, [I64, I64])
        p = b.call(alloc, [ll.Constant(I64, HEAP_ALIGN), nbytes], name=buf.name)
        fail = self.fn.append_basic_block("oom")
        cont = self.fn.append_basic_block("allocated")
        b.cbranch(b.icmp_unsigned("==", p, ll.Constant(PTR, None)), fail, cont)
        ll.IRBuilder(fail).ret(ll.Constant(I32, STATUS_OOM))
        b.position_at_end(cont)
        self._scoped_buffer(buf, p, s.body)
        self.b.call(self.mod.declare("free", ll.VoidType(), [PTR]), [p])

    # ------------------------------------------------------------------ parallel loops
    def parallel_for(self, s: ir.For) -> None:
        """Outline ``s`` into a chunk function and launch it on the worker threads."""
        captures = []  # (kind, key, llvm type, value in this function)
        for buf in accessed_buffers(s.body):
            captures.append(("buf", buf, PTR, self.buffer_ptr(buf)))
        for var in unbound_vars(s.body):
            if var is s.var:
                continue
            bnd = self.vars.get(var)
            if bnd is None:
                self.emit_Var(var)  # raises the unbound-variable error
            data = bnd.data if bnd.data is not None else self.emit_Var(var)
            captures.append(("data", var, data.type, data))
            if bnd.index is not None:
                captures.append(("index", var, I64, bnd.index))
        wrapper_name, body_name = self.mod.new_chunk(self.fn.name)
        module = self.mod.module

        # the body: (begin, end, captured...) with noalias buffer pointers
        body_fn = ll.Function(module, ll.FunctionType(I32, [I64, I64] + [c[2] for c in captures]),
                              name=body_name)
        body_fn.linkage = "internal"
        body_fn.attributes.add("nounwind")
        sub = FunctionEmitter(self.mod, body_fn, self.func_name, in_chunk=True)
        for arg, (kind, key, _t, _v) in zip(body_fn.args[2:], captures):
            if kind == "buf":
                if self.mod.noalias:
                    arg.add_attribute("noalias")
                sub.bufs[key] = arg
            elif kind == "data":
                sub.vars[key] = Binding(arg, None)
            else:
                sub.vars[key].index = arg
        sub.loop(s.var, body_fn.args[0], body_fn.args[1], s.body)
        sub.finish()

        # the wrapper the runtime calls: (begin, end, closure)
        st = ll.LiteralStructType([c[2] for c in captures])
        wrapper = ll.Function(module, ll.FunctionType(I32, [I64, I64, PTR]), name=wrapper_name)
        wrapper.attributes.add("nounwind")
        wb = ll.IRBuilder(wrapper.append_basic_block("entry"))
        values = []
        for k, c in enumerate(captures):
            slot = wb.gep(wrapper.args[2], [ll.Constant(I32, 0), ll.Constant(I32, k)],
                          inbounds=True, source_etype=st)
            values.append(wb.load(slot, typ=c[2]))
        wb.ret(wb.call(body_fn, [wrapper.args[0], wrapper.args[1]] + values))

        # the launch
        closure = self.alloca(st, "closure")
        for k, c in enumerate(captures):
            slot = self.b.gep(closure, [ll.Constant(I32, 0), ll.Constant(I32, k)],
                              inbounds=True, source_etype=st)
            self.b.store(c[3], slot)
        lo = self.index(s.min)
        hi = self.index_binop("add", lo, self.index(s.extent))
        launch = self.mod.declare("vdla_parallel_launch", I32, [PTR, PTR, I64, I64])
        self.check_status(self.b.call(launch, [wrapper, closure, lo, hi]))

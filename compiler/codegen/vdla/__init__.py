"""The accelerator code generator: a scheduled tensor computation to a VDLA program bundle.

    from compiler.codegen.vdla import build, target

    t = target(cfg)                       # scopes t.inp / t.wgt / t.acc, t.gemm(...), pragmas
    s = te.create_schedule(out)           # cache_read into t.inp/t.wgt, tiles,
    s[conv].set_scope(t.acc)              # accumulator stages (or t.set_scope(s[conv], "acc"))
    ...                                   # pragma "dma_copy"/"alu", tensorize(t.gemm(..)),
                                          # bind(axis, te.vthread(2))
    prog = build(s, [data, kernel, out], t)
    outs, report = prog.run(d, k)         # backend="sim" (default) or "rtl"
    print(prog.listing())                 # the assembly program

Files, in pipeline order (``pipeline.py`` has the pipeline function):

* ``target.py``   the target: memory scopes with capacities, the GEMM intrinsic, pragmas;
* ``storage.py``  SRAM offsets per allocation and virtual thread, in-place ALU aliasing,
  capacity errors;
* ``walk.py``     the compile-time walk of the loop IR; virtual threads as interleaved
  generators;
* ``emit.py``     innermost regions to instructions, using ``dma.py`` (LOAD/STORE planning),
  ``fold.py`` (micro-op kernels and the two loop levels), ``alu.py`` (ALU chains),
  ``lanes.py`` (scalars to elements) and ``evaluate.py`` (numpy evaluation of index grids);
* ``stream.py``   the instruction stream: dependency tokens and the micro-op cache;
* ``errors.py``   the error classes.
"""

from .pipeline import VdlaProgram, build, run_bundle
from .target import VdlaTarget, target

__all__ = ["VdlaProgram", "VdlaTarget", "build", "run_bundle", "target"]

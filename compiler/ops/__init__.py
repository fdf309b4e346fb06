"""Operator libraries: tensor-expression computations with default schedules, one subpackage
per target.

``compiler.ops.cpu``: every operator for the LLVM CPU backend (the fallback that runs what the
accelerator cannot); ``compiler.ops.vdla``: operators for the accelerator. Import the
subpackage you need; nothing is imported here.
"""

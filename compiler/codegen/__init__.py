"""Code generators: loop IR (``compiler.tir``) to machine code.

``compiler.codegen.llvm`` is the CPU backend (LLVM through llvmlite). The accelerator code
generator will live beside it.
"""

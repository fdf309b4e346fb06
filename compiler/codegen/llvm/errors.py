"""Exception classes of the LLVM CPU backend.

Hierarchy::

    CompilerError (compiler.errors)
      CodegenError        the loop IR cannot be translated (names the node and the function)
      ArgumentError       a compiled function was called with a wrong argument (names the
                          parameter, what was expected and what was given)
      KernelRuntimeError  the generated code reported a failure (out of memory, a failed
                          parallel launch)
"""

from __future__ import annotations

from compiler.errors import CompilerError


class CodegenError(CompilerError, ValueError):
    """The loop IR uses something the LLVM backend cannot translate."""


class ArgumentError(CompilerError, TypeError):
    """A compiled function was called with an argument that does not match its declaration."""


class KernelRuntimeError(CompilerError, RuntimeError):
    """The generated code returned a failure status."""

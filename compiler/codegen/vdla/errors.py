"""Errors of the accelerator code generator (each names what, where and how to fix it)."""

from __future__ import annotations

from ...errors import CompilerError, ScopeCapacityError


class VdlaCodegenError(CompilerError):
    """A lowered function that the accelerator code generator cannot turn into instructions."""


class VdlaPatternError(VdlaCodegenError):
    """A DMA, GEMM or ALU region whose statement does not match what the hardware can do."""


class VdlaCapacityError(ScopeCapacityError):
    """The buffers live at one point of the program (all virtual threads) overflow an SRAM.

    ``needed`` counts every buffer of the scope live at that point, including the copies of
    the virtual threads; ``detail`` lists them.
    """

    def __init__(self, tensor: str, scope: str, needed: int, available: int,
                 detail: str = "") -> None:
        super().__init__(tensor, scope, needed, available)
        self.args = (f"buffer '{tensor}' needs {needed} bytes in scope '{scope}', which has "
                     f"{available} bytes" + (f" (live buffers: {detail})" if detail else "")
                     + "; use smaller tiles or fewer virtual threads",)


class VdlaBackendError(CompilerError):
    """A backend that cannot run the program (unknown name, or its tools are missing)."""

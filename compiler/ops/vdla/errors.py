"""Errors of the accelerator operator library (each names the operator and the attribute)."""

from __future__ import annotations

from ...errors import CompilerError


class VdlaOpError(CompilerError, ValueError):
    """An operator attribute, shape or tiling the accelerator library does not support."""

"""Errors of the quantizer."""

from __future__ import annotations

from ..errors import CompilerError


class QuantizeError(CompilerError, ValueError):
    """Calibration or quantization cannot proceed (wrong samples, unsupported graph)."""


__all__ = ["QuantizeError"]

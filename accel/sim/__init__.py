"""The cycle-accurate Python simulator of the VDLA machine (accel/isa/SPEC.md)."""

from .simulator import SimResult, simulate

__all__ = ["SimResult", "simulate"]

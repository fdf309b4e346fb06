"""Run a program bundle on a backend: ``run_bundle(bundle, backend="sim" | "rtl")``.

``"sim"`` is the cycle-accurate Python simulator (``accel.sim.simulate``); ``"rtl"`` the
Verilog accelerator under Verilator (``accel.hw.runner.run_rtl``). Both return a result with
``.dram``, ``.read(name)``, ``.report``, ``.timeline`` and ``.wall_seconds``, and agree bit for
bit and cycle for cycle (``vdla crosscheck``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accel.isa.bundle import Bundle
from accel.isa.errors import VdlaError

BACKENDS = ("sim", "rtl")


class UnknownBackendError(VdlaError, ValueError):
    """A backend name that is not one of BACKENDS."""


def run_bundle(bundle: Bundle, backend: str = "sim", trace: str | Path | None = None,
               vcd: str | Path | None = None) -> Any:
    """Run ``bundle`` on ``backend``; ``trace`` writes a Chrome trace, ``vcd`` (RTL only) a
    waveform."""
    if backend == "sim":
        if vcd is not None:
            raise UnknownBackendError("vcd= needs backend='rtl' (the simulator has no waveform)")
        from accel.sim import simulate
        return simulate(bundle, trace=trace)
    if backend == "rtl":
        from accel.hw.runner import run_rtl
        return run_rtl(bundle, vcd=vcd, trace=trace)
    raise UnknownBackendError(f"unknown backend {backend!r}; expected one of "
                              + ", ".join(repr(b) for b in BACKENDS))

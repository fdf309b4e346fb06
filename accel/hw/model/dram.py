"""The DRAM port model of SPEC.md 6.3 for cocotb testbenches (the C++ testbench has the same).

A read beat issued in cycle c returns its data in cycle c+L; a write beat is written in cycle
c and acknowledged in cycle c+L. ``step`` is called once per cycle with the beat the design
issues in that cycle and returns the response for that cycle.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class DramModel:
    def __init__(self, image: np.ndarray, latency: int, bus_bytes: int) -> None:
        self.mem = np.array(image, dtype=np.uint8, copy=True)
        self.latency = latency
        self.bus = bus_bytes
        self.pipe: deque = deque([None] * latency)
        self.beats: list[tuple[int, bool, int, int]] = []  # (cycle, write, addr, nbytes)

    def response(self):
        """What the DRAM presents in this cycle: None, ("read", data) or ("ack",)."""
        return self.pipe[0]

    def step(self, cycle: int, beat: tuple[bool, int, int, int] | None) -> None:
        """Accept this cycle's beat (write, addr, nbytes, wdata) and advance one cycle."""
        out = None
        if beat is not None:
            write, addr, nbytes, wdata = beat
            assert 0 <= addr and addr + nbytes <= len(self.mem), (addr, nbytes)
            self.beats.append((cycle, write, addr, nbytes))
            if write:
                self.mem[addr:addr + nbytes] = np.frombuffer(
                    int(wdata).to_bytes(self.bus, "little")[:nbytes], np.uint8)
                out = ("ack",)
            else:
                raw = bytes(self.mem[addr:addr + nbytes]) + bytes(self.bus - nbytes)
                out = ("read", int.from_bytes(raw, "little"))
        self.pipe.popleft()
        self.pipe.append(out)

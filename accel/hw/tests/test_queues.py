"""cocotb: the token queue (vdla_tokq) and command queue (vdla_cmdq), depth 3, under random
pushes and pops, against a Python model of SPEC.md 6.1/6.2: the state is registered, so an
entry pushed in cycle c is visible from c+1 and a slot freed in cycle c is usable from c+1."""

from __future__ import annotations

import random
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer

DEPTH = 3


class Model:
    def __init__(self) -> None:
        self.tokens = 0
        self.fifo: deque[int] = deque()


@cocotb.test()
async def queues_match_model(dut):
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for sig in (dut.t_push, dut.t_pop, dut.c_push, dut.c_pop, dut.c_din):
        sig.value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    model, rng = Model(), random.Random(random.getrandbits(32))
    for cycle in range(2000):
        await FallingEdge(dut.clk)
        await Timer(1, "ns")
        # Monitor + Checker: the outputs reflect the model's registered state
        assert bool(dut.t_can_pop.value) == (model.tokens > 0), cycle
        assert bool(dut.t_can_push.value) == (model.tokens < DEPTH), cycle
        assert int(dut.t_count.value) == model.tokens, cycle
        assert bool(dut.c_valid.value) == bool(model.fifo), cycle
        assert bool(dut.c_full.value) == (len(model.fifo) == DEPTH), cycle
        if model.fifo:
            assert int(dut.c_dout.value) == model.fifo[0], cycle
        # Driver: legal random traffic (no pop of an empty queue, no push into a full one)
        bias = 0.7 if (cycle // 200) % 2 else 0.3
        t_push = model.tokens < DEPTH and rng.random() < bias
        t_pop = model.tokens > 0 and rng.random() < 1 - bias
        c_push = len(model.fifo) < DEPTH and rng.random() < bias
        c_pop = bool(model.fifo) and rng.random() < 1 - bias
        din = rng.getrandbits(16)
        dut.t_push.value, dut.t_pop.value = int(t_push), int(t_pop)
        dut.c_push.value, dut.c_pop.value, dut.c_din.value = int(c_push), int(c_pop), din
        # Model: effects visible from the next cycle
        model.tokens += int(t_push) - int(t_pop)
        if c_pop:
            model.fifo.popleft()
        if c_push:
            model.fifo.append(din)

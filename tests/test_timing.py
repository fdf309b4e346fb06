"""SPEC.md section 6 on hand-computed examples.

Every expected number below is derived by hand from the formulas of section 6 (the derivation is
in the comments); none is read back from the simulator.
"""

import json

import numpy as np
import pytest

from accel.isa.config import HardwareConfig
from accel.isa.program import ProgramBuilder
from accel.sim import simulate

L = 32  # default DRAM_LATENCY


def build(cfg=None):
    p = ProgramBuilder(cfg or HardwareConfig())
    p.alloc("data", np.zeros(1 << 16, np.uint8))
    return p


def test_single_load():
    p = build()
    p.load("inp", 0, 0, 1, 4)     # 4 x 16 B = 64 B = 8 beats
    p.finish()
    tl = simulate(p.bundle()).timeline
    # F0 = 0; Q0 = F0+1 = 1; S0 = 1; R = S + PAD = 1; G = 1; X = G + B - 1 + L = 1+8-1+32 = 40
    got = (tl.F[0], tl.Q[0], tl.S[0], tl.R[0], tl.G[0], tl.X[0], tl.P[0])
    assert got == (0, 1, 1, 1, 1, 40, 40)
    # FINISH on compute: F1 = 1, Q = 2, S = 2, X = S = 2; total = max P + 1 = 41
    assert (tl.F[1], tl.S[1], tl.X[1]) == (1, 2, 2)
    assert tl.total_cycles == 41


def test_padding_cost_and_beats():
    p = build()
    p.load("inp", 0, 0, 2, 3, stride=5, pad=(1, 1, 1, 1))
    p.finish()
    tl = simulate(p.bundle()).timeline
    # H = 4, W = 5; PAD = (1+1)*5 + 2*(1+1) = 14; R = S + 14 = 15
    # B = 2 rows * ceil(3*16/8) = 12; X = 15 + 12 - 1 + 32 = 58
    assert (tl.S[0], tl.R[0], tl.G[0], tl.X[0]) == (1, 15, 15, 58)
    assert tl.beats[0] == 12


def test_zero_size_load_writes_only_padding():
    p = build()
    p.load("inp", 0, 0, 0, 0, pad=(1, 0, 2, 0))   # H=1, W=2: PAD = 1*2 + 0 = 2 cycles
    p.load("wgt", 0, 0, 0, 0)                     # nothing at all: 1 cycle
    p.finish()
    tl = simulate(p.bundle()).timeline
    assert tl.R[0] == -1 and tl.X[0] == tl.S[0] + 2 - 1
    # the second load dequeues at N0 = P0 + 1 = X0 + 1 and lasts one cycle
    assert tl.S[1] == tl.X[0] + 1 and tl.X[1] == tl.S[1]


def test_bus_priority_and_latency_overlap():
    p = build()
    p.load("inp", 0, 0, 1, 2, pad=(0, 0, 1, 0))  # load: S=1, PAD=1 -> R=2, B=4
    p.load("uop", 0, 0, 1, 4)                    # compute: F=1, S=2, R=2, B=ceil(16/8)=2
    p.load("wgt", 0, 0, 1, 1)                    # load: after the first load retires
    p.finish()
    tl = simulate(p.bundle()).timeline
    # both request in cycle 2; COMPUTE has priority: G_uop = 2, bus free at 4
    assert (tl.R[0], tl.R[1], tl.G[1], tl.G[0]) == (2, 2, 2, 4)
    assert tl.X[1] == 2 + 2 - 1 + L and tl.X[0] == 4 + 4 - 1 + L
    # wgt: Q = N0 = X0 + 1 = 40; S = R = G = 40 (bus free since 8); B = 256/8 = 32
    assert (tl.S[2], tl.G[2], tl.X[2]) == (40, 40, 40 + 32 - 1 + L)


def test_pipelined_transfers_share_the_bus():
    p = build()
    p.load("uop", 0, 0, 1, 16)   # compute module: B = 64/8 = 8
    p.load("inp", 0, 0, 1, 8)    # load module:    B = 128/8 = 16
    p.finish()
    tl = simulate(p.bundle()).timeline
    # uop (compute): F=0, S=1, G=1 -> bus busy [1, 8]; inp (load): F=1, S=2, R=2, G=9
    assert tl.G[0] == 1 and tl.G[1] == 9
    assert tl.X[0] == 1 + 8 - 1 + L
    assert tl.X[1] == 9 + 16 - 1 + L  # its latency overlaps the first's: not behind X[0]=40
    r = simulate(p.bundle()).report
    assert r.modules["load"]["wait_dram"] == 9 - 2


def test_gemm_and_alu_duration():
    p = build()
    p.gemm(0, 3, 4, 5)   # n_iter = 4*5*3 = 60 -> X = S + 62
    p.alu("add", 0, 2, 1, 7, imm=1)   # n_iter = 14 -> X = S + 16
    p.finish()
    tl = simulate(p.bundle()).timeline
    assert tl.S[0] == 1 and tl.X[0] == 1 + 60 + 2
    assert tl.S[1] == tl.X[0] + 1 and tl.X[1] == tl.S[1] + 14 + 2
    assert tl.total_cycles == tl.X[2] + 1 == tl.X[1] + 2


def test_token_wait():
    p = build()
    p.load("inp", 0, 0, 1, 4, push_next=True)   # X = P = 40 (as in test_single_load)
    p.gemm(0, 1, pop_prev=True)                 # can pop at P + 1 = 41
    p.finish()
    r = simulate(p.bundle())
    tl = r.timeline
    assert (tl.Q[1], tl.S[1]) == (2, 41)
    assert r.report.modules["compute"]["wait_token"] == 41 - 2


def test_token_queue_full_stalls_the_pusher():
    cfg = HardwareConfig(token_queue_depth=1)
    p = build(cfg)
    p.load("inp", 0, 0, 0, 0, push_next=True)    # S=1, X=1, push at 1
    p.load("inp", 0, 0, 0, 0, push_next=True)    # S=2, X=2: queue holds 1 token -> full
    p.gemm(0, 10, pop_prev=True)                 # F=2, Q=3, pops token 0 at S=3 (push 1 + 1... )
    p.gemm(0, 1, pop_prev=True)
    p.finish()
    r = simulate(p.bundle())
    tl = r.timeline
    assert tl.P[0] == 1
    assert tl.S[2] == 3                       # max(Q=3, push0+1=2)
    # second push needs pop #0 (at cycle 3) to have happened: P1 = max(X1=2, 3+1) = 4
    assert (tl.X[1], tl.P[1]) == (2, 4)
    assert r.report.modules["load"]["wait_push"] == 2
    # second GEMM: compute free at N = X2 + 1 = 3 + 12 + 1 = 16; token pushed at 4 -> S = 16
    assert tl.S[3] == 3 + 10 + 2 + 1


def test_command_queue_full_stalls_fetch():
    cfg = HardwareConfig(cmd_queue_depth=1)
    p = build(cfg)
    p.gemm(0, 1, 1, 10)   # 10 iterations: S=1, X=13
    p.gemm(0, 1)          # k=1 >= QC=1: F >= Q(gemm 0) + 1 = 2
    p.gemm(0, 1)          # F >= Q(gemm 1) + 1, Q(gemm1) = N0 = 14 -> F = 15
    p.finish()
    r = simulate(p.bundle())
    tl = r.timeline
    assert list(tl.F[:3]) == [0, 2, 15]
    assert tl.Q[1] == 14 and tl.F[3] == max(tl.F[2] + 1, tl.Q[2] + 1)
    assert r.report.fetch_stall_full == int(np.sum(np.diff(np.r_[-1, tl.F]) - 1))


def test_counters_partition_total_cycles():
    p = build()
    p.load("inp", 0, 0, 4, 16, push_next=True)
    p.gemm(0, 4, 2, 2, pop_prev=True, push_next=True)
    p.store(0, 100, 1, 2, pop_prev=True)
    p.finish()
    rep = simulate(p.bundle()).report
    for name, c in rep.modules.items():
        parts = sum(c[k] for k in ("busy", "wait_dram", "wait_token", "wait_push", "wait_cmd",
                                   "idle"))
        assert parts == rep.cycles, name
    assert rep.dram_bytes_read == 4 * 16 * 16 and rep.dram_bytes_written == 2 * 16


def test_trace_has_one_track_per_module(tmp_path):
    p = build()
    p.load("inp", 0, 0, 1, 4, push_next=True)
    p.gemm(0, 1, pop_prev=True, push_next=True)
    p.store(0, 64, 1, 1, pop_prev=True)
    p.finish()
    path = tmp_path / "t.json"
    res = simulate(p.bundle(), trace=path)
    doc = json.loads(path.read_text())
    names = {e["args"]["name"] for e in doc["traceEvents"] if e.get("name") == "thread_name"}
    assert names == {"fetch", "load", "compute", "store", "dram bus"}
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["tid"] in (1, 2, 3)
              and not e["name"].startswith("wait")]
    assert len(slices) == 4
    gemm = next(e for e in slices if e["name"] == "GEMM")
    assert gemm["ts"] == res.timeline.S[1] and gemm["dur"] == 1 + 3
    assert doc["otherData"]["cycles"] == res.report.cycles


@pytest.mark.parametrize("latency, bus", [(1, 8), (100, 8), (32, 64)])
def test_timing_knobs_move_cycles(latency, bus):
    cfg = HardwareConfig(dram_latency=latency, dram_bus_bytes=bus)
    p = build(cfg)
    p.load("wgt", 0, 0, 1, 4)   # 1024 B
    p.finish()
    tl = simulate(p.bundle()).timeline
    assert tl.X[0] == 1 + 1024 // bus - 1 + latency


def test_tokens_let_load_overlap_compute():
    """Double buffering: the load of buffer half 1 runs while the GEMM on half 0 executes,
    and removing the overlap (serial tokens) costs exactly the hidden load time."""
    def program(serial: bool):
        p = build()
        p.load("inp", 0, 0, 1, 64, push_next=True)             # half 0: X = 1 + 128 - 1 + 32
        if serial:
            p.gemm(0, 1, 1, 200, pop_prev=True, push_prev=True)
            p.load("inp", 64, 0, 1, 64, pop_next=True, push_next=True)
            p.gemm(0, 1, 1, 200, pop_prev=True)
        else:
            p.load("inp", 64, 0, 1, 64, push_next=True)        # half 1: no wait for compute
            p.gemm(0, 1, 1, 200, pop_prev=True)
            p.gemm(0, 1, 1, 200, pop_prev=True)
        p.finish()
        return simulate(p.bundle()).timeline

    tl = program(serial=False)
    # load 0: G = 1, B = 64*16/8 = 128, X = 1 + 128 - 1 + 32 = 160. The LOAD module runs one
    # instruction at a time, so load 1 starts at N = 161: G = 161, X = 161 + 128 - 1 + 32.
    # GEMM 0 pops load 0's token at 161 and runs 200 + 3 cycles to 363: load 1 is hidden.
    assert tl.X[0] == 160 and tl.G[1] == 161 and tl.X[1] == 161 + 128 - 1 + 32
    assert tl.S[2] == 161 and tl.X[2] == 161 + 202
    assert tl.S[1] < tl.X[2]                                   # load and compute overlap
    assert tl.S[3] == tl.X[2] + 1                              # no stall between the GEMMs
    serial = program(serial=True)
    # serial: load 1 waits for GEMM 0's push (363): S = 364, X = 364 + 159, GEMM 1 at X + 1
    assert serial.S[2] == 364 and serial.S[3] == 364 + 160
    assert serial.total_cycles - tl.total_cycles == (364 + 160) - (363 + 1)

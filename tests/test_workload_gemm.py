"""The blocked GEMM workload (accel/isa/workloads/gemm.py) on the Python simulator.

Every output is compared exactly with the numpy reference; cycle counts are compared with the
workload's hand model of SPEC.md section 6 where that model is exact. Requantization is one
RSHR per tile; the clip to the output range is the STORE's saturation (SPEC.md 5.4).
"""

import numpy as np
import pytest

from accel.isa.config import HardwareConfig
from accel.isa.workloads import (
    GemmResultError,
    GemmTiling,
    GemmTilingError,
    build_gemm,
    default_tiling,
    gemm_reference,
)
from accel.isa.workloads.gemm import pack_inp, pack_wgt, unpack_out
from accel.sim import simulate

DEFAULT = HardwareConfig()
SMALL = HardwareConfig(log_block_in=3, log_block_out=3, log_inp_buff_size=14,
                       log_wgt_buff_size=16, log_acc_buff_size=16, name="small8x8")
BATCH2 = HardwareConfig(log_batch=1, name="batch2")
CONFIGS = [DEFAULT, SMALL, BATCH2]
VARIANTS = ("serial", "overlap")


def run(cfg, m, n, k, variant, **kw):
    wl = build_gemm(cfg, m, n, k, variant=variant, **kw)
    result = simulate(wl.bundle)
    wl.check(result)
    assert result.report.macs == m * n * k == wl.macs
    return wl, result


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mnk", [(64, 64, 64), (32, 48, 64)], ids=lambda s: "x".join(map(str, s)))
def test_matches_numpy(cfg, variant, mnk):
    wl, result = run(cfg, *mnk, variant)
    np.testing.assert_array_equal(wl.output(result), wl.expected)
    assert wl.output(result).shape == mnk[:2]
    # not a degenerate test: outputs are spread out, and only rarely saturated
    assert len(np.unique(wl.expected)) > 20
    assert np.mean(np.abs(wl.expected.astype(int)) >= 127) < 0.1


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_overlap_beats_serial(cfg):
    # several tiles and several chunks per tile, so there is something to overlap
    m, n, k = 16 * cfg.batch, 4 * cfg.block_out, 8 * cfg.block_in
    tile = {"rows": 8 * cfg.batch, "out_blocks": 2, "k_blocks": 2}
    serial, rs = run(cfg, m, n, k, "serial", tile=tile)
    overlap, ro = run(cfg, m, n, k, "overlap", tile=tile)
    assert ro.report.cycles < rs.report.cycles
    # the serial program is a strict chain: the hand model is exact
    assert serial.predicted_cycles() == rs.report.cycles
    assert overlap.predicted_cycles() <= ro.report.cycles


def test_hand_model_exact_when_compute_bound():
    # the default tiling of the 1024^3 benchmark, on 4 tiles of 4 chunks
    tile = {"rows": 128, "out_blocks": 8, "k_blocks": 8}
    for variant in VARIANTS:
        wl, result = run(DEFAULT, 256, 256, 512, variant, tile=tile)
        assert wl.predicted_cycles() == result.report.cycles


def test_default_problem_reaches_target_utilization():
    assert default_tiling(DEFAULT, 1024, 1024, 1024) == GemmTiling(128, 8, 8)
    wl, result = run(DEFAULT, 1024, 1024, 1024, "overlap")
    assert result.report.gemm_utilization >= 0.90
    # hand computation (SPEC.md section 6), derived in predicted_cycles():
    # GEMM 0 starts at 1 + 18 (uop beats) + 2048 + 32 + 2048 + 32 = 4179; COMPUTE is then busy
    # for 8*8195 + 1027 (tile 0: GEMMs, RSHR) + 63 * (1027 + 8*8195 + 1027) cycles (reset,
    # GEMMs, RSHR); the last STORE takes 2048 beats + 32 latency.
    assert result.report.cycles == 4179 + 66587 + 63 * 67614 + 2080 == 4_332_528


def test_ragged_tiles_and_tiny_queues():
    # tiles that do not divide the problem, queues of depth 1, a one-byte bus
    cfg = HardwareConfig(log_batch=1, log_block_in=2, log_block_out=3, log_wgt_buff_size=14,
                         cmd_queue_depth=1, token_queue_depth=1, dram_bus_bytes=1,
                         dram_latency=1)
    for variant in VARIANTS:
        run(cfg, 10, 40, 20, variant, tile={"rows": 4, "out_blocks": 2, "k_blocks": 2})


def test_narrow_accumulator_wraps_like_numpy():
    # 16-bit accumulators wrap; the reference models the wrap exactly
    cfg = HardwareConfig(log_acc_width=4, log_inp_width=4, log_acc_buff_size=15)
    for variant in VARIANTS:
        run(cfg, 32, 32, 64, variant, shift=4)


def test_requantization_is_one_rshr_per_tile():
    wl = build_gemm(SMALL, 32, 32, 32, tile={"rows": 16, "out_blocks": 2, "k_blocks": 2})
    alu = wl.bundle.insns[wl.bundle.insns["opcode"] == 4]  # SPEC.md section 3: ALU = 4
    assert len(alu) == len(wl.tiles) == 4
    assert (alu["alu_op"] == 5).all() and (alu["imm"] == wl.shift).all()  # RSHR


@pytest.mark.parametrize("cfg,shift", [(DEFAULT, 3), (HardwareConfig(log_inp_width=4), 0)],
                         ids=["int8", "int16"])
def test_store_saturation_clips_the_output(cfg, shift):
    # a small shift: many outputs beyond the OUT range on both sides, clipped by the STORE
    wl, result = run(cfg, 32, 32, 64, "overlap", shift=shift)
    lim = 1 << (cfg.out_width - 1)
    got = wl.output(result).astype(np.int64)
    assert (got == -lim).mean() > 0.1 and (got == lim - 1).mean() > 0.1
    assert ((got > -lim) & (got < lim - 1)).any()


def test_packing_layout():
    cfg = BATCH2
    a = np.arange(4 * 32).reshape(4, 32)
    pa = pack_inp(cfg, a)
    assert pa.shape == (2, 2, 2, 16)
    assert pa[1, 1, 0, 3] == a[2, 16 + 3]
    w = np.arange(32 * 48).reshape(32, 48)
    pw = pack_wgt(cfg, w)
    assert pw.shape == (2, 3, 16, 16)
    assert pw[1, 2, 5, 7] == w[16 + 5, 32 + 7]
    c = np.arange(4 * 32).reshape(2, 2, 2, 16)   # (m/BATCH, n/BLOCK_OUT, BATCH, BLOCK_OUT)
    assert unpack_out(c)[3, 17] == c[1, 1, 1, 1]


def test_reference_rounds_half_up_and_clips():
    a = np.array([[6], [-6], [5], [-5], [127]], dtype=np.int8)
    w = np.array([[1], [127]], dtype=np.int8)
    got = gemm_reference(a, w, 2)
    # RSHR 2: (x + 2) >> 2; 6 -> 2, -6 -> -1, 5 -> 1, -5 -> -1; then clip to int8
    assert got[:, 0].tolist() == [2, -1, 1, -1, 32]
    assert got[:, 1].tolist() == [127, -128, 127, -128, 127]


def test_check_reports_a_mismatch():
    wl, result = run(SMALL, 16, 16, 16, "serial")
    dram = result.dram.copy()
    dram[wl.bundle.region("C").offset] ^= 1
    with pytest.raises(GemmResultError, match=r"1 of 256 outputs differ.*C\[0, 0\]"):
        wl.check(dram)


def test_tiling_that_does_not_fit():
    with pytest.raises(GemmTilingError, match=r"input buffer \(INP\): it needs 65536 bytes "
                       r".* has 32768 bytes"):
        build_gemm(DEFAULT, 1024, 1024, 1024, tile={"rows": 256, "k_blocks": 8})
    with pytest.raises(ValueError, match=r"accumulator \(ACC\): it needs 262144 bytes"):
        build_gemm(DEFAULT, 1024, 1024, 1024, tile={"rows": 256, "out_blocks": 8,
                                                    "k_blocks": 1})
    # the serial variant has one copy of each buffer, so the same tile fits there
    build_gemm(DEFAULT, 256, 128, 16, variant="serial",
               tile={"rows": 256, "out_blocks": 8, "k_blocks": 1})
    with pytest.raises(GemmTilingError, match=r"micro-op buffer \(UOP\)"):
        build_gemm(HardwareConfig(log_uop_buff_size=8), 16, 16, 16 * 64,
                   tile={"rows": 1, "out_blocks": 1, "k_blocks": 32})
    with pytest.raises(GemmTilingError, match="LOOP_ITER_WIDTH"):
        build_gemm(HardwareConfig(loop_iter_width=4), 64, 16, 16, tile={"rows": 32})
    with pytest.raises(GemmTilingError, match="multiple of BLOCK_OUT=16"):
        build_gemm(DEFAULT, 16, 24, 16)
    with pytest.raises(GemmTilingError, match="unknown tile key"):
        build_gemm(DEFAULT, 16, 16, 16, tile={"row": 16})

"""Random legal programs (accel/isa/randprog.py): simulator vs the independent reference.

Every program from ``random_program`` must pass ``validate``, and ``simulate`` must produce
exactly the final DRAM image of ``tests/reference.py`` and the DRAM byte counts and MACs of
SPEC.md sections 5.5 and 6.6, computed here from the instruction fields. The tests without the
simulator check the generator itself: determinism, encodability and race-freedom (the reference
gives the same image under random token-respecting interleavings).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import MEM_NAMES, run_reference

from accel.isa.bundle import Bundle
from accel.isa.config import HardwareConfig
from accel.isa.randprog import random_program
from accel.isa.validate import validate
from accel.sim import simulate

CONFIGS = {
    "default": HardwareConfig(),
    "small8x8": HardwareConfig(log_block_in=3, log_block_out=3, log_inp_buff_size=14,
                               log_wgt_buff_size=16, log_acc_buff_size=16, name="small8x8"),
    # LOG_WGT_BUFF_SIZE=18 with these knobs would need 33-bit micro-ops (11+11+11 bits).
    "batch2": HardwareConfig(log_batch=1, log_block_out=3, log_wgt_buff_size=17, name="batch2"),
    # int16 accumulators and weights, spare micro-op bits, one-token queues, tiny command queues.
    "narrow": HardwareConfig(log_batch=1, log_block_in=2, log_block_out=2, log_wgt_width=4,
                             log_acc_width=4, log_uop_buff_size=10, log_inp_buff_size=9,
                             log_wgt_buff_size=9, log_acc_buff_size=9, token_queue_depth=1,
                             cmd_queue_depth=2, dram_bus_bytes=4, dram_latency=3,
                             name="narrow"),
}
PARAMS = pytest.mark.parametrize("cfg", list(CONFIGS.values()), ids=list(CONFIGS))
PROGRAMS = {"seed": st.integers(0, 2**64 - 1), "overlap": st.booleans(),
                "n_insns": st.integers(4, 60)}


def make(cfg: HardwareConfig, seed: int, overlap: bool, n_insns: int) -> Bundle:
    return random_program(np.random.default_rng(seed), cfg, n_insns=n_insns, overlap=overlap)


def expected_counters(bundle: Bundle) -> dict[str, int]:
    """dram_bytes_read/written (SPEC 6.6) and macs (SPEC 5.5) from the instruction fields."""
    cfg = bundle.config
    read = written = macs = 0
    for ins in bundle.insns:
        op = int(ins["opcode"])
        if op in (0, 1):  # LOAD, STORE
            nbytes = int(ins["y_size"]) * int(ins["x_size"]) * cfg.elem_bytes(
                MEM_NAMES[int(ins["mem_type"])])
            if op == 0:
                read += nbytes
            else:
                written += nbytes
        elif op == 2 and not ins["reset"]:  # GEMM
            n_iter = (int(ins["iter_out"]) * int(ins["iter_in"])
                      * (int(ins["uop_end"]) - int(ins["uop_bgn"])))
            macs += n_iter * cfg.batch * cfg.block_in * cfg.block_out
    return {"dram_bytes_read": read, "dram_bytes_written": written, "macs": macs}


def first_difference(bundle: Bundle, got: np.ndarray, want: np.ndarray) -> str:
    i = int(np.flatnonzero(got != want)[0])
    where = next((f"region {r.name!r} byte {i - r.offset}" for r in bundle.regions
                  if r.offset <= i < r.offset + r.size), "outside every region")
    n = int((got != want).sum())
    return f"{n} DRAM bytes differ; first at byte {i} ({where}): got {got[i]}, want {want[i]}"


def check_against_reference(bundle: Bundle) -> None:
    validate(bundle)
    result = simulate(bundle)
    want = run_reference(bundle)
    got = np.asarray(result.dram, dtype=np.uint8)
    assert got.shape == want.shape, "the simulator changed the size of the DRAM image"
    if not np.array_equal(got, want):
        pytest.fail(first_difference(bundle, got, want))
    report = result.report
    counters = expected_counters(bundle)
    assert report.dram_bytes_read == counters["dram_bytes_read"]
    assert report.dram_bytes_written == counters["dram_bytes_written"]
    assert report.macs == counters["macs"]
    assert np.array_equal(result.read("out"), bundle.read("out", want))


@PARAMS
@settings(max_examples=50)
@given(**PROGRAMS)
def test_random_program_matches_reference(cfg, seed, overlap, n_insns):
    check_against_reference(make(cfg, seed, overlap, n_insns))


@pytest.mark.slow
@PARAMS
@settings(max_examples=1000)
@given(seed=st.integers(0, 2**64 - 1), overlap=st.booleans(), n_insns=st.integers(4, 150))
def test_random_program_matches_reference_many(cfg, seed, overlap, n_insns):
    check_against_reference(make(cfg, seed, overlap, n_insns))


# ------------------------------------------------------------ the generator itself
@PARAMS
@settings(max_examples=25)
@given(**PROGRAMS)
def test_random_program_is_race_free(cfg, seed, overlap, n_insns):
    """Different token-respecting interleavings give the same final DRAM (no races)."""
    bundle = make(cfg, seed, overlap, n_insns)
    want = run_reference(bundle)
    for k in range(3):
        got = run_reference(bundle, rng=np.random.default_rng(k))
        if not np.array_equal(got, want):
            pytest.fail("interleaving-dependent result: " + first_difference(bundle, got, want))


@PARAMS
@settings(max_examples=25)
@given(**PROGRAMS)
def test_random_program_is_legal_and_deterministic(cfg, seed, overlap, n_insns):
    bundle = make(cfg, seed, overlap, n_insns)
    validate(bundle)
    data = bundle.to_bytes()
    assert make(cfg, seed, overlap, n_insns).to_bytes() == data
    again = Bundle.from_bytes(data)
    assert np.array_equal(again.insns, bundle.insns)
    assert bundle.insns["opcode"][-1] == 3 and (bundle.insns["opcode"] == 3).sum() == 1
    assert {r.name for r in bundle.regions} >= {"inp_data", "wgt_data", "acc_data", "uops",
                                                "out"}


def test_random_programs_cover_the_instruction_set():
    """Over a few programs every opcode, memory type, ALU operation and flag appears."""
    seen: set[tuple[str, int]] = set()
    for seed in range(30):
        for overlap in (False, True):
            insns = make(CONFIGS["default"], seed, overlap, 60).insns
            for ins in insns:
                op = int(ins["opcode"])
                seen.add(("opcode", op))
                if op in (0, 1):
                    seen.add(("mem_type", int(ins["mem_type"])))
                    seen.add(("padded", int(ins["x_pad_0"] + ins["x_pad_1"] + ins["y_pad_0"]
                                            + ins["y_pad_1"] > 0)))
                    seen.add(("zero_size", int(ins["y_size"] * ins["x_size"] == 0)))
                if op == 4:
                    seen.add(("alu_op", int(ins["alu_op"])))
                    seen.add(("use_imm", int(ins["use_imm"])))
                    seen.add(("negative_shift", int(ins["alu_op"] == 3 and ins["use_imm"] == 1
                                                    and ins["imm"] < 0)))
                if op in (2, 4):
                    seen.add(("reset", int(ins["reset"])))
                for f in ("pop_prev", "pop_next", "push_prev", "push_next"):
                    seen.add((f, int(ins[f])))
    want = ({("opcode", o) for o in range(5)} | {("mem_type", m) for m in range(5)}
            | {("alu_op", a) for a in range(7)}
            | {(k, v) for k in ("padded", "zero_size", "use_imm", "reset", "negative_shift",
                                "pop_prev", "pop_next", "push_prev", "push_next")
               for v in (0, 1)})
    assert want <= seen, f"never generated: {sorted(want - seen)}"

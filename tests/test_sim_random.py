"""Random legal programs (accel/isa/randprog.py): simulator vs the independent reference.

Every program from ``random_program`` must pass ``validate``, and ``simulate`` must produce
exactly the final DRAM image of ``tests/reference.py`` and the DRAM byte counts and MACs of
SPEC.md sections 5.5 and 6.6, computed here from the instruction fields. The tests without the
simulator check the generator itself: determinism, encodability, race-freedom (the reference
gives the same image under random token-respecting interleavings), an epilogue that dumps every
accumulator bit exactly through saturating STOREs, and STOREs that do saturate.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import MEM_NAMES, run_reference
from rtl_configs import RTL_CONFIGS

from accel.isa.bundle import Bundle
from accel.isa.config import HardwareConfig
from accel.isa.randprog import random_program, read_acc_dump
from accel.isa.validate import validate
from accel.sim import simulate

CONFIGS = {
    **{k: RTL_CONFIGS[k] for k in ("default", "small8x8", "batch2", "narrow")},
    # int16 inputs and outputs, int32 accumulators: STORE saturates to 16 bits.
    "wide": HardwareConfig(log_inp_width=4, log_block_out=3, log_wgt_buff_size=17,
                           log_acc_buff_size=16, name="wide"),
}
DUMP_CONFIGS = {
    **CONFIGS,
    # int16 outputs and accumulators: a STORE keeps every accumulator bit.
    "flat": HardwareConfig(log_inp_width=4, log_acc_width=4, log_block_in=3, log_block_out=3,
                           log_inp_buff_size=12, log_wgt_buff_size=14, log_acc_buff_size=12,
                           name="flat"),
    # two accumulator elements for four int8 digits: one scratch element, reused
    "acc2": HardwareConfig(log_block_in=2, log_block_out=5, log_acc_buff_size=8, name="acc2"),
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
@pytest.mark.parametrize("cfg", [c for k, c in CONFIGS.items() if k != "wide"],
                         ids=[k for k in CONFIGS if k != "wide"])  # wide: the fast tier only
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


@pytest.mark.parametrize("cfg", list(DUMP_CONFIGS.values()), ids=list(DUMP_CONFIGS))
@settings(max_examples=15)
@given(**PROGRAMS)
def test_epilogue_dumps_every_accumulator_bit(cfg, seed, overlap, n_insns):
    """``acc_dump`` decodes to the ACC area as the program without the epilogue leaves it."""
    full = make(cfg, seed, overlap, n_insns)
    check_against_reference(full)
    body = random_program(np.random.default_rng(seed), cfg, n_insns=n_insns, overlap=overlap,
                          epilogue=False)
    n_body = len(body.insns) - 1  # all but FINISH; dram_base moves with the micro-op region
    for f in full.insns.dtype.names:
        if f != "dram_base":
            assert np.array_equal(full.insns[f][:n_body], body.insns[f][:n_body]), f
    final = {}

    def at_finish(i, ins, sram):  # every ACC writer is a COMPUTE instruction before FINISH
        if int(ins["opcode"]) == 3:
            final["acc"] = sram["acc"].copy()

    run_reference(body, observe=at_finish)
    lo = int(full.insns["sram_base"][np.flatnonzero(full.insns["opcode"] == 1)[-1]])
    got = read_acc_dump(full, run_reference(full))  # the last STORE dumps the area itself
    np.testing.assert_array_equal(got, final["acc"][lo:lo + len(got)])


def stored_lanes(bundle: Bundle) -> list[tuple[str, np.ndarray]]:
    """(region written, accumulator lanes read) of every STORE, from the reference."""
    e = bundle.config.elem_bytes("out")
    regions = [(r.name, r.offset, r.offset + r.size) for r in bundle.regions]
    stores = []

    def spy(i, ins, sram):
        if int(ins["opcode"]) == 1:
            base, count = int(ins["sram_base"]), int(ins["y_size"]) * int(ins["x_size"])
            start = int(ins["dram_base"]) * e
            name = next(n for n, lo, hi in regions if lo <= start < hi)
            stores.append((name, sram["acc"][base:base + count].copy()))

    run_reference(bundle, observe=spy)
    return stores


@pytest.mark.parametrize("cfg", [CONFIGS["default"], CONFIGS["narrow"], CONFIGS["wide"]],
                         ids=["default", "narrow", "wide"])
def test_random_programs_store_saturated_and_exact_values(cfg):
    """Body STOREs see lanes below, at the bounds of, inside and above the OUT range (SPEC.md
    5.4); the epilogue's STOREs only lanes inside it (the dump never relies on saturation)."""
    lim = 1 << (cfg.out_width - 1)
    seen: set[str] = set()
    for seed in range(8):
        for region, lanes in stored_lanes(make(cfg, seed, seed % 2 == 1, 40)):
            if region == "acc_dump":
                assert lanes.size and lanes.min() >= -lim and lanes.max() < lim
                continue
            assert region == "out"
            for name, hit in (("below", lanes < -lim), ("lowest", lanes == -lim),
                              ("inside", (lanes > -lim) & (lanes < lim - 1)),
                              ("highest", lanes == lim - 1), ("above", lanes >= lim)):
                if hit.any():
                    seen.add(name)
    assert seen == {"below", "lowest", "inside", "highest", "above"}, seen

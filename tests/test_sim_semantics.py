"""Hand-written programs checked against exact values computed here (SPEC.md sections 5 and 7).

Expected values come from numpy or Python-int restatements of SPEC.md written in each test, not
from tests/reference.py. SRAM contents are observed through DRAM: INP through a GEMM with an
identity weight, WGT through one-hot inputs, and ACC in full (all 32 bits) by storing each of
its four bytes as an int8 value that the saturating STORE writes unchanged (``dump_acc``).
Every program is token-ordered.
"""

import numpy as np
import pytest

from accel.isa.config import HardwareConfig
from accel.isa.errors import DeadlockError, IllegalInstructionError
from accel.isa.program import ProgramBuilder
from accel.isa.validate import validate
from accel.sim import simulate

CFG = HardwareConfig()
BI, BO, N = CFG.block_in, CFG.block_out, CFG.acc_width  # batch 1, 16 x 16, int32
SPARE_UOP = 8000  # micro-op slots used by dump_acc
SCRATCH = 1024  # ACC elements used by dump_acc (3 per dumped element), unused by every test


def builder() -> ProgramBuilder:
    return ProgramBuilder(CFG, align=CFG.elem_bytes("wgt"))  # every element size divides it


def at(region, mem: str) -> int:
    """A region's start as a dram_base for memory ``mem``."""
    return region.elem_index(CFG.elem_bytes(mem))


def run(p: ProgramBuilder):
    bundle = p.bundle()
    validate(bundle)
    return simulate(bundle)


def wrap(x, bits: int = N):
    """Two's-complement wrap to ``bits`` bits (Python ints or int64 arrays)."""
    return ((x + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))


def i8(rng, *shape) -> np.ndarray:
    return rng.integers(-128, 128, shape).astype(np.int8)


def i32(rng, *shape) -> np.ndarray:
    return rng.integers(-(2**31), 2**31, shape).astype(np.int32)


def load_identity(p: ProgramBuilder, sram: int = 0) -> None:
    """LOAD WGT[sram] = identity, pushing l2c."""
    ident = p.alloc(f"identity{sram}", np.eye(BO, BI, dtype=np.int8)[None])
    p.load("wgt", sram, at(ident, "wgt"), 1, 1, push_next=True)


def dump_inp(p: ProgramBuilder, n: int) -> None:
    """ACC[i] = INP[i] @ identity for i < n, stored to region ``out``; then FINISH."""
    load_identity(p)
    u = p.uops("copy_uop", dst=[0], src=[0], wgt=[0])
    p.load("uop", 0, at(u, "uop"), 1, 1, pop_prev=True)
    p.gemm(0, 1, n, dst=(1, 0), reset=True)
    p.gemm(0, 1, n, dst=(1, 0), src=(1, 0), push_next=True)
    out = p.alloc("out", shape=(n, 1, BO), dtype="int8")
    p.store(0, at(out, "out"), 1, n, pop_prev=True)
    p.finish()


def dump_acc(p: ProgramBuilder, base: int, n: int) -> None:
    """Store ACC[base:base+n] in full as regions acc0..acc3 (byte k of each lane); FINISH.

    STORE saturates to int8, so byte k of each lane x is first made the int8 value it reads as,
    ``(x << 8*(3-k)) >> 24`` (a left shift that wraps to 32 bits, then an arithmetic right
    shift): in scratch copies of the elements for k < 3, then in place for k = 3. That value is
    in [-128, 127], so STORE writes it unchanged. The dump follows the program's COMPUTE
    instructions in COMPUTE order; a c2s token orders each STORE after the ALUs it reads, an s2c
    token the in-place shift after the STOREs before it.
    """
    t = [base] + [SCRATCH + (j - 1) * n for j in (1, 2, 3)]  # t[j]: x << 8j, then >> 24
    u, loop = SPARE_UOP, {"dst": (0, 1), "src": (0, 1)}
    p.load("uop", u, at(p.uops("dump_uop", dst=t, src=[base] * 4), "uop"), 1, 4)
    p.alu("add", u + 1, u + 4, 1, n, **loop, reset=True)  # t[j] = 0
    p.alu("add", u + 1, u + 4, 1, n, **loop)  # t[j] = x
    for j in (1, 2, 3):
        p.alu("shr", u + j, u + j + 1, 1, n, **loop, imm=-8 * j)  # t[j] = x << 8j (wrapped)
    p.alu("shr", u + 1, u + 4, 1, n, **loop, imm=24, push_next=True)  # t[j] = byte 3 - j
    regions = [p.alloc(f"acc{k}", shape=(n, 1, BO), dtype="int8") for k in range(4)]
    for k in range(3):
        p.store(t[3 - k], at(regions[k], "out"), 1, n, pop_prev=k == 0, push_prev=k == 2)
    p.alu("shr", u, u + 1, 1, n, **loop, imm=24, pop_next=True, push_next=True)  # byte 3
    p.store(base, at(regions[3], "out"), 1, n, pop_prev=True)
    p.finish()


def read_acc(result) -> np.ndarray:
    """The int32 values dump_acc stored, as int64."""
    parts = [result.read(f"acc{k}").astype(np.int64) & 0xFF for k in range(4)]
    return wrap(parts[0] | parts[1] << 8 | parts[2] << 16 | parts[3] << 24)


def load_acc_values(p: ProgramBuilder, values: np.ndarray, sram: int = 0, **flags) -> int:
    r = p.alloc(f"acc_init{sram}", np.asarray(values, dtype=np.int32))
    return p.load("acc", sram, at(r, "acc"), 1, len(values), **flags)


# ------------------------------------------------------------------------ LOAD
PADS = {"top": (1, 0, 0, 0), "bottom": (0, 2, 0, 0), "left": (0, 0, 1, 0),
        "right": (0, 0, 0, 3), "all": (2, 1, 3, 1)}


@pytest.mark.parametrize("pad", PADS.values(), ids=list(PADS))
def test_load_padding_writes_zeros_around_strided_rows(pad):
    rng = np.random.default_rng(1)
    t, b, left, right = pad
    ys, xs, stride, base = 2, 3, 5, 4
    h, w = t + ys + b, left + xs + right
    n = base + h * w + 3
    src, junk = i8(rng, 12, 1, BI), rng.integers(1, 128, (n, 1, BI)).astype(np.int8)
    p = builder()
    rs, rj = p.alloc("src", src), p.alloc("junk", junk)
    p.load("inp", 0, at(rj, "inp"), 1, n)  # nonzero junk, so zero fill is visible
    p.load("inp", base, at(rs, "inp"), ys, xs, stride, pad)
    dump_inp(p, n)
    want = junk.copy()
    block = np.zeros((h, w, 1, BI), np.int8)
    for y in range(ys):
        block[t + y, left:left + xs] = src[y * stride:y * stride + xs]
    want[base:base + h * w] = block.reshape(h * w, 1, BI)
    np.testing.assert_array_equal(run(p).read("out"), want)


@pytest.mark.parametrize("stride", [0, 1, 3, 7])
def test_load_stride_including_overlapping_rows(stride):
    """LOAD rows may overlap or repeat in DRAM (only STORE requires x_stride >= x_size)."""
    rng = np.random.default_rng(2)
    src = i8(rng, 20, 1, BI)
    p = builder()
    rs = p.alloc("src", src)
    p.load("inp", 0, at(rs, "inp"), 3, 4, stride)
    p.load("inp", 12, at(rs, "inp") + 1, 1, 2, 0xFFFF)  # a single row: stride unused
    dump_inp(p, 14)
    want = np.concatenate([src[y * stride:y * stride + 4] for y in range(3)] + [src[1:3]])
    np.testing.assert_array_equal(run(p).read("out"), want)


def test_zero_size_loads_write_only_their_padding():
    rng = np.random.default_rng(3)
    junk = rng.integers(1, 128, (16, 1, BI)).astype(np.int8)
    p = builder()
    rj = p.alloc("junk", junk)
    p.load("inp", 0, at(rj, "inp"), 1, 16)
    p.load("inp", 2, at(rj, "inp"), 0, 3, pad=(1, 0, 0, 0))  # H=1, W=3
    p.load("inp", 8, at(rj, "inp"), 2, 0, pad=(0, 0, 2, 0))  # H=2, W=2
    p.load("inp", 13, 1 << 30, 0, 0)  # nothing at all; no DRAM access (SPEC 5.3)
    dump_inp(p, 16)
    want = junk.copy()
    want[2:5] = 0
    want[8:12] = 0
    np.testing.assert_array_equal(run(p).read("out"), want)


def test_wgt_load_padding_seen_through_one_hot_inputs():
    """GEMM with INP[k] = e_k gives ACC[16*w + k][o] = WGT[w][o][k]; two-level loop factors."""
    rng = np.random.default_rng(4)
    wgt = i8(rng, 4, BO, BI)
    p = builder()
    rw, ri = p.alloc("wgt", wgt), p.alloc("onehot", np.eye(BI, dtype=np.int8)[:, None, :])
    junk = p.alloc("junk", rng.integers(1, 128, (9, BO, BI)).astype(np.int8))
    p.load("inp", 0, at(ri, "inp"), 1, BI)
    p.load("wgt", 0, at(junk, "wgt"), 1, 9)  # nonzero, so zero padding is visible
    p.load("wgt", 0, at(rw, "wgt"), 2, 2, 2, (0, 1, 1, 0), push_next=True)  # H=3, W=3
    u = p.uops("u", dst=[0], src=[0], wgt=[0])
    p.load("uop", 0, at(u, "uop"), 1, 1, pop_prev=True)
    p.gemm(0, 1, 9, BI, dst=(BI, 1), reset=True)
    p.gemm(0, 1, 9, BI, dst=(BI, 1), src=(0, 1), wgt=(1, 0), push_next=True)
    out = p.alloc("out", shape=(9 * BI, 1, BO), dtype="int8")
    p.store(0, at(out, "out"), 1, 9 * BI, pop_prev=True)
    p.finish()
    tiles = np.zeros((3, 3, BO, BI), np.int8)
    tiles[0:2, 1:3] = wgt.reshape(2, 2, BO, BI)
    want = tiles.reshape(9, BO, BI).transpose(0, 2, 1).reshape(9 * BI, 1, BO)
    np.testing.assert_array_equal(run(p).read("out"), want)


def test_uop_2d_load_with_stride():
    rng = np.random.default_rng(5)
    inp = i8(rng, 8, 1, BI)
    # two rows of two micro-ops, DRAM row pitch 4: the two words between rows are not loaded
    dst, src = [0, 1, 0, 0, 2, 3], [5, 2, 6, 6, 7, 0]
    p = builder()
    ri = p.alloc("inp", inp)
    p.load("inp", 0, at(ri, "inp"), 1, 8)
    load_identity(p)
    u = p.uops("u", dst=dst, src=src, wgt=0)
    p.load("uop", 100, at(u, "uop"), 2, 2, 4, pop_prev=True)
    p.gemm(100, 104, reset=True)
    p.gemm(100, 104, push_next=True)
    out = p.alloc("out", shape=(4, 1, BO), dtype="int8")
    p.store(0, at(out, "out"), 1, 4, pop_prev=True)
    p.finish()
    np.testing.assert_array_equal(run(p).read("out"), inp[[5, 2, 7, 0]])


def test_acc_load_padding_and_stride():
    rng = np.random.default_rng(6)
    data, junk = i32(rng, 10, 1, BO), rng.integers(1, 2**31, (20, 1, BO)).astype(np.int32)
    p = builder()
    rd, rj = p.alloc("data", data), p.alloc("junk", junk)
    p.load("acc", 0, at(rj, "acc"), 1, 20)
    p.load("acc", 3, at(rd, "acc"), 2, 3, 4, (1, 1, 1, 0))  # H=4, W=4
    dump_acc(p, 0, 20)
    want = junk.astype(np.int64)
    block = np.zeros((4, 4, 1, BO), np.int64)
    block[1:3, 1:4] = np.stack([data[0:3], data[4:7]])
    want[3:19] = block.reshape(16, 1, BO)
    np.testing.assert_array_equal(read_acc(run(p)), want)


# ------------------------------------------------------------------------ GEMM
def gemm_expected(acc0, inp, wgt, uops, n_out, n_in, dst_f, src_f, wgt_f, reset=False):
    """SPEC.md 5.5 restated: exact int64 dot products, wrapping accumulation."""
    acc = acc0.astype(np.int64).copy()
    for i0 in range(n_out):
        for i1 in range(n_in):
            for d, s, w in uops:
                d += i0 * dst_f[0] + i1 * dst_f[1]
                if reset:
                    acc[d] = 0
                    continue
                s += i0 * src_f[0] + i1 * src_f[1]
                w += i0 * wgt_f[0] + i1 * wgt_f[1]
                acc[d] = wrap(acc[d] + inp[s].astype(np.int64) @ wgt[w].astype(np.int64).T)
    return acc


def gemm_program(acc0, inp, wgt, uops, n_out, n_in, dst_f, src_f, wgt_f, reset=False):
    p = builder()
    ri, rw = p.alloc("inp", inp), p.alloc("wgt", wgt)
    p.load("inp", 0, at(ri, "inp"), 1, len(inp))
    p.load("wgt", 0, at(rw, "wgt"), 1, len(wgt), push_next=True)
    load_acc_values(p, acc0, pop_prev=True)
    d, s, w = zip(*uops)
    u = p.uops("u", dst=d, src=s, wgt=w)
    p.load("uop", 10, at(u, "uop"), 1, len(uops))
    p.gemm(10, 10 + len(uops), n_out, n_in, dst=dst_f, src=src_f, wgt=wgt_f, reset=reset)
    dump_acc(p, 0, len(acc0))
    return p


@pytest.mark.parametrize("case", [
    # uops (dst, src, wgt), iter_out, iter_in, dst, src, wgt factors (out, in)
    ([(0, 0, 0), (6, 3, 1)], 2, 3, (3, 1), (2, 1), (1, 0)),
    ([(1, 0, 0), (2, 4, 2)], 3, 2, (0, 0), (1, 1), (0, 1)),  # every iteration into one dst
    ([(0, 7, 2)], 1, 4, (5, 2), (0, 0), (9, 0)),  # a factor whose count is 1 is unused
], ids=["two_level", "repeated_dst", "single_source"])
def test_gemm_accumulates(case):
    rng = np.random.default_rng(7)
    inp, wgt, acc0 = i8(rng, 8, 1, BI), i8(rng, 4, BO, BI), i32(rng, 12, 1, BO)
    result = run(gemm_program(acc0, inp, wgt, *case))
    np.testing.assert_array_equal(read_acc(result), gemm_expected(acc0, inp, wgt, *case))


def test_gemm_wraps_int32():
    inp = np.full((2, 1, BI), 127, np.int8)
    wgt = np.stack([np.full((BO, BI), 127, np.int8), np.full((BO, BI), -128, np.int8)])
    acc0 = np.array([np.full((1, BO), 2**31 - 100), np.full((1, BO), -(2**31) + 5)], np.int32)
    case = ([(0, 0, 0), (1, 1, 1)], 1, 1, (0, 0), (0, 0), (0, 0))
    got = read_acc(run(gemm_program(acc0, inp, wgt, *case)))
    dot = BI * 127 * 127
    assert got[0, 0, 0] == 2**31 - 100 + dot - 2**32 < 0  # wrapped to negative
    assert got[1, 0, 0] == -(2**31) + 5 - BI * 127 * 128 + 2**32 > 0
    np.testing.assert_array_equal(got, gemm_expected(acc0, inp, wgt, *case))


def test_gemm_reset_ignores_src_and_wgt_range():
    """With reset, src and wgt are not read and need not be in range (SPEC 5.5)."""
    rng = np.random.default_rng(8)
    inp, wgt, acc0 = i8(rng, 2, 1, BI), i8(rng, 1, BO, BI), i32(rng, 8, 1, BO)
    case = ([(1, 0, 0)], 3, 1, (2, 0), (2000, 0), (1000, 0))  # src 4000 > 2047, wgt 2000 > 1023
    got = read_acc(run(gemm_program(acc0, inp, wgt, *case, reset=True)))
    want = acc0.astype(np.int64)
    want[[1, 3, 5]] = 0
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------- ALU
def alu_expected(op: str, a: int, v: int, shift: int = 0, n: int = N) -> int:
    """SPEC.md 5.6 restated with Python ints (>> is arithmetic, rounding toward -inf)."""
    if op == "min":
        r = min(a, v)
    elif op == "max":
        r = max(a, v)
    elif op == "add":
        r = a + v
    elif op == "mul":
        r = a * v
    elif op == "shr":
        r = a >> min(v, n - 1) if v >= 0 else a << min(-v, n)
    elif op == "rshr":
        s = min(v, n)
        r = (a + (1 << (s - 1))) >> s if v >= 1 else alu_expected("shr", a, v, n=n)
    else:  # mulshr
        r = a * v if shift == 0 else (a * v + (1 << (shift - 1))) >> shift
    return wrap(r, n)


EDGES = [0, 1, -1, 2, -2, 3, -3, 5, -5, 127, -128, 2**31 - 1, -(2**31), 2**30, -(2**30) - 7,
         123456789]
SHIFTS = [-40, -33, -32, -31, -17, -1, 0, 1, 2, 7, 16, 30, 31, 32, 33, 100, 2**31 - 1, -(2**31)]
IMMS = {"shift": [-40, -33, -32, -31, -8, -1, 0, 1, 3, 8, 30, 31, 32, 33, 100, -32768, 32767],
        "value": [0, 1, -1, 7, -7, 255, -256, 32767, -32768, 12345]}
OPS = ["min", "max", "add", "shr", "mul", "rshr"]


def operands(rng, n: int, op: str) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(-(2**31), 2**31, (n, 1, BO))
    a.reshape(-1)[:len(EDGES)] = EDGES
    pool = SHIFTS if op in ("shr", "rshr") else EDGES
    v = rng.choice(pool, (n, 1, BO)) if op in ("shr", "rshr") else rng.integers(
        -(2**31), 2**31, (n, 1, BO))
    v.reshape(-1)[-len(pool):] = pool
    return a, v


@pytest.mark.parametrize("op", OPS)
def test_alu_vector_operand(op):
    rng = np.random.default_rng(9)
    n = 6
    a, v = operands(rng, n, op)
    p = builder()
    load_acc_values(p, np.concatenate([a, v]))
    u = p.uops("u", dst=[0], src=[n])
    p.load("uop", 0, at(u, "uop"), 1, 1)
    p.alu(op, 0, 1, n, dst=(1, 0), src=(1, 0))
    dump_acc(p, 0, n)
    want = np.vectorize(lambda x, y: alu_expected(op, int(x), int(y)), otypes=[np.int64])(a, v)
    np.testing.assert_array_equal(read_acc(run(p)), want)


@pytest.mark.parametrize("op", OPS)
def test_alu_immediate(op):
    rng = np.random.default_rng(10)
    imms = IMMS["shift" if op in ("shr", "rshr") else "value"]
    a, _ = operands(rng, len(imms), op)
    p = builder()
    load_acc_values(p, a)
    u = p.uops("u", dst=list(range(len(imms))), src=0)
    p.load("uop", 0, at(u, "uop"), 1, len(imms))
    for i, imm in enumerate(imms):
        p.alu(op, i, i + 1, imm=imm)
    dump_acc(p, 0, len(imms))
    want = np.array([[[alu_expected(op, int(x), imm) for x in a[i, 0]]]
                     for i, imm in enumerate(imms)])
    np.testing.assert_array_equal(read_acc(run(p)), want)


def run_alu_rows(op: str, rows: list[list[int]], amounts: list[int]) -> np.ndarray:
    """Row i: ALU ``op`` with immediate ``amounts[i]`` on 16 lanes ``rows[i]``."""
    p = builder()
    load_acc_values(p, np.array(rows)[:, None, :])
    u = p.uops("u", dst=list(range(len(rows))), src=0)
    p.load("uop", 0, at(u, "uop"), 1, len(rows))
    for i, s in enumerate(amounts):
        p.alu(op, i, i + 1, imm=s)
    dump_acc(p, 0, len(rows))
    return read_acc(run(p))[:, 0, :]


def test_rshr_rounds_half_up():
    got = run_alu_rows("rshr", [[3, -3, 5, -5, 1, -1, 6, -6, 2, -2, 7, -7, 0, 4, -4, 2**31 - 1],
                                [2, -2, 6, -6, 1, -1, 3, -3, 10, -10, 0, 5, -5, 7, -7, -(2**31)]],
                       [1, 2])
    assert got[0].tolist() == [2, -1, 3, -2, 1, 0, 3, -3, 1, -1, 4, -3, 0, 2, -2, 2**30]
    assert got[1].tolist() == [1, 0, 2, -1, 0, 0, 1, -1, 3, -2, 0, 1, -1, 2, -2, -(2**29)]


def test_shift_amounts_beyond_the_width():
    lanes = [5, -5, 1, -1, 2**31 - 1, -(2**31), 3, 0x12345678] * 2
    got = run_alu_rows("shr", [lanes] * 6, [31, 100, -1, -31, -32, -40])
    assert got[0].tolist() == got[1].tolist() == [0, -1, 0, -1, 0, -1, 0, 0] * 2
    assert got[2].tolist() == [10, -10, 2, -2, -2, 0, 6, 0x2468ACF0] * 2
    assert got[3].tolist() == [-(2**31), -(2**31), -(2**31), -(2**31), -(2**31), 0, -(2**31),
                               0] * 2
    assert got[4].tolist() == got[5].tolist() == [0] * 16
    got = run_alu_rows("rshr", [lanes] * 3, [31, 32, 1000])
    assert got[0].tolist() == [0, 0, 0, 0, 1, -1, 0, 0] * 2
    assert got[1].tolist() == got[2].tolist() == [0] * 16


def test_mulshr_large_products():
    rng = np.random.default_rng(11)
    shifts = [0, 1, 2, 15, 16, 31, 32, 33, 47, 62]
    k = len(shifts)
    big = [2**31 - 1, -(2**31), 2**30 + 12345, -(2**29) + 7]
    a, m = i32(rng, k, 1, BO).astype(np.int64), i32(rng, k, 1, BO).astype(np.int64)
    a[:, 0, :4], m[:, 0, :4] = big, big[::-1]
    a[:, 0, 4:8], m[:, 0, 4:8] = big, big
    p = builder()
    load_acc_values(p, np.concatenate([a, m]))
    u = p.uops("u", dst=list(range(k)), src=list(range(k, 2 * k)))
    p.load("uop", 0, at(u, "uop"), 1, k)
    for i, s in enumerate(shifts):
        p.alu("mulshr", i, i + 1, shift=s)
    dump_acc(p, 0, k)
    want = np.array([[[alu_expected("mulshr", int(x), int(y), s)
                       for x, y in zip(a[i, 0], m[i, 0])]] for i, s in enumerate(shifts)])
    got = read_acc(run(p))
    np.testing.assert_array_equal(got, want)
    assert got[0, 0, 4] == 1  # (2^31-1)^2 = 2^62 - 2^32 + 1, wrapped
    assert got[5, 0, 4] == 2**31 - 2  # (2^62 - 2^32 + 1 + 2^30) >> 31
    assert got[9, 0, 5] == 1  # (2^62 + 2^61) >> 62
    assert got[9, 0, 1] == -1  # (-2^61 - 12345 * 2^31 + 2^61) >> 62


def test_alu_repeated_dst_pooling_and_reset():
    rng = np.random.default_rng(12)
    vals = i32(rng, 6, 1, BO).astype(np.int64)
    init = np.concatenate([vals, np.full((2, 1, BO), -(2**31)), i32(rng, 1, 1, BO)])
    p = builder()
    load_acc_values(p, init)
    u = p.uops("u", dst=[6, 7, 8], src=[0, 0, 0])
    p.load("uop", 0, at(u, "uop"), 1, 3)
    p.alu("max", 0, 1, 6, dst=(0, 0), src=(1, 0))  # ACC[6] = max over ACC[0:6]
    p.alu("add", 1, 2, reset=True)  # ACC[7] = 0
    p.alu("add", 1, 2, 2, 3, dst=(0, 0), src=(3, 1))  # ACC[7] = sum of ACC[0:6]
    p.alu("add", 2, 3, 3, 2, dst=(0, 0), src=(0, 0), reset=True)  # ACC[8] = 0
    dump_acc(p, 0, 9)
    want = np.concatenate([vals, vals.max(axis=0, keepdims=True),
                           wrap(vals.sum(axis=0, keepdims=True)), np.zeros((1, 1, BO), np.int64)])
    np.testing.assert_array_equal(read_acc(run(p)), want)


def test_unread_alu_src_need_not_be_in_range():
    """SPEC rule 9: an ALU with an immediate or with reset does not read src."""
    rng = np.random.default_rng(16)
    vals = i32(rng, 3, 1, BO).astype(np.int64)
    p = builder()
    load_acc_values(p, vals)
    u = p.uops("u", dst=[0, 1], src=[0, 0])
    p.load("uop", 0, at(u, "uop"), 1, 2)
    p.alu("add", 0, 1, 3, dst=(1, 0), src=(2047, 0), imm=5)  # src 0, 2047, 4094
    p.alu("max", 1, 2, 3, dst=(0, 0), src=(2047, 0), reset=True)
    dump_acc(p, 0, 3)
    want = wrap(vals + 5)
    want[1] = 0
    np.testing.assert_array_equal(read_acc(run(p)), want)


def test_alu_iterations_see_earlier_iterations():
    """Sequential semantics: prefix sums, and repeated doubling of one element."""
    rng = np.random.default_rng(13)
    vals = i32(rng, 9, 1, BO).astype(np.int64)
    p = builder()
    load_acc_values(p, vals)
    u = p.uops("u", dst=[1, 8], src=[0, 8])
    p.load("uop", 0, at(u, "uop"), 1, 2)
    p.alu("add", 0, 1, 7, dst=(1, 0), src=(1, 0))  # ACC[i+1] += ACC[i], i = 0..6
    p.alu("add", 1, 2, 5, dst=(0, 0), src=(0, 0))  # ACC[8] += ACC[8], five times
    dump_acc(p, 0, 9)
    want = vals.copy()
    for i in range(1, 8):
        want[i] = wrap(want[i] + want[i - 1])
    want[8] = wrap(vals[8] * 32)
    np.testing.assert_array_equal(read_acc(run(p)), want)


# ----------------------------------------------------------------------- STORE
def store_program(acc, store_args, filler: int = 0x55, n_out: int = 16):
    """ACC = ``acc``; STORE(*store_args) into region ``out`` of ``n_out`` elements of filler."""
    p = builder()
    load_acc_values(p, acc, push_next=True)
    out = p.alloc("out", np.full(n_out * CFG.elem_bytes("out"), filler, np.uint8))
    sram, dram, *rest = store_args
    p.store(sram, at(out, "out") + dram, *rest, pop_prev=True)
    p.finish()
    return p


def test_store_saturates_lanes_to_int8():
    rng = np.random.default_rng(14)
    acc = i32(rng, 6, 1, BO)
    acc[0, 0, :8] = [127, 128, -128, -129, 255, 2**31 - 1, -(2**31), -1]
    got = run(store_program(acc, (0, 0, 1, 6), n_out=6)).read("out").view(np.int8)
    want = np.clip(acc.astype(np.int64), -128, 127).astype(np.int8).reshape(-1)
    np.testing.assert_array_equal(got, want)
    assert got[:8].tolist() == [127, 127, -128, -128, 127, 127, -128, -1]


# OUT_WIDTH (= INP_WIDTH) and ACC_WIDTH: int8 or int16 outputs of int16 or int32 accumulators
OUT_CONFIGS = {
    "int8_of_int32": CFG,
    "int8_of_int16": HardwareConfig(log_acc_width=4, log_acc_buff_size=16, name="acc16"),
    "int16_of_int32": HardwareConfig(log_inp_width=4, name="out16"),
    "int16_of_int16": HardwareConfig(log_inp_width=4, log_acc_width=4, log_acc_buff_size=16,
                                     name="out16acc16"),
}


@pytest.mark.parametrize("cfg", OUT_CONFIGS.values(), ids=list(OUT_CONFIGS))
def test_store_saturates_every_lane(cfg):
    """SPEC.md 5.4: each lane becomes min(max(a, -2^(O-1)), 2^(O-1) - 1); every lane of an
    element sees values below, at, inside and above the bounds (all inside if O = ACC_WIDTH)."""
    n_bits, o_bits = cfg.acc_width, cfg.out_width
    lo, hi = -(1 << (o_bits - 1)), (1 << (o_bits - 1)) - 1
    amin, amax = -(1 << (n_bits - 1)), (1 << (n_bits - 1)) - 1
    values = sorted(v for v in {amin, amin + 1, 2 * lo - 1, lo - 2, lo - 1, lo, lo + 1, -1, 0, 1,
                                hi - 1, hi, hi + 1, hi + 2, 2 * hi + 2, amax - 1, amax}
                    if amin <= v <= amax)
    m, bo = len(values), cfg.block_out
    # element i, lane o holds values[(i + o) % m]: each lane sees every value
    acc = np.array([[[values[(i + o) % m] for o in range(bo)]] for i in range(m)], np.int64)
    p = ProgramBuilder(cfg)
    src = p.alloc("acc", acc.astype(cfg.lane_dtype("acc")))
    out = p.alloc("out", shape=(m, 1, bo), dtype=cfg.lane_dtype("out"))
    p.load("acc", 0, src.elem_index(cfg.elem_bytes("acc")), 1, m, push_next=True)
    p.store(0, out.elem_index(cfg.elem_bytes("out")), 1, m, pop_prev=True)
    p.finish()
    got = run(p).read("out")
    want = np.array([[[min(max(int(v), lo), hi) for v in e[0]]] for e in acc])
    assert got.dtype == np.dtype(cfg.lane_dtype("out"))
    np.testing.assert_array_equal(got, want)
    assert ((acc < lo).any() and (acc > hi).any()) == (o_bits < n_bits)


def test_store_leaves_the_accumulator_unchanged():
    """OUT is a view of ACC (SPEC.md section 1): saturating it in a STORE writes nothing back."""
    rng = np.random.default_rng(17)
    acc = i32(rng, 4, 1, BO)
    p = builder()
    load_acc_values(p, acc, push_next=True)
    out = p.alloc("out", shape=(4, 1, BO), dtype="int8")
    p.store(0, at(out, "out"), 1, 4, pop_prev=True, push_prev=True)
    p.load("acc", 0, 0, 0, 0, pop_next=True)  # a no-op ordered after the STORE
    dump_acc(p, 0, 4)
    result = run(p)
    np.testing.assert_array_equal(result.read("out"), np.clip(acc, -128, 127))
    np.testing.assert_array_equal(read_acc(result), acc)


@pytest.mark.parametrize("args", [(1, 0, 3, 2, 5), (0, 2, 2, 3, 3), (2, 1, 1, 4, 0),
                                  (0, 0, 0, 4, 0), (0, 0, 3, 0, 1)],
                         ids=["strided", "dense", "one_row_any_stride", "no_rows", "no_columns"])
def test_store_rows_land_at_their_stride(args):
    rng = np.random.default_rng(15)
    acc = i32(rng, 12, 1, BO)
    sram, dram, y, x, stride = args
    got = run(store_program(acc, args)).read("out").reshape(16, BO)
    want = np.full((16, BO), 0x55, np.uint8)
    for r in range(y):
        rows = np.clip(acc[sram + r * x:sram + (r + 1) * x, 0], -128, 127).astype(np.int8)
        rows = rows.view(np.uint8)
        want[dram + r * stride:dram + r * stride + x] = rows
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------- illegal programs
def legal_program() -> ProgramBuilder:
    p = builder()
    inp = p.alloc("inp", np.zeros((4, 1, BI), np.int8))
    wgt = p.alloc("wgt", np.zeros((1, BO, BI), np.int8))
    u = p.uops("u", dst=[0], src=[0], wgt=[0])
    out = p.alloc("out", shape=(4, 1, BO), dtype="int8")
    p.load("inp", 0, at(inp, "inp"), 1, 4)  # 0
    p.load("wgt", 0, at(wgt, "wgt"), 1, 1, push_next=True)  # 1
    p.load("uop", 0, at(u, "uop"), 1, 1, pop_prev=True)  # 2
    p.gemm(0, 1, 4, dst=(1, 0), src=(1, 0))  # 3
    p.alu("add", 0, 1, 4, dst=(1, 0), src=(1, 0), imm=1, push_next=True)  # 4
    p.store(0, at(out, "out"), 1, 4, pop_prev=True)  # 5
    p.finish()  # 6
    return p


def test_legal_program_is_legal():
    p = legal_program()
    np.testing.assert_array_equal(run(p).read("out"), np.ones((4, 1, BO), np.int8))


D_INP, D_WGT, D_UOP = CFG.depth("inp"), CFG.depth("wgt"), CFG.depth("uop")
# (rule, instruction, changed fields, expected field). SPEC.md section 7 names the field for
# these; where it does not (rules 7 and 8, below), the accepted answers are listed.
STATIC = [
    (1, 3, {"opcode": 5}, "opcode"),
    (1, 0, {"mem_type": 6}, "mem_type"),
    (1, 4, {"alu_op": 7}, "alu_op"),
    (1, 3, {"imm": 1}, "imm"),  # GEMM has no imm: reserved bits set
    (2, 0, {"pop_prev": 1}, "pop_prev"),
    (2, 1, {"push_prev": 1}, "push_prev"),
    (2, 5, {"pop_next": 1}, "pop_next"),
    (2, 5, {"push_next": 1}, "push_next"),
    (2, 6, {"pop_next": 1}, "pop_next"),  # FINISH
    (3, 0, {"mem_type": 4}, "mem_type"),  # LOAD OUT
    (3, 5, {"mem_type": 2}, "mem_type"),  # STORE INP
    (3, 2, {"x_pad_1": 1}, "x_pad_1"),  # padded UOP load
    (3, 5, {"y_pad_0": 1}, "y_pad_0"),  # padded STORE
    (3, 5, {"y_size": 2, "x_size": 2, "x_stride": 1}, "x_stride"),
    (4, 0, {"sram_base": D_INP - 2}, "sram_base"),
    (4, 1, {"sram_base": D_WGT}, "sram_base"),
    (4, 0, {"dram_base": 1000}, "dram_base"),
    (5, 3, {"uop_bgn": 1, "uop_end": 1}, ("uop_bgn", "uop_end")),
    (5, 4, {"uop_end": D_UOP + 1}, "uop_end"),
    (5, 3, {"iter_out": 0}, "iter_out"),
    (5, 4, {"iter_in": 0}, "iter_in"),
    (6, 4, {"alu_op": 6, "use_imm": 1, "imm": 3}, "use_imm"),
    (6, 4, {"alu_op": 6, "use_imm": 0, "imm": 2 * N - 1}, "imm"),
    (6, 4, {"alu_op": 6, "use_imm": 0, "imm": -1}, "imm"),
]


def check_illegal(bundle, index, field, *, static=True) -> None:
    indices = index if isinstance(index, tuple) else (index,)
    fields = field if isinstance(field, tuple) else (field,)
    calls = [validate, simulate] if static else [simulate]
    if not static:
        validate(bundle)
    for call in calls:
        with pytest.raises(IllegalInstructionError) as err:
            call(bundle)
        assert not isinstance(err.value, DeadlockError)
        assert err.value.index in indices, f"{call.__name__}: {err.value}"
        assert err.value.field in fields, f"{call.__name__}: {err.value}"


@pytest.mark.parametrize("rule,index,changes,field", STATIC,
                         ids=[f"rule{r}-{i}-{'-'.join(c)}" for r, i, c, _ in STATIC])
def test_static_rule(rule, index, changes, field):
    p = legal_program()
    p.set_field(index, **changes)
    check_illegal(p.bundle(), index, field)


def test_no_finish():
    p = legal_program()
    bundle = p.bundle()
    bundle.insns = bundle.insns[:-1]
    # SPEC.md does not say which index names a missing FINISH: the last instruction, or none.
    check_illegal(bundle, (None, 5), (None, "opcode"))


@pytest.mark.parametrize("extra", ["finish", "load"])
def test_instruction_after_finish(extra):
    p = legal_program()
    if extra == "finish":
        p.finish()
    else:
        p.load("inp", 0, 0, 1, 1)
    # Either the FINISH that is not last (6) or the instruction after it (7).
    check_illegal(p.bundle(), (6, 7), "opcode")


def test_unbalanced_tokens():
    p = legal_program()
    p.set_field(5, push_prev=1)  # STORE pushes s2c; nothing pops it
    check_illegal(p.bundle(), 5, (None, "push_prev"))


DYNAMIC = [
    (3, {"iter_out": 3, "dst_factor_out": 1500}, "dst"),
    (3, {"iter_out": 3, "src_factor_out": 2047}, "src"),
    (3, {"iter_out": 3, "wgt_factor_out": 1023}, "wgt"),
    (4, {"iter_in": 3, "dst_factor_in": 2000}, "dst"),
    (4, {"use_imm": 0, "imm": 0, "iter_in": 3, "src_factor_in": 2047}, "src"),
]


@pytest.mark.parametrize("index,changes,field", DYNAMIC,
                         ids=[f"{i}-{'-'.join(c)}" for i, c, _ in DYNAMIC])
def test_index_out_of_range_at_execution(index, changes, field):
    p = legal_program()
    p.set_field(index, **changes)
    check_illegal(p.bundle(), index, field, static=False)


# -------------------------------------------------------------------- deadlock
def test_deadlock_pop_never_pushed():
    p = builder()
    p.load("inp", 0, 0, 0, 0, pop_next=True)  # c2l is never pushed
    p.finish()
    bundle = p.bundle(dram_size=64)
    validate(bundle)  # more pops than pushes is not a static error
    with pytest.raises(DeadlockError) as err:
        simulate(bundle)
    text = str(err.value).lower()
    assert "load" in text and "c2l" in text, text
    assert any("load" in m.lower() for m in err.value.blocked)


def test_deadlock_circular_wait():
    p = builder()
    p.load("inp", 0, 0, 0, 0, pop_next=True, push_next=True)  # waits for c2l
    p.load("acc", 0, 0, 0, 0, pop_prev=True, push_prev=True)  # waits for l2c
    p.finish()
    bundle = p.bundle(dram_size=64)
    validate(bundle)  # balanced: one push and one pop per queue
    with pytest.raises(DeadlockError) as err:
        simulate(bundle)
    text = str(err.value).lower()
    for word in ("load", "compute", "c2l", "l2c"):
        assert word in text, text
    blocked = {m.lower() for m in err.value.blocked}
    assert {"load", "compute"} <= blocked

"""Assembler and disassembler (accel/isa/asm.py): exact encodings, round trips, error lines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.isa.asm import assemble, disassemble
from accel.isa.bundle import Bundle, Region
from accel.isa.config import HardwareConfig
from accel.isa.encoding import (
    FIELD_NAMES,
    INSN_DTYPE,
    AluOp,
    MemType,
    Opcode,
    encode_uops,
    format_of,
    formats,
)
from accel.isa.errors import AsmError
from accel.isa.program import ProgramBuilder

SMALL = HardwareConfig(log_block_in=3, log_block_out=3, log_inp_buff_size=14,
                       log_wgt_buff_size=16, log_acc_buff_size=16)
NARROW_UOP = HardwareConfig(log_acc_buff_size=16)  # micro-ops use 31 of their 32 bits


def assert_same(a: Bundle, b: Bundle) -> None:
    assert a.config == b.config and a.config.name == b.config.name
    assert np.array_equal(a.insns, b.insns)
    assert np.array_equal(a.dram, b.dram)
    assert a.regions == b.regions
    assert a.to_bytes() == b.to_bytes()


# ------------------------------------------------------------------ exact examples
def builder_program(cfg: HardwareConfig) -> Bundle:
    rng = np.random.default_rng(0)
    p = ProgramBuilder(cfg, align=256)
    a = p.alloc("A", rng.integers(-128, 128, (4, 16), dtype=np.int8))
    w = p.alloc("W", rng.integers(-128, 128, (2, 16, 16), dtype=np.int8))
    u = p.uops("U", dst=[0, 1, 2, 0], src=[0, 1, 2, 3], wgt=[0, 1, 0, 1])
    c = p.alloc("C", shape=(4, 16), dtype="int8")
    e_inp, e_wgt, e_out = (cfg.elem_bytes(m) for m in ("inp", "wgt", "out"))
    p.load("uop", sram=0, dram=u.offset // 4, y=1, x=4)
    p.load("inp", sram=0, dram=a.offset // e_inp, y=4, x=1, pad=(1, 1, 0, 0), pop_next=False)
    p.load("wgt", sram=0, dram=w.offset // e_wgt + 1, y=1, x=1, stride=7, push_next=True)
    p.gemm(0, 3, reset=True)
    p.gemm(0, 3, 16, 4, dst=(16, 0), src=(4, 1), wgt=(0, 1), pop_prev=True)
    p.alu("shr", 3, 4, 1, 16, dst=(0, 1), src=(0, 1), imm=8)
    p.alu("add", 0, 1, imm=-3)
    p.alu("max", 0, 2, 2, 1, dst=(1, 0), src=(1, 0))
    p.alu("mulshr", 0, 1, shift=12, push_next=True)
    p.store(sram=0, dram=c.offset // e_out, y=1, x=4, stride=4, pop_prev=True)
    p.finish()
    return p.bundle()


def builder_text(b: Bundle) -> str:
    r = {x.name: x for x in b.regions}
    a, w, u, c = (r[k] for k in "AWUC")
    raw = b.dram
    return f"""
    ; the same program as builder_program, written by hand
    .region A {a.offset} {a.size} int8 4x16
    .region W {w.offset:#x} {w.size} int8 2x16x16
    .region U {u.offset} {u.size} uop 4
    .region C {c.offset} {c.size} int8 4x16
    .data A {raw[a.offset:a.offset + 32].tobytes().hex()}
    .data A {raw[a.offset + 32:a.offset + a.size].tobytes().hex()}   # appends
    .data W+256 {raw[w.offset + 256:w.offset + 512].tobytes().hex()}
    .data W+0 {raw[w.offset:w.offset + 256].tobytes().hex()}
    .uop U
        uop dst=0 src=0 wgt=0
    body_end:
        uop dst=1 src=1 wgt=1
        uop dst=2 src=2
        uop wgt=1 src=3
    LOAD UOP sram=0 dram=U y=1 x=4
    load inp sram=0 dram=A y=4 x=1 pad=1,1,0,0
    load wgt dram=W+1 y=0x1 x=1 stride=7 push_next
    gemm uop=0:3 reset
    gemm uop=0:3 iter=16,4 dst=16,0 src=4,1 wgt=0,1 pop_prev
    alu shr uop=3:4 iter=1,16 dst=0,1 src=0,1 imm=8
    Alu ADD uop=0:1 imm=-3
    alu max uop=0:2 iter=2,1 dst=1,0 src=1,0
    alu mulshr uop=0:1 shift=12 push_next
    store sram=0 dram=C y=1 x=4 pop_prev
    end: finish
    """


@pytest.mark.parametrize("cfg", [HardwareConfig(), SMALL], ids=["default", "small"])
def test_hand_written_program_matches_builder(cfg):
    expected = builder_program(cfg)
    text = builder_text(expected)
    if cfg != HardwareConfig():
        text = ".config LOG_BLOCK_IN=3 log_block_out=3 LOG_INP_BUFF_SIZE=14\n" \
               ".config LOG_WGT_BUFF_SIZE=16 LOG_ACC_BUFF_SIZE=16\n" + text
    got = assemble(text)
    assert_same(got, expected)


def test_field_values():
    b = assemble("""
        load inp sram=5 dram=0x10 y=3 x=2 pad=1,2,3,4 pop_next push_next
        store sram=1 dram=2 y=3 x=4 stride=9 pop_prev push_prev
        gemm uop=2:9 iter=16,4 dst=16,0 src=4,1 wgt=0,1 reset
        alu mulshr uop=0:1 shift=12
        alu min uop=0:1 imm=-32768
        alu rshr uop=0:1
        here: finish
    """)
    i = b.insns
    assert [int(o) for o in i["opcode"]] == [0, 1, 2, 4, 4, 4, 3]
    assert (i[0]["mem_type"], i[0]["sram_base"], i[0]["dram_base"]) == (MemType.INP, 5, 16)
    assert (i[0]["y_size"], i[0]["x_size"], i[0]["x_stride"]) == (3, 2, 2)
    assert [int(i[0][k]) for k in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")] == [1, 2, 3, 4]
    assert (i[0]["pop_next"], i[0]["push_next"], i[0]["pop_prev"]) == (1, 1, 0)
    assert (i[1]["mem_type"], i[1]["x_stride"], i[1]["pop_prev"], i[1]["push_prev"]) == \
        (MemType.OUT, 9, 1, 1)
    assert [int(i[2][k]) for k in ("reset", "uop_bgn", "uop_end", "iter_out", "iter_in",
                                   "dst_factor_out", "dst_factor_in", "src_factor_out",
                                   "src_factor_in", "wgt_factor_out", "wgt_factor_in")] == \
        [1, 2, 9, 16, 4, 16, 0, 4, 1, 0, 1]
    assert (i[3]["alu_op"], i[3]["imm"], i[3]["use_imm"]) == (AluOp.MULSHR, 12, 0)
    assert (i[4]["alu_op"], i[4]["imm"], i[4]["use_imm"]) == (AluOp.MIN, -32768, 1)
    assert (i[5]["imm"], i[5]["use_imm"], i[5]["iter_out"], i[5]["iter_in"]) == (0, 0, 1, 1)


def test_labels_symbols_and_comments():
    b = assemble("""
        # labels are instruction indices, or micro-op indices inside a .uop block
        .region "my uops" 0 16 uop
        .region B 64 64 int32
        .uop "my uops"
        first:  uop dst=1
                uop dst=2 ; comment
        last:
        .region C 128 16 int8
        start:
        gemm uop=first:last iter=last,1    ; 0:2, iter 2
        two: load inp dram=C+1 y=two x=start
        load acc dram=B+1 y=1 x=1
        load uop dram="my uops"+3 y=1 x=1
        alu add uop=first:last+1 imm=next
        next:
    """)
    i = b.insns
    assert (i[0]["uop_bgn"], i[0]["uop_end"], i[0]["iter_out"]) == (0, 2, 2)
    assert (i[1]["dram_base"], i[1]["y_size"], i[1]["x_size"]) == (128 // 16 + 1, 1, 0)
    assert i[2]["dram_base"] == 64 // 64 + 1
    assert i[3]["dram_base"] == 3
    assert (i[4]["uop_end"], i[4]["imm"]) == (3, 5)
    words = np.frombuffer(b.dram[:16].tobytes(), dtype="<u4")
    assert words.tolist() == encode_uops(b.config, [1, 2, 0, 0], 0, 0).tolist()
    assert len(b.dram) == 144


def test_dram_size_config_and_name():
    b = assemble('.config NAME="my machine" DRAM_LATENCY=7\n.dram 1000\n.data 998 abcd\n')
    assert b.config.name == "my machine" and b.config.dram_latency == 7
    assert len(b.dram) == 1000 and b.dram[998:].tolist() == [0xAB, 0xCD]
    base = HardwareConfig(dram_bus_bytes=16)
    assert assemble("finish", base).config == base
    assert assemble(".config DRAM_LATENCY=3", base).config == base.replace(dram_latency=3)


def test_disassembly_is_readable():
    b = builder_program(HardwareConfig())
    text = disassemble(b)
    assert "load inp sram=0 dram=A y=4 x=1 pad=1,1,0,0" in text
    assert "load wgt sram=0 dram=W+1 y=1 x=1 stride=7 push_next" in text
    assert "alu shr uop=3:4 iter=1,16 dst=0,1 src=0,1 imm=8" in text
    assert "alu mulshr uop=0:1 iter=1,1 shift=12 push_next" in text
    assert "store sram=0 dram=C y=1 x=4 pop_prev" in text
    assert "    uop dst=2 src=2 wgt=0" in text
    assert ".region W 256 512 int8 2x16x16" in text
    assert text.splitlines()[-1].startswith("finish")


# ---------------------------------------------------------------------- round trips
def check_round_trip(b: Bundle) -> None:
    text = disassemble(b)
    b2 = assemble(text)
    assert_same(b2, b)
    assert disassemble(b2) == text
    # Without data: same instructions, regions and config; DRAM keeps only .uop blocks.
    b3 = assemble(disassemble(b, data=False))
    assert np.array_equal(b3.insns, b.insns) and b3.regions == b.regions
    assert b3.config == b.config and len(b3.dram) == len(b.dram)
    kept = b3.dram != 0
    assert np.array_equal(b3.dram[kept], b.dram[kept])
    assert "\n.data " not in disassemble(b, data=False)


NAMES = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,6}", fullmatch=True),
                  st.text(max_size=6))
DTYPES = ["uint8", "int8", "int16", "int32", "float32", "uop", "uop"]


@st.composite
def bundles(draw, cfg: HardwareConfig) -> Bundle:
    size = draw(st.integers(0, 1200))
    dram = np.zeros(size, dtype=np.uint8)
    for _ in range(draw(st.integers(0, 4))):  # a few nonzero patches among zeros
        off = draw(st.integers(0, size))
        patch = draw(st.binary(max_size=200))[:size - off]
        dram[off:off + len(patch)] = np.frombuffer(patch, dtype=np.uint8)
    regions = []
    for name in draw(st.lists(NAMES, max_size=5, unique=True)):
        align = draw(st.sampled_from([1, 4, 16, 64, 256]))
        offset = draw(st.integers(0, size // align)) * align
        rsize = draw(st.integers(0, size - offset))
        dtype = draw(st.sampled_from(DTYPES))
        if dtype == "uop" and draw(st.booleans()):
            rsize -= rsize % 4  # whole micro-ops: printed as a .uop block
        shape = tuple(draw(st.lists(st.integers(0, 40), max_size=3)))
        regions.append(Region(name, offset, rsize, dtype, shape))
    fmts = formats(cfg)
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        op = draw(st.sampled_from(list(Opcode)))
        rec = dict.fromkeys(FIELD_NAMES, 0)
        rec["opcode"] = int(op)
        for f in fmts[format_of(op)][1:]:
            rec[f.name] = draw(st.integers(f.lo, f.hi))
        if format_of(op) == "mem" and regions and rec["mem_type"] < 5 and draw(st.booleans()):
            r = draw(st.sampled_from(regions))  # point into a region, so dram= is symbolic
            e = cfg.elem_bytes(MemType(rec["mem_type"]).name.lower())
            rec["dram_base"] = -(-r.offset // e) + draw(st.integers(0, 3))
        if format_of(op) in ("gemm", "alu") and draw(st.booleans()):
            rec["imm"] = rec["use_imm"] = 0  # exercise the omitted-field paths
        if format_of(op) == "mem" and draw(st.booleans()):
            rec["x_stride"] = rec["x_size"]
        rows.append(tuple(rec[k] for k in FIELD_NAMES))
    insns = np.array(rows, dtype=INSN_DTYPE) if rows else np.zeros(0, dtype=INSN_DTYPE)
    return Bundle(cfg.replace(name=draw(NAMES)), insns, dram, regions)


ROUND_TRIP = settings(max_examples=150)  # other settings: the profile in conftest.py


@ROUND_TRIP
@given(bundles(HardwareConfig()))
def test_round_trip_default_config(b):
    check_round_trip(b)


@ROUND_TRIP
@given(bundles(SMALL))
def test_round_trip_small_config(b):
    check_round_trip(b)


@ROUND_TRIP
@given(bundles(NARROW_UOP))
def test_round_trip_narrow_uops(b):
    check_round_trip(b)


def test_round_trip_builder_program():
    check_round_trip(builder_program(HardwareConfig()))
    check_round_trip(builder_program(SMALL))


def test_uop_region_with_ignored_high_bits_falls_back_to_data():
    cfg = NARROW_UOP
    assert cfg.uop_total_bits == 31
    dram = np.frombuffer(np.array([0x8000_0001, 5], dtype="<u4").tobytes(), dtype=np.uint8)
    b = Bundle(cfg, np.zeros(0, INSN_DTYPE), dram.copy(), [Region("u", 0, 8, "uop", (2,))])
    text = disassemble(b)
    assert ".uop" not in text and ".data u 01000080" in text
    check_round_trip(b)


def test_illegal_but_encodable_fields_round_trip():
    rows = [dict.fromkeys(FIELD_NAMES, 0) for _ in range(5)]
    rows[0].update(opcode=Opcode.LOAD, mem_type=7, x_size=3, x_stride=1)
    rows[1].update(opcode=Opcode.STORE, mem_type=MemType.ACC, y_pad_1=2)
    rows[2].update(opcode=Opcode.ALU, alu_op=7, imm=-9, use_imm=0)
    rows[3].update(opcode=Opcode.ALU, alu_op=AluOp.MULSHR, imm=-1, use_imm=1)
    rows[4].update(opcode=Opcode.FINISH, pop_prev=1, push_next=1)
    insns = np.array([tuple(r[k] for k in FIELD_NAMES) for r in rows], dtype=INSN_DTYPE)
    b = Bundle(HardwareConfig(), insns, np.zeros(0, np.uint8))
    text = disassemble(b)
    for expected in ("load 7 sram=0 dram=0 y=0 x=3 stride=1", "store acc", "alu 7",
                     "imm=-9 use_imm=0", "shift=-1 use_imm=1", "finish pop_prev push_next"):
        assert expected in text
    check_round_trip(b)


def test_large_dram_is_fast_and_exact():
    rng = np.random.default_rng(1)
    p = ProgramBuilder()
    p.alloc("big", rng.integers(0, 256, 1 << 20, dtype=np.uint8))
    p.alloc("zeros", shape=(1 << 20,), dtype="uint8")
    p.finish()
    b = p.bundle()
    text = disassemble(b)
    assert text.count("\n.data ") == (1 << 20) // 64
    assert_same(assemble(text), b)


# --------------------------------------------------------------------------- errors
ERRORS = [
    ("finish\nfrob x=1", 2, "unknown mnemonic 'frob'"),
    ("\n.bogus 1", 2, "unknown directive '.bogus'"),
    ("load inp x=1\nload inp q=3", 2, "unknown operand q="),
    ("load inp y=1\nload inp popnext", 2, "unknown operand 'popnext'"),
    ("load inp reset", 1, "unknown flag 'reset'"),
    ("gemm uop=0:1 pop_prev pop_prev", 1, "flag pop_prev given twice"),
    ("gemm uop=0:1 uop=1:2", 1, "operand uop= given twice"),
    ("load inp x=12z", 1, "bad value '12z'"),
    ("load inp x=0x", 1, "bad value '0x'"),
    ("\n\nload inp x=65536", 3, "x_size=65536 (from x=) does not fit its 16-bit field "
                               "(allowed 0..65535)"),
    ("load inp y=-1", 1, "y_size=-1 (from y=) does not fit"),
    ("load inp sram=8192", 1, "sram_base=8192 (from sram=) does not fit its 13-bit field"),
    ("load inp pad=16,0,0,0", 1, "y_pad_0=16 (from pad=) does not fit its 4-bit field"),
    ("load inp pad=1,2", 1, "pad= takes 4 values separated by ','"),
    ("gemm uop=3", 1, "uop= takes 2 values separated by ':'"),
    ("gemm iter=16384,1 uop=0:1", 1, "iter_out=16384 (from iter=) does not fit its 14-bit "
                                     "field (allowed 0..16383)"),
    ("alu add uop=0:1 imm=40000", 1, "imm=40000 does not fit its 16-bit field "
                                     "(allowed -32768..32767)"),
    ("alu mulshr uop=0:1 shift=-40000", 1, "imm=-40000 (from shift=) does not fit"),
    ("alu add uop=0:1 use_imm=2", 1, "use_imm=2 does not fit its 1-bit field"),
    ("alu 8 uop=0:1", 1, "alu_op=8 does not fit its 3-bit field"),
    ("load inp dram=99999999999999999999999", 1, "dram_base=99999999999999999999999 (from "
                                                 "dram=) does not fit its 32-bit field"),
    ("alu mulshr uop=0:1 imm=3", 1, "write its rounding shift as shift=N"),
    ("alu add uop=0:1 shift=3", 1, "shift= is only for mulshr"),
    ("alu uop=0:1", 1, "alu needs an operation"),
    ("alu foo uop=0:1", 1, "unknown operation 'foo'"),
    ("load x=1", 1, "load needs a memory"),
    ("load bar x=1", 1, "unknown memory 'bar'"),
    ("load 8 x=1", 1, "mem_type=8 does not fit its 3-bit field"),
    ("finish\nload inp dram=nowhere", 2, "unknown label or region 'nowhere'"),
    (".region R 16 16 int8\nload wgt dram=R", 2, "not aligned to the 256-byte elements of wgt"),
    (".region R 0 16 int8\ngemm uop=R:1", 2, "region 'R' can only be used as a dram= value"),
    (".region R 0 16 int8\nload 5 dram=R", 2, "needs a memory type"),
    ("a: finish\na: finish", 2, "duplicate label 'a' (first defined on line 1)"),
    (".region a 0 4 int8\na:", 2, "label 'a' has the name of the region declared on line 1"),
    ("a:\n.region a 0 4 int8", 2, "region 'a' has the name of the label on line 1"),
    (".region a 0 4 int8\n.region a 4 4 int8", 2, "duplicate region 'a'"),
    ("9x: finish", 1, "bad label '9x:'"),
    ("uop dst=1", 1, "a 'uop' line must follow a '.uop NAME' directive"),
    (".region u 0 8 uop\n.uop u\nfinish\nuop dst=1", 4, "a 'uop' line must follow"),
    (".region u 0 8 uop\n.uop u\nuop dst=1 dst=2", 3, "operand dst= given twice"),
    (".region u 0 8 uop\n.uop u\nuop dst=2048", 3, "dst=2048 does not fit its 11-bit field"),
    (".region u 0 8 uop\n.uop u\nuop foo=1", 3, "unknown operand 'foo=1'"),
    (".region u 0 4 uop\n.uop u\nuop\nuop", 4, "micro-op 1 overflows region 'u'"),
    (".region u 0 4 int8\n.uop u", 2, "has dtype int8; micro-ops need a region of dtype uop"),
    (".uop nope", 1, "unknown region 'nope'"),
    (".region r 0 4 int8\n.data r 0011223344", 2, "5 bytes at byte 0 overflow region 'r'"),
    (".region r 0 4 int8\n.data r 0011\n.data r 223344", 3, "3 bytes at byte 2 overflow"),
    (".data 0 0g", 1, "bad hex bytes"),
    (".data 0 012", 1, "bad hex bytes"),
    (".data -1 00", 1, "is negative"),
    (".data q 00", 1, "unknown region 'q'"),
    (".data r", 1, ".data needs a target"),
    (".dram 4\n.data 3 0011", 2, ".data [3, 5) lies outside the DRAM image of 4 bytes"),
    (".region r 0 8 int8\n.dram 4", 1, "region 'r' [0, 8) lies outside the DRAM image"),
    (".dram 4\n.dram 5", 2, ".dram given twice"),
    (".dram x", 1, "bad number 'x'"),
    (".region r 0 8 int9", 1, "unknown dtype 'int9'"),
    (".region r 0 8 int8 4by2", 1, "bad shape '4by2'"),
    (".region r 0 8", 1, ".region takes NAME OFFSET SIZE DTYPE [SHAPE]"),
    (".region r -4 8 int8", 1, "is negative"),
    ('.region "r 0 8 int8', 1, "unterminated string"),
    (".region 9r 0 8 int8", 1, "bad name '9r'"),
    (".config LOG_BATCH=9", 1, "LOG_BATCH=9 is out of range"),
    ("finish\n.config LOG_BATCH=1\n.config DRAM_BUS_BYTES=3", 3, "must be a power of two"),
    (".config FOO=1", 1, "unknown knob 'FOO'"),
    (".config LOG_BATCH", 1, "expected KNOB=VALUE"),
    (".config LOG_BATCH=1\n.config LOG_BATCH=2", 2, "knob LOG_BATCH given twice"),
    (".config LOG_BATCH=x", 1, "bad number 'x'"),
    (".config LOG_ACC_BUFF_SIZE=22", 1, "a micro-op needs"),
    (".config", 1, ".config needs KNOB=VALUE"),
    (".uop", 1, ".uop takes one operand"),
]


@pytest.mark.parametrize("text,line,message", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors_name_the_line(text, line, message):
    with pytest.raises(AsmError) as info:
        assemble(text, source="prog.s")
    assert info.value.line == line
    assert str(info.value).startswith(f"prog.s:{line}: ")
    assert message in str(info.value)


def test_error_line_numbers_ignore_other_line_separators():
    with pytest.raises(AsmError) as info:
        assemble("finish ; a\x0cb\r\nfrob")
    assert info.value.line == 2


@settings(max_examples=300)
@given(st.text(alphabet=st.one_of(st.sampled_from(list("loadinpstremuxy=:,.; #\"\n0123456789-")),
                                  st.characters()), max_size=60))
def test_garbage_raises_only_asm_error(text):
    try:
        assemble(text)
    except AsmError:
        pass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.isa.config import HardwareConfig
from accel.isa.encoding import (
    INSN_DTYPE,
    Opcode,
    decode_insns,
    decode_uops,
    empty_insns,
    encode_insns,
    encode_uops,
    format_of,
    formats,
)
from accel.isa.errors import EncodingError

CONFIGS = [HardwareConfig(),
           HardwareConfig(log_block_in=3, log_block_out=3, log_inp_buff_size=14,
                          log_wgt_buff_size=16, log_acc_buff_size=16),
           HardwareConfig(log_batch=1, log_block_out=3, log_wgt_buff_size=17,
                          loop_iter_width=12)]


@st.composite
def insn_arrays(draw, cfg):
    n = draw(st.integers(0, 20))
    out = empty_insns(n)
    for i in range(n):
        op = draw(st.sampled_from(list(Opcode)))
        out["opcode"][i] = op
        for f in formats(cfg)[format_of(op)][1:]:
            out[f.name][i] = draw(st.integers(f.lo, f.hi))
    return out


@pytest.mark.parametrize("cfg", CONFIGS, ids=["default", "block8", "batch2"])
@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.data())
def test_encode_decode_round_trip(cfg, data):
    insns = data.draw(insn_arrays(cfg))
    raw = encode_insns(cfg, insns)
    assert len(raw) == 16 * len(insns)
    assert (decode_insns(cfg, raw) == insns).all()


def test_known_bit_positions():
    """A hand-assembled LOAD checks SPEC.md's default layout bit by bit."""
    cfg = HardwareConfig()
    r = empty_insns(1)
    r[0]["opcode"], r[0]["push_next"], r[0]["mem_type"] = Opcode.LOAD, 1, 2
    r[0]["sram_base"], r[0]["dram_base"], r[0]["y_size"], r[0]["x_pad_1"] = 5, 7, 3, 15
    value = int.from_bytes(encode_insns(cfg, r), "little")
    expect = 0 | (1 << 6) | (2 << 7) | (5 << 10) | (7 << 23) | (3 << 55) | (15 << 115)
    assert value == expect


def test_signed_imm_and_reserved_bits():
    cfg = HardwareConfig()
    r = empty_insns(1)
    r[0]["opcode"], r[0]["imm"] = Opcode.ALU, -1
    raw = bytearray(encode_insns(cfg, r))
    assert int.from_bytes(raw, "little") >> 111 == 0xFFFF
    assert decode_insns(cfg, bytes(raw))["imm"][0] == -1
    raw[15] |= 0x80  # bit 127 is reserved in the ALU format
    with pytest.raises(EncodingError, match="reserved bits"):
        decode_insns(cfg, bytes(raw))


@pytest.mark.parametrize("field, value, words", [
    ("sram_base", 1 << 13, "sram_base=8192 does not fit its 13-bit field"),
    ("y_pad_0", 16, "allowed 0..15"),
    ("dram_base", -1, "allowed 0..4294967295"),
])
def test_encode_rejects_out_of_range(field, value, words):
    r = empty_insns(1)
    r[0]["opcode"] = Opcode.STORE
    r[0][field] = value
    with pytest.raises(EncodingError, match=words):
        encode_insns(HardwareConfig(), r)


def test_encode_rejects_foreign_field_and_bad_opcode():
    r = empty_insns(2)
    r[1]["opcode"], r[1]["imm"] = Opcode.GEMM, 3
    with pytest.raises(EncodingError, match="instruction 1 .GEMM.: field imm does not exist"):
        encode_insns(HardwareConfig(), r)
    r = empty_insns(1)
    r[0]["opcode"] = 6
    with pytest.raises(EncodingError, match="opcode=6 is not an opcode"):
        encode_insns(HardwareConfig(), r)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 2047), st.integers(0, 2047), st.integers(0, 1023)),
                min_size=1, max_size=50))
def test_uop_round_trip(triples):
    cfg = HardwareConfig()
    d, s, w = (np.array(x) for x in zip(*triples))
    words = encode_uops(cfg, d, s, w)
    assert words.dtype == np.uint32
    # dst in bits 0..10, src 11..21, wgt 22..31 (SPEC.md section 4)
    assert (words == (d | (s << 11) | (w << 22)).astype(np.uint32)).all()
    for a, b in zip(decode_uops(cfg, words), (d, s, w)):
        assert (a == b).all()


def test_uop_range_error():
    with pytest.raises(EncodingError, match="micro-op 1: src=2048"):
        encode_uops(HardwareConfig(), [0, 0], [0, 2048], 0)


def test_dtype_has_every_field_once():
    assert len(set(INSN_DTYPE.names)) == len(INSN_DTYPE.names) == 29

"""Instruction and micro-op formats (SPEC.md sections 3 and 4) and their vectorized codec.

Instructions are handled as numpy structured arrays of dtype ``INSN_DTYPE`` (one record per
instruction, one int64 column per field; fields that a format lacks are zero). Encoding turns
them into 16 bytes each (a 128-bit little-endian word); decoding does the reverse. Both work on
whole arrays: there is no Python loop over instructions.

Fields are packed least-significant bit first, in the order the format lists them, starting at
bit 0; a field may straddle bit 64. Their widths depend on the configuration.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError, EncodingError

if TYPE_CHECKING:
    from .config import HardwareConfig


class Opcode(enum.IntEnum):
    LOAD = 0
    STORE = 1
    GEMM = 2
    FINISH = 3
    ALU = 4


class MemType(enum.IntEnum):
    UOP = 0
    WGT = 1
    INP = 2
    ACC = 3
    OUT = 4


class AluOp(enum.IntEnum):
    MIN = 0
    MAX = 1
    ADD = 2
    SHR = 3
    MUL = 4
    RSHR = 5
    MULSHR = 6


#: every field of every format; the columns of INSN_DTYPE, in this order
FIELD_NAMES = (
    "opcode", "pop_prev", "pop_next", "push_prev", "push_next",
    "mem_type", "sram_base", "dram_base", "y_size", "x_size", "x_stride",
    "y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1",
    "reset", "uop_bgn", "uop_end", "iter_out", "iter_in",
    "dst_factor_out", "dst_factor_in", "src_factor_out", "src_factor_in",
    "wgt_factor_out", "wgt_factor_in", "alu_op", "use_imm", "imm",
)
INSN_DTYPE = np.dtype([(name, np.int64) for name in FIELD_NAMES])
INSN_BYTES = 16
DEP_FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")


@dataclass(frozen=True)
class Field:
    name: str
    pos: int
    width: int
    signed: bool = False

    @property
    def lo(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1


def _layout(spec: list[tuple[str, int, bool]]) -> tuple[Field, ...]:
    out, pos = [], 0
    for name, width, signed in spec:
        out.append(Field(name, pos, width, signed))
        pos += width
    return tuple(out)


@lru_cache(maxsize=64)
def formats(cfg: HardwareConfig) -> dict[str, tuple[Field, ...]]:
    """The bit layout of each instruction format for ``cfg`` (SPEC.md section 3)."""
    common = [("opcode", 3, False), ("pop_prev", 1, False), ("pop_next", 1, False),
              ("push_prev", 1, False), ("push_next", 1, False)]
    mem = common + [
        ("mem_type", 3, False), ("sram_base", cfg.sram_addr_bits, False),
        ("dram_base", 32, False), ("y_size", 16, False), ("x_size", 16, False),
        ("x_stride", 16, False), ("y_pad_0", 4, False), ("y_pad_1", 4, False),
        ("x_pad_0", 4, False), ("x_pad_1", 4, False)]
    loop = common + [
        ("reset", 1, False), ("uop_bgn", cfg.uop_idx_bits, False),
        ("uop_end", cfg.uop_idx_bits + 1, False),
        ("iter_out", cfg.loop_iter_width, False), ("iter_in", cfg.loop_iter_width, False),
        ("dst_factor_out", cfg.acc_idx_bits, False), ("dst_factor_in", cfg.acc_idx_bits, False)]
    gemm = loop + [
        ("src_factor_out", cfg.inp_idx_bits, False), ("src_factor_in", cfg.inp_idx_bits, False),
        ("wgt_factor_out", cfg.wgt_idx_bits, False), ("wgt_factor_in", cfg.wgt_idx_bits, False)]
    alu = loop + [
        ("src_factor_out", cfg.acc_idx_bits, False), ("src_factor_in", cfg.acc_idx_bits, False),
        ("alu_op", 3, False), ("use_imm", 1, False), ("imm", 16, True)]
    return {"mem": _layout(mem), "gemm": _layout(gemm), "alu": _layout(alu),
            "finish": _layout(common)}


def format_of(opcode: int) -> str:
    return {Opcode.LOAD: "mem", Opcode.STORE: "mem", Opcode.GEMM: "gemm",
            Opcode.ALU: "alu", Opcode.FINISH: "finish"}[Opcode(opcode)]


def check_formats_fit(cfg: HardwareConfig) -> None:
    for fmt, fields in formats(cfg).items():
        used = fields[-1].pos + fields[-1].width
        if used > 128:
            raise ConfigError(
                f"the {fmt.upper()} instruction format needs {used} bits but instructions are "
                "128 bits wide: reduce the buffer sizes (LOG_*_BUFF_SIZE) or LOOP_ITER_WIDTH")


# ------------------------------------------------------------------- micro-ops
@lru_cache(maxsize=64)
def uop_fields(cfg: HardwareConfig) -> tuple[Field, ...]:
    return _layout([("dst", cfg.acc_idx_bits, False), ("src", cfg.uop_src_bits, False),
                    ("wgt", cfg.wgt_idx_bits, False)])


def encode_uops(cfg: HardwareConfig, dst, src, wgt=0) -> np.ndarray:
    """Pack micro-op index arrays into 32-bit words (uint32 array)."""
    d, s, w = (np.asarray(a, dtype=np.int64) for a in np.broadcast_arrays(dst, src, wgt))
    out = np.zeros(d.shape, dtype=np.uint64)
    for f, v in zip(uop_fields(cfg), (d, s, w)):
        bad = (v < 0) | (v >= (1 << f.width))
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            raise EncodingError(
                f"micro-op {i}: {f.name}={int(v.ravel()[i])} does not fit its {f.width}-bit "
                f"field (allowed 0..{(1 << f.width) - 1})")
        out |= v.astype(np.uint64) << np.uint64(f.pos)
    return out.astype(np.uint32)


def decode_uops(cfg: HardwareConfig, words) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unpack 32-bit micro-op words into (dst, src, wgt) int64 arrays."""
    w = np.asarray(words, dtype=np.uint32).astype(np.int64)
    d, s, g = uop_fields(cfg)
    return ((w >> d.pos) & ((1 << d.width) - 1), (w >> s.pos) & ((1 << s.width) - 1),
            (w >> g.pos) & ((1 << g.width) - 1))


# ---------------------------------------------------------------- instructions
def empty_insns(n: int) -> np.ndarray:
    return np.zeros(n, dtype=INSN_DTYPE)


_M64 = (1 << 64) - 1


def encode_insns(cfg: HardwareConfig, insns: np.ndarray) -> bytes:
    """Encode an INSN_DTYPE array to ``16 * len(insns)`` bytes (SPEC.md section 3)."""
    insns = np.asarray(insns)
    if insns.dtype != INSN_DTYPE:
        raise EncodingError("instructions must be an array of INSN_DTYPE records")
    n = len(insns)
    words = np.zeros((n, 2), dtype=np.uint64)
    op = insns["opcode"]
    bad = ~np.isin(op, [int(o) for o in Opcode])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EncodingError(f"instruction {i}: opcode={int(op[i])} is not an opcode "
                            f"(allowed: {', '.join(f'{o.name}={o.value}' for o in Opcode)})")
    fmts = formats(cfg)
    for opcode in Opcode:
        sel = np.flatnonzero(op == opcode)
        if not len(sel):
            continue
        fields = fmts[format_of(opcode)]
        names = {f.name for f in fields}
        sub = insns[sel]
        for name in FIELD_NAMES:  # fields a format lacks must be zero
            if name not in names and sub[name].any():
                i = int(sel[np.flatnonzero(sub[name])[0]])
                raise EncodingError(
                    f"instruction {i} ({opcode.name}): field {name} does not exist in this "
                    "format and must be 0")
        lo = np.zeros(len(sel), dtype=np.uint64)
        hi = np.zeros(len(sel), dtype=np.uint64)
        for f in fields:
            v = sub[f.name]
            bad = (v < f.lo) | (v > f.hi)
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                raise EncodingError(
                    f"instruction {int(sel[j])} ({opcode.name}): {f.name}={int(v[j])} does not "
                    f"fit its {f.width}-bit field (allowed {f.lo}..{f.hi})")
            u = (v & ((1 << f.width) - 1)).astype(np.uint64)
            if f.pos + f.width <= 64:
                lo |= u << np.uint64(f.pos)
            elif f.pos >= 64:
                hi |= u << np.uint64(f.pos - 64)
            else:  # straddles bit 64
                lo |= u << np.uint64(f.pos)
                hi |= u >> np.uint64(64 - f.pos)
        words[sel, 0] = lo
        words[sel, 1] = hi
    return words.astype("<u8").tobytes()


def decode_insns(cfg: HardwareConfig, data: bytes | np.ndarray) -> np.ndarray:
    """Decode 16-byte instructions into an INSN_DTYPE array.

    Raises EncodingError for an unknown opcode or for set bits outside the format's fields.
    """
    raw = np.frombuffer(bytes(data), dtype="<u8") if not isinstance(data, np.ndarray) else data
    if raw.size % 2:
        raise EncodingError(f"instruction stream of {raw.size * 8} bytes is not a multiple of 16")
    words = raw.reshape(-1, 2).astype(np.uint64)
    n = len(words)
    out = empty_insns(n)
    op = (words[:, 0] & np.uint64(7)).astype(np.int64)
    bad = ~np.isin(op, [int(o) for o in Opcode])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EncodingError(f"instruction {i}: opcode bits {int(op[i])} are not an opcode")
    fmts = formats(cfg)
    for opcode in Opcode:
        sel = np.flatnonzero(op == opcode)
        if not len(sel):
            continue
        lo, hi = words[sel, 0], words[sel, 1]
        used_lo, used_hi = 0, 0
        for f in fmts[format_of(opcode)]:
            mask = (1 << f.width) - 1
            if f.pos + f.width <= 64:
                u = (lo >> np.uint64(f.pos)) & np.uint64(mask)
            elif f.pos >= 64:
                u = (hi >> np.uint64(f.pos - 64)) & np.uint64(mask)
            else:
                u = ((lo >> np.uint64(f.pos)) | (hi << np.uint64(64 - f.pos))) & np.uint64(mask)
            bits = mask << f.pos
            used_lo |= bits & _M64
            used_hi |= bits >> 64
            v = u.astype(np.int64)
            if f.signed:
                v = np.where(v >= (1 << (f.width - 1)), v - (1 << f.width), v)
            out[f.name][sel] = v
        stray = (lo & np.uint64(~used_lo & _M64)) | (hi & np.uint64(~used_hi & _M64))
        if stray.any():
            j = int(np.flatnonzero(stray)[0])
            raise EncodingError(
                f"instruction {int(sel[j])} ({opcode.name}): reserved bits are set "
                "(bits outside the format's fields must be 0)")
    return out

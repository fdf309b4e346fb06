"""One instruction through the simulator's functional engine, and lane packing helpers."""

from __future__ import annotations

import json
import os

import numpy as np

from accel.isa.config import HardwareConfig
from accel.isa.encoding import INSN_DTYPE, Opcode, encode_insns, encode_uops
from accel.sim.functional import FunctionalEngine, MachineState


def config_from_env() -> HardwareConfig:
    """The configuration the cocotb runner passed in ``VDLA_CONFIG``."""
    return HardwareConfig.from_dict(json.loads(os.environ["VDLA_CONFIG"]))


def insn(**fields: int) -> np.void:
    rec = np.zeros(1, dtype=INSN_DTYPE)
    for k, v in fields.items():
        rec[k] = v
    return rec[0]


def insn_word(cfg: HardwareConfig, ins: np.void) -> int:
    """The 128-bit encoding of one instruction, as an integer."""
    return int.from_bytes(encode_insns(cfg, np.array([ins])), "little")


def pack(elem: np.ndarray) -> int:
    """An SRAM element (lanes, row-major, little-endian) as the integer the RTL holds."""
    return int.from_bytes(np.ascontiguousarray(elem).astype(elem.dtype.newbyteorder("<"))
                          .tobytes(), "little")


def unpack(cfg: HardwareConfig, mem: str, value: int) -> np.ndarray:
    dt = np.dtype(cfg.lane_dtype(mem)).newbyteorder("<")
    raw = int(value).to_bytes(cfg.elem_bytes(mem), "little")
    return np.frombuffer(raw, dtype=dt).reshape(cfg.elem_shape(mem)).astype(dt.newbyteorder("="))


def machine(cfg: HardwareConfig, dram: np.ndarray | None = None) -> tuple[MachineState,
                                                                           FunctionalEngine]:
    st = MachineState(cfg, np.zeros(0, np.uint8) if dram is None else dram)
    return st, FunctionalEngine(cfg, st)


def _with_uop(cfg: HardwareConfig, dst: int, src: int, wgt: int):
    """A machine whose micro-op 0 is (dst, src, wgt), loaded by a LOAD UOP as a program would."""
    word = encode_uops(cfg, [dst], [src], [wgt])
    st, eng = machine(cfg, np.frombuffer(word.astype("<u4").tobytes(), np.uint8))
    eng.execute(0, insn(opcode=Opcode.LOAD, mem_type=0, sram_base=0, dram_base=0, y_size=1,
                        x_size=1, x_stride=1))
    return st, eng


def gemm_iteration(cfg: HardwareConfig, acc: np.ndarray, inp: np.ndarray, wgt: np.ndarray,
                   reset: bool) -> np.ndarray:
    """ACC element after one GEMM iteration (SPEC.md 5.5), computed by the simulator."""
    st, eng = _with_uop(cfg, 0, 0, 0)
    st.mem["acc"][0], st.mem["inp"][0], st.mem["wgt"][0] = acc, inp, wgt
    eng.execute(0, insn(opcode=Opcode.GEMM, reset=int(reset), uop_bgn=0, uop_end=1,
                        iter_out=1, iter_in=1))
    return st.mem["acc"][0].copy()


def alu_iteration(cfg: HardwareConfig, op: int, a: np.ndarray, s: np.ndarray, use_imm: bool,
                  imm: int, reset: bool) -> np.ndarray:
    """ACC element after one ALU iteration (SPEC.md 5.6) with dst 0 and src 1."""
    st, eng = _with_uop(cfg, 0, 1, 0)
    st.mem["acc"][0], st.mem["acc"][1] = a, s
    eng.execute(0, insn(opcode=Opcode.ALU, reset=int(reset), uop_bgn=0, uop_end=1, iter_out=1,
                        iter_in=1, alu_op=op, use_imm=int(use_imm), imm=imm))
    return st.mem["acc"][0].copy()


def load(cfg: HardwareConfig, dram: np.ndarray, ins: np.void, init: dict[str, np.ndarray]
         ) -> dict[str, np.ndarray]:
    """The on-chip memories after a LOAD (SPEC.md 5.3)."""
    st, eng = machine(cfg, dram)
    for m, v in init.items():
        st.mem[m][...] = v
    eng.execute(0, ins)
    return st.mem


def store(cfg: HardwareConfig, dram: np.ndarray, acc: np.ndarray, ins: np.void) -> np.ndarray:
    """The DRAM image after a STORE (SPEC.md 5.4)."""
    st, eng = machine(cfg, dram)
    st.mem["acc"][...] = acc
    eng.execute(0, ins)
    return st.dram

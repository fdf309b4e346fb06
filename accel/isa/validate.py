"""Static legality checks of SPEC.md section 7 (rules 1-8), vectorized over the instruction array.

``validate(bundle)`` raises :class:`IllegalInstructionError` naming the first offending
instruction (lowest index), its field, the value and what is allowed. The dynamic rules
(micro-op indices, deadlock) are checked by the simulator while it runs.
"""

from __future__ import annotations

import numpy as np

from .bundle import Bundle
from .config import HardwareConfig
from .encoding import INSN_DTYPE, AluOp, MemType, Opcode, format_of, formats
from .errors import IllegalInstructionError

LOAD_MODULE, COMPUTE_MODULE, STORE_MODULE = 0, 1, 2
MODULE_NAMES = ("load", "compute", "store")
#: token queues, and for each: (producer module, consumer module)
TOKEN_QUEUES = ("l2c", "c2l", "c2s", "s2c")

_MEM_NAMES = {int(m): m.name.lower() for m in MemType}


def module_of(insns: np.ndarray) -> np.ndarray:
    """The module (0 load, 1 compute, 2 store) that executes each instruction (SPEC 5.1)."""
    op, mem = insns["opcode"], insns["mem_type"]
    on_load = (op == Opcode.LOAD) & ((mem == MemType.INP) | (mem == MemType.WGT))
    return np.where(on_load, LOAD_MODULE, np.where(op == Opcode.STORE, STORE_MODULE,
                                                   COMPUTE_MODULE)).astype(np.int64)


def token_masks(insns: np.ndarray, module: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (n, 4) arrays: which queues (TOKEN_QUEUES order) each instruction pops / pushes."""
    n = len(insns)
    pops = np.zeros((n, 4), dtype=bool)
    pushes = np.zeros((n, 4), dtype=bool)
    ld, cp, st = module == LOAD_MODULE, module == COMPUTE_MODULE, module == STORE_MODULE
    pp, pn = insns["pop_prev"] != 0, insns["pop_next"] != 0
    hp, hn = insns["push_prev"] != 0, insns["push_next"] != 0
    pops[:, 0] = cp & pp            # compute pops l2c
    pops[:, 1] = ld & pn            # load pops c2l
    pops[:, 2] = st & pp            # store pops c2s
    pops[:, 3] = cp & pn            # compute pops s2c
    pushes[:, 0] = ld & hn          # load pushes l2c
    pushes[:, 1] = cp & hp          # compute pushes c2l
    pushes[:, 2] = cp & hn          # compute pushes c2s
    pushes[:, 3] = st & hp          # store pushes s2c
    return pops, pushes


def sram_extent(insns: np.ndarray) -> np.ndarray:
    """Number of SRAM elements a memory instruction writes or reads (H * W)."""
    h = insns["y_pad_0"] + insns["y_size"] + insns["y_pad_1"]
    w = insns["x_pad_0"] + insns["x_size"] + insns["x_pad_1"]
    return h * w


def pad_elements(insns: np.ndarray) -> np.ndarray:
    """Zero elements a LOAD writes (SPEC 6.4 ``PAD``)."""
    return sram_extent(insns) - insns["y_size"] * insns["x_size"]


def elem_bytes_of(cfg: HardwareConfig, mem_type: np.ndarray) -> np.ndarray:
    table = np.zeros(8, dtype=np.int64)
    for m in MemType:
        table[int(m)] = cfg.elem_bytes(m.name.lower())
    return table[np.clip(mem_type, 0, 7)]


class _Checker:
    """Collects violations as (index, field, message) and raises the one with the lowest index."""

    def __init__(self) -> None:
        self.best: tuple[int, str | None, str] | None = None

    def check(self, bad: np.ndarray, field: str | None, message) -> None:
        if not bad.any():
            return
        i = int(np.flatnonzero(bad)[0])
        if self.best is None or i < self.best[0]:
            self.best = (i, field, message(i) if callable(message) else message)

    def raise_first(self) -> None:
        if self.best is not None:
            i, field, msg = self.best
            raise IllegalInstructionError(i, field, msg)


def validate(bundle: Bundle) -> None:
    validate_insns(bundle.config, bundle.insns, len(bundle.dram))


def validate_insns(cfg: HardwareConfig, insns: np.ndarray, dram_size: int) -> None:
    """Raise IllegalInstructionError for the first instruction that breaks a static rule."""
    insns = np.asarray(insns, dtype=INSN_DTYPE)
    n = len(insns)
    chk = _Checker()
    op = insns["opcode"]
    idx = np.arange(n)
    known_op = np.isin(op, [int(o) for o in Opcode])
    chk.check(~known_op, "opcode", lambda i: f"opcode {int(op[i])} is not one of "
              + ", ".join(f"{o.name}={o.value}" for o in Opcode))
    chk.raise_first()

    # Rule 1: field ranges for each format (fields a format lacks must be zero).
    fmts = formats(cfg)
    for opcode in Opcode:
        sel = op == opcode
        if not sel.any():
            continue
        fields = fmts[format_of(opcode)]
        present = {f.name for f in fields}
        for f in fields:
            v = insns[f.name]
            chk.check(sel & ((v < f.lo) | (v > f.hi)), f.name, lambda i, f=f, opcode=opcode: (
                f"{opcode.name} {f.name}={int(insns[f.name][i])} does not fit its "
                f"{f.width}-bit field (allowed {f.lo}..{f.hi})"))
        for name in INSN_DTYPE.names:
            if name not in present:
                chk.check(sel & (insns[name] != 0), name,
                          f"{opcode.name} has no field {name}; it must be 0")
    mem = insns["mem_type"]
    is_mem = (op == Opcode.LOAD) | (op == Opcode.STORE)
    chk.check(is_mem & ~np.isin(mem, [int(m) for m in MemType]), "mem_type",
              lambda i: f"memory type {int(mem[i])} is not one of "
              + ", ".join(f"{m.name}={m.value}" for m in MemType))
    is_alu = op == Opcode.ALU
    chk.check(is_alu & ~np.isin(insns["alu_op"], [int(a) for a in AluOp]), "alu_op",
              lambda i: f"ALU operation {int(insns['alu_op'][i])} is not one of "
              + ", ".join(f"{a.name}={a.value}" for a in AluOp))
    chk.raise_first()

    # Rule 2: dependency flags.
    module = module_of(insns)
    names = ("pop_prev", "pop_next", "push_prev", "push_next")
    for flag in names:
        v = insns[flag] != 0
        if flag.endswith("prev"):
            chk.check(v & (module == LOAD_MODULE), flag,
                      f"LOAD-module instructions have no previous module; {flag} must be 0")
        else:
            chk.check(v & (module == STORE_MODULE), flag,
                      f"STORE-module instructions have no next module; {flag} must be 0")
        chk.check(v & (op == Opcode.FINISH), flag, "FINISH may not pop or push tokens")

    # Rule 3: memory types and padding.
    is_load, is_store = op == Opcode.LOAD, op == Opcode.STORE
    chk.check(is_load & (mem == MemType.OUT), "mem_type",
              "LOAD cannot target OUT (allowed: UOP, WGT, INP, ACC)")
    chk.check(is_store & (mem != MemType.OUT), "mem_type",
              lambda i: "STORE must use memory type OUT, not "
              + _MEM_NAMES.get(int(mem[i]), "?").upper())
    pads = ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")
    for p in pads:
        chk.check(is_load & (mem == MemType.UOP) & (insns[p] != 0), p,
                  "a UOP LOAD cannot pad (padding must be 0)")
        chk.check(is_store & (insns[p] != 0), p, "STORE cannot pad (padding must be 0)")
    chk.check(is_store & (insns["y_size"] > 1) & (insns["x_stride"] < insns["x_size"]),
              "x_stride", lambda i: (f"STORE rows overlap: x_stride={int(insns['x_stride'][i])} "
                                     f"< x_size={int(insns['x_size'][i])} with y_size > 1"))

    # Rule 4: SRAM and DRAM bounds.
    depth = np.zeros(8, dtype=np.int64)
    for m in MemType:
        depth[int(m)] = cfg.depth(m.name.lower())
    d = depth[np.clip(mem, 0, 7)]
    end = insns["sram_base"] + sram_extent(insns)
    chk.check(is_mem & (end > d), "sram_base", lambda i: (
        f"{_MEM_NAMES[int(mem[i])].upper()} range [{int(insns['sram_base'][i])}, {int(end[i])}) "
        f"exceeds the buffer depth {int(d[i])} elements"))
    eb = elem_bytes_of(cfg, mem)
    has_data = is_mem & (insns["y_size"] > 0) & (insns["x_size"] > 0)
    last = (insns["dram_base"] + (insns["y_size"] - 1) * insns["x_stride"]
            + insns["x_size"]) * eb
    chk.check(has_data & (last > dram_size), "dram_base", lambda i: (
        f"DRAM bytes up to {int(last[i])} lie outside the DRAM image of {dram_size} bytes"))

    # Rule 5: loop instructions.
    is_loop = (op == Opcode.GEMM) | is_alu
    bgn, uend = insns["uop_bgn"], insns["uop_end"]
    chk.check(is_loop & (bgn >= uend), "uop_end", lambda i: (
        f"empty micro-op range [{int(bgn[i])}, {int(uend[i])}): uop_end must exceed uop_bgn"))
    chk.check(is_loop & (uend > cfg.depth("uop")), "uop_end", lambda i: (
        f"uop_end={int(uend[i])} exceeds the micro-op buffer depth {cfg.depth('uop')}"))
    for f in ("iter_out", "iter_in"):
        chk.check(is_loop & (insns[f] == 0), f, f"{f} must be at least 1")

    # Rule 6: MULSHR.
    mulshr = is_alu & (insns["alu_op"] == AluOp.MULSHR)
    chk.check(mulshr & (insns["use_imm"] != 0), "use_imm",
              "MULSHR takes its multiplier from src: use_imm must be 0 (imm is the shift)")
    max_shift = 2 * cfg.acc_width - 2
    chk.check(mulshr & ((insns["imm"] < 0) | (insns["imm"] > max_shift)), "imm",
              lambda i: f"MULSHR shift imm={int(insns['imm'][i])} outside 0..{max_shift}")

    # Rule 7: FINISH.
    fin = np.flatnonzero(op == Opcode.FINISH)
    if len(fin) == 0:
        chk.check(idx == max(n - 1, 0) if n else np.zeros(0, bool), "opcode",
                  "the program has no FINISH (it must end with exactly one FINISH)")
        if n == 0:
            raise IllegalInstructionError(None, None, "empty program: it must end with FINISH")
    else:
        chk.check(idx == fin[0] if fin[0] != n - 1 else np.zeros(n, bool), "opcode",
                  f"FINISH at instruction {int(fin[0])} is not the last instruction "
                  f"(the program has {n} instructions)")
    chk.raise_first()

    # Rule 8: token balance.
    pops, pushes = token_masks(insns, module)
    npop, npush = pops.sum(axis=0), pushes.sum(axis=0)
    for q, name in enumerate(TOKEN_QUEUES):
        if npush[q] > npop[q]:
            extra = np.flatnonzero(pushes[:, q])[npop[q]]
            raise IllegalInstructionError(
                int(extra), None,
                f"token queue {name} receives {int(npush[q])} pushes but only {int(npop[q])} "
                f"pops; this push (number {int(npop[q]) + 1}) is never popped")

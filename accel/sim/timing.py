"""The timing engine: SPEC.md section 6, evaluated per instruction, never per cycle.

Every quantity of section 6 (F, Q, S, R, G, X, P, N for each instruction) is an integer cycle.
The engine computes them with a discrete-event loop over five agents: FETCH, the three modules
and the DRAM bus arbiter. Each agent's next step happens at a cycle that is the maximum of
already-known times (every cross-agent relation adds one cycle), so processing steps in
increasing time order is exact; the bus is the one same-cycle interaction and is processed after
the module steps of the same cycle. The cost is a handful of steps per instruction, whatever the
instruction's cycle count.

Timing never depends on data, so this module never looks at DRAM or SRAM contents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel.isa.config import HardwareConfig
from accel.isa.encoding import Opcode
from accel.isa.errors import DeadlockError
from accel.isa.validate import (
    MODULE_NAMES,
    TOKEN_QUEUES,
    elem_bytes_of,
    module_of,
    pad_elements,
    token_masks,
)

NEVER = -1  # marker for "not yet known"
_PRODUCER = (0, 1, 1, 2)  # l2c by load, c2l by compute, c2s by compute, s2c by store
_CONSUMER = (1, 0, 2, 1)
PIPELINE_DEPTH = 3  # GEMM/ALU: X = S + n_iter + 2 (SPEC 6.4)


@dataclass
class Timeline:
    """Per-instruction cycles of SPEC.md section 6 (arrays indexed by instruction number)."""

    module: np.ndarray      # executing module (0 load, 1 compute, 2 store)
    F: np.ndarray           # dispatch by FETCH
    Q: np.ndarray           # dequeue by the module
    S: np.ndarray           # start (pops)
    R: np.ndarray           # bus request (-1 if no transfer)
    G: np.ndarray           # bus grant (-1 if no transfer)
    X: np.ndarray           # last execution cycle
    P: np.ndarray           # push cycle
    beats: np.ndarray       # bus beats of the transfer (0 if none)
    nbytes: np.ndarray      # DRAM bytes moved
    total_cycles: int


def instruction_costs(cfg: HardwareConfig, insns: np.ndarray):
    """Vectorized per-instruction cost terms: (has_transfer, pad, beats, nbytes, fixed_dur)."""
    op = insns["opcode"]
    is_mem = (op == Opcode.LOAD) | (op == Opcode.STORE)
    eb = elem_bytes_of(cfg, insns["mem_type"])
    row_bytes = insns["x_size"] * eb
    beats = np.where(is_mem, insns["y_size"] * (-(-row_bytes // cfg.dram_bus_bytes)), 0)
    nbytes = np.where(is_mem, insns["y_size"] * row_bytes, 0)
    has_transfer = is_mem & (beats > 0)
    pad = np.where(op == Opcode.LOAD, pad_elements(insns), 0)
    n_iter = insns["iter_out"] * insns["iter_in"] * (insns["uop_end"] - insns["uop_bgn"])
    # Duration S..X for instructions without a transfer (X = S + dur - 1).
    dur = np.ones(len(insns), dtype=np.int64)
    dur = np.where(op == Opcode.LOAD, np.maximum(pad, 1), dur)
    dur = np.where((op == Opcode.GEMM) | (op == Opcode.ALU), n_iter + PIPELINE_DEPTH, dur)
    return has_transfer, pad, beats, nbytes, dur


def compute_timeline(cfg: HardwareConfig, insns: np.ndarray) -> Timeline:
    n = len(insns)
    module = module_of(insns)
    pops, pushes = token_masks(insns, module)
    has_transfer, pad, beats, nbytes, dur = instruction_costs(cfg, insns)

    # Plain Python lists: the event loop indexes scalars, where lists beat numpy arrays.
    mod_l = module.tolist()
    pops_l = [tuple(q for q in range(4) if row[q]) for row in pops.tolist()]
    push_l = [tuple(q for q in range(4) if row[q]) for row in pushes.tolist()]
    xfer_l, pad_l, beats_l, dur_l = (has_transfer.tolist(), pad.tolist(), beats.tolist(),
                                     dur.tolist())
    # k-th pop/push of each queue: ordinal of this instruction's pop/push within its queue.
    pop_k = np.cumsum(pops, axis=0) - pops
    push_k = np.cumsum(pushes, axis=0) - pushes
    pop_k_l, push_k_l = pop_k.tolist(), push_k.tolist()
    # Ordinal of each instruction within its module, and each module's instruction list.
    per_mod = [np.flatnonzero(module == m).tolist() for m in range(3)]
    ordinal = np.zeros(n, dtype=np.int64)
    for m in range(3):
        ordinal[per_mod[m]] = np.arange(len(per_mod[m]))
    ord_l = ordinal.tolist()

    F = [NEVER] * n
    Q = [NEVER] * n
    S = [NEVER] * n
    R = [NEVER] * n
    G = [NEVER] * n
    X = [NEVER] * n
    P = [NEVER] * n
    push_t: list[list[int]] = [[] for _ in range(4)]
    pop_t: list[list[int]] = [[] for _ in range(4)]

    L, QC, QT = cfg.dram_latency, cfg.cmd_queue_depth, cfg.token_queue_depth
    fetch_pc = 0
    fetch_last = -1
    # Per module: position in per_mod list, phase, retire time of previous instruction.
    pos = [0, 0, 0]
    phase = ["deq", "deq", "deq"]  # deq -> start -> (bus) -> push -> deq ...
    n_prev = [0, 0, 0]
    bus_free = 0
    pending: list[int] = []  # instructions waiting for the bus

    def fetch_time() -> int:
        if fetch_pc >= n:
            return NEVER
        i = fetch_pc
        t = fetch_last + 1
        k = ord_l[i]
        if k >= QC:
            q = Q[per_mod[mod_l[i]][k - QC]]
            if q == NEVER:
                return NEVER
            t = max(t, q + 1)
        return t

    def module_time(m: int) -> int:
        if pos[m] >= len(per_mod[m]):
            return NEVER
        i = per_mod[m][pos[m]]
        ph = phase[m]
        if ph == "deq":
            return NEVER if F[i] == NEVER else max(n_prev[m], F[i] + 1)
        if ph == "start":
            t = Q[i]
            for q in pops_l[i]:
                k = pop_k_l[i][q]
                if k >= len(push_t[q]):
                    return NEVER
                t = max(t, push_t[q][k] + 1)
            return t
        if ph == "push":
            t = X[i]
            for q in push_l[i]:
                k = push_k_l[i][q] - QT
                if k >= 0:
                    if k >= len(pop_t[q]):
                        return NEVER
                    t = max(t, pop_t[q][k] + 1)
            return t
        return NEVER  # waiting for the bus

    def bus_time() -> int:
        if not pending:
            return NEVER
        return max(bus_free, min(R[i] for i in pending))

    while True:
        # Pick the earliest step; ties: fetch, load, compute, store, then the bus.
        best_t, best_a = NEVER, -1
        t = fetch_time()
        if t != NEVER:
            best_t, best_a = t, 3
        for m in range(3):
            t = module_time(m)
            if t != NEVER and (best_t == NEVER or t < best_t):
                best_t, best_a = t, m
        t = bus_time()
        if t != NEVER and (best_t == NEVER or t < best_t):
            best_t, best_a = t, 4
        if best_a == -1:
            break
        now = best_t
        if best_a == 3:
            F[fetch_pc] = now
            fetch_last = now
            fetch_pc += 1
        elif best_a == 4:
            ready = [i for i in pending if R[i] <= now]
            # priority: compute (1) > load (0) > store (2)
            i = min(ready, key=lambda j: ((1, 0, 2).index(mod_l[j]), R[j]))
            pending.remove(i)
            G[i] = now
            bus_free = now + beats_l[i]
            X[i] = now + beats_l[i] - 1 + L
            phase[mod_l[i]] = "push"
        else:
            m = best_a
            i = per_mod[m][pos[m]]
            ph = phase[m]
            if ph == "deq":
                Q[i] = now
                phase[m] = "start"
            elif ph == "start":
                S[i] = now
                for q in pops_l[i]:
                    pop_t[q].append(now)
                if xfer_l[i]:
                    R[i] = now + pad_l[i]
                    pending.append(i)
                    phase[m] = "bus"
                else:
                    X[i] = now + dur_l[i] - 1
                    phase[m] = "push"
            else:  # push
                P[i] = now
                for q in push_l[i]:
                    push_t[q].append(now)
                n_prev[m] = now + 1
                pos[m] += 1
                phase[m] = "deq"

    if any(pos[m] < len(per_mod[m]) for m in range(3)):
        _raise_deadlock(insns, per_mod, pos, phase, fetch_pc, n, mod_l, ord_l, pop_k_l,
                        push_k_l, pops_l, push_l, push_t, pop_t, Q, cfg,
                        max([t for t in (*P, *S, *F) if t != NEVER], default=0))

    arr = {k: np.asarray(v, dtype=np.int64) for k, v in
           dict(F=F, Q=Q, S=S, R=R, G=G, X=X, P=P).items()}
    total = int(arr["P"].max()) + 1 if n else 0
    return Timeline(module=module, beats=np.where(has_transfer, beats, 0), nbytes=nbytes,
                    total_cycles=total, **arr)


def _raise_deadlock(insns, per_mod, pos, phase, fetch_pc, n, mod_l, ord_l, pop_k_l, push_k_l,
                    pops_l, push_l, push_t, pop_t, Q, cfg, cycle) -> None:
    blocked: dict[str, str] = {}
    for m in range(3):
        name = MODULE_NAMES[m]
        if pos[m] >= len(per_mod[m]):
            continue
        i = per_mod[m][pos[m]]
        opname = Opcode(int(insns["opcode"][i])).name
        if phase[m] == "deq":
            blocked[name] = (f"waiting for instruction {i} ({opname}), which FETCH has not "
                             "dispatched")
        elif phase[m] == "start":
            waits = []
            for q in pops_l[i]:
                k = pop_k_l[i][q]
                if k >= len(push_t[q]):
                    producer = MODULE_NAMES[_PRODUCER[q]]
                    waits.append(f"token queue {TOKEN_QUEUES[q]} (needs pop #{k + 1}; {producer} "
                                 f"has pushed {len(push_t[q])} and will push no more)")
            blocked[name] = f"instruction {i} ({opname}) waits to pop " + "; ".join(waits)
        elif phase[m] == "push":
            waits = [f"{TOKEN_QUEUES[q]} (full: {cfg.token_queue_depth} tokens; "
                     f"{MODULE_NAMES[_CONSUMER[q]]} has popped {len(pop_t[q])})"
                     for q in push_l[i] if push_k_l[i][q] - cfg.token_queue_depth >= len(pop_t[q])]
            blocked[name] = f"instruction {i} ({opname}) waits to push into " + "; ".join(waits)
    if fetch_pc < n:
        m = mod_l[fetch_pc]
        blocked["fetch"] = (f"instruction {fetch_pc} waits for a free slot in the "
                            f"{MODULE_NAMES[m]} command queue (depth {cfg.cmd_queue_depth})")
    raise DeadlockError("no module can make progress", blocked, cycle)

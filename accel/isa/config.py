"""The hardware configuration: a small set of knobs and everything derived from them.

Every width, depth and element size used by the encoder, the simulator, the RTL generator
and the compiler is computed here and nowhere else (SPEC.md section 2 lists the formulas).

Knobs are stored as lower-case attributes; in JSON they are written in upper case, as in
VTA's ``vta_config.json`` (``{"LOG_BATCH": 0, "LOG_BLOCK_IN": 4, ...}``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import ConfigError

#: knob name -> (allowed minimum, allowed maximum, meaning)
KNOB_RANGES: dict[str, tuple[int, int, str]] = {
    "log_batch": (0, 4, "log2 of the GEMM core's batch (rows of an input tile)"),
    "log_block_in": (1, 6, "log2 of the GEMM core's input block (reduction length)"),
    "log_block_out": (1, 6, "log2 of the GEMM core's output block"),
    "log_inp_width": (3, 4, "log2 of the input element width in bits (8 or 16)"),
    "log_wgt_width": (3, 4, "log2 of the weight element width in bits (8 or 16)"),
    "log_acc_width": (4, 5, "log2 of the accumulator width in bits (16 or 32)"),
    "log_uop_buff_size": (8, 20, "log2 of the micro-op buffer size in bytes"),
    "log_inp_buff_size": (8, 20, "log2 of the input buffer size in bytes"),
    "log_wgt_buff_size": (8, 22, "log2 of the weight buffer size in bytes"),
    "log_acc_buff_size": (8, 22, "log2 of the accumulator buffer size in bytes"),
    "dram_bus_bytes": (1, 128, "DRAM bus width in bytes per cycle (a power of two)"),
    "dram_latency": (1, 1024, "fixed DRAM request latency in cycles"),
    "cmd_queue_depth": (1, 4096, "depth of each module's command queue"),
    "token_queue_depth": (1, 4096, "depth of each dependency-token queue"),
    "loop_iter_width": (4, 16, "bit width of GEMM/ALU iter_out and iter_in fields"),
    "clock_mhz": (1, 10000, "clock frequency in MHz, used only for reporting"),
}

INSN_BITS = 128
UOP_BITS = 32


@dataclass(frozen=True)
class HardwareConfig:
    """A validated accelerator configuration.

    The defaults are VTA's default geometry (1x16x16, int8 x int8 -> int32; 32 KiB input,
    256 KiB weight, 128 KiB accumulator, 32 KiB micro-op buffers) with a 64-bit DRAM bus.
    """

    log_batch: int = 0
    log_block_in: int = 4
    log_block_out: int = 4
    log_inp_width: int = 3
    log_wgt_width: int = 3
    log_acc_width: int = 5
    log_uop_buff_size: int = 15
    log_inp_buff_size: int = 15
    log_wgt_buff_size: int = 18
    log_acc_buff_size: int = 17
    dram_bus_bytes: int = 8
    dram_latency: int = 32
    cmd_queue_depth: int = 128
    token_queue_depth: int = 64
    loop_iter_width: int = 14
    clock_mhz: int = 100
    name: str = field(default="default", compare=False)

    def __post_init__(self) -> None:
        for knob, (lo, hi, meaning) in KNOB_RANGES.items():
            value = getattr(self, knob)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(
                    f"config knob {knob.upper()} must be an integer ({meaning}); "
                    f"got {value!r}")
            if not lo <= value <= hi:
                raise ConfigError(
                    f"config knob {knob.upper()}={value} is out of range: allowed "
                    f"{lo}..{hi} ({meaning})")
        if self.dram_bus_bytes & (self.dram_bus_bytes - 1):
            raise ConfigError(
                f"config knob DRAM_BUS_BYTES={self.dram_bus_bytes} must be a power of two")
        for mem in ("uop", "inp", "wgt", "acc"):
            if self.depth(mem) < 2:
                need = self.elem_bytes(mem).bit_length()
                raise ConfigError(
                    f"config knob LOG_{mem.upper()}_BUFF_SIZE="
                    f"{getattr(self, f'log_{mem}_buff_size')} gives a {mem} buffer of "
                    f"{self.depth(mem)} element(s) of {self.elem_bytes(mem)} bytes; "
                    f"it needs at least 2 (LOG_{mem.upper()}_BUFF_SIZE >= {need})")
        if self.uop_total_bits > UOP_BITS:
            raise ConfigError(
                f"a micro-op needs {self.uop_total_bits} bits (dst {self.acc_idx_bits} + "
                f"src {self.uop_src_bits} + wgt {self.wgt_idx_bits}) but is {UOP_BITS} bits "
                "wide: reduce LOG_ACC_BUFF_SIZE, LOG_INP_BUFF_SIZE or LOG_WGT_BUFF_SIZE")
        # Instruction formats must fit 128 bits; imported lazily to avoid a cycle.
        from .encoding import check_formats_fit
        check_formats_fit(self)

    # ----------------------------------------------------------------- geometry
    @property
    def batch(self) -> int:
        return 1 << self.log_batch

    @property
    def block_in(self) -> int:
        return 1 << self.log_block_in

    @property
    def block_out(self) -> int:
        return 1 << self.log_block_out

    @property
    def inp_width(self) -> int:
        return 1 << self.log_inp_width

    @property
    def wgt_width(self) -> int:
        return 1 << self.log_wgt_width

    @property
    def acc_width(self) -> int:
        return 1 << self.log_acc_width

    @property
    def out_width(self) -> int:
        """Stored outputs have the input width, so one layer's output feeds the next."""
        return self.inp_width

    @property
    def macs_per_cycle(self) -> int:
        return self.batch * self.block_in * self.block_out

    # ------------------------------------------------------- memories and elements
    def elem_shape(self, mem: str) -> tuple[int, ...]:
        """Shape of one buffer element (the unit of DMA and of indexing)."""
        return {
            "uop": (),
            "inp": (self.batch, self.block_in),
            "wgt": (self.block_out, self.block_in),
            "acc": (self.batch, self.block_out),
            "out": (self.batch, self.block_out),
        }[mem]

    def elem_bits(self, mem: str) -> int:
        """Bits of one scalar lane of memory ``mem``."""
        return {"uop": UOP_BITS, "inp": self.inp_width, "wgt": self.wgt_width,
                "acc": self.acc_width, "out": self.out_width}[mem]

    def elem_bytes(self, mem: str) -> int:
        """Bytes of one buffer element of memory ``mem`` (in DRAM and in SRAM)."""
        return self._elem_bytes[mem]

    @cached_property
    def _elem_bytes(self) -> dict[str, int]:
        out = {}
        for mem in ("uop", "inp", "wgt", "acc", "out"):
            lanes = 1
            for n in self.elem_shape(mem):
                lanes *= n
            out[mem] = lanes * self.elem_bits(mem) // 8
        return out

    def buff_bytes(self, mem: str) -> int:
        if mem == "out":  # the output view has one element per accumulator element
            return (1 << self.log_acc_buff_size) // self.elem_bytes("acc") * self.elem_bytes("out")
        return 1 << getattr(self, f"log_{mem}_buff_size")

    def depth(self, mem: str) -> int:
        """Number of elements buffer ``mem`` holds."""
        return self._depths[mem]

    @cached_property
    def _depths(self) -> dict[str, int]:
        out = {m: self.buff_bytes(m) // self.elem_bytes(m) for m in ("uop", "inp", "wgt", "acc")}
        out["out"] = out["acc"]
        return out

    def lane_dtype(self, mem: str) -> str:
        """numpy dtype name of one lane of ``mem`` (signed, little-endian)."""
        if mem == "uop":
            return "uint32"
        return f"int{self.elem_bits(mem)}"

    # ---------------------------------------------------------------- bit widths
    @staticmethod
    def _log2(n: int) -> int:
        return n.bit_length() - 1

    @property
    def uop_idx_bits(self) -> int:
        return self._log2(self.depth("uop"))

    @property
    def inp_idx_bits(self) -> int:
        return self._log2(self.depth("inp"))

    @property
    def wgt_idx_bits(self) -> int:
        return self._log2(self.depth("wgt"))

    @property
    def acc_idx_bits(self) -> int:
        return self._log2(self.depth("acc"))

    @property
    def uop_src_bits(self) -> int:
        """The micro-op src field indexes the input buffer (GEMM) or the accumulator (ALU)."""
        return max(self.inp_idx_bits, self.acc_idx_bits)

    @property
    def uop_total_bits(self) -> int:
        return self.acc_idx_bits + self.uop_src_bits + self.wgt_idx_bits

    @property
    def sram_addr_bits(self) -> int:
        return max(self.uop_idx_bits, self.inp_idx_bits, self.wgt_idx_bits, self.acc_idx_bits)

    # ----------------------------------------------------------------- timing
    def beats(self, nbytes: int) -> int:
        """Bus beats to move ``nbytes`` bytes (rounded up to whole beats)."""
        return -(-nbytes // self.dram_bus_bytes)

    # -------------------------------------------------------------- (de)serialize
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k.upper(): getattr(self, k) for k in KNOB_RANGES}
        d["NAME"] = self.name
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> HardwareConfig:
        if not isinstance(data, dict):
            raise ConfigError(
                f"{source}: expected a JSON object of knobs, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        known = {k.upper() for k in KNOB_RANGES} | {"NAME"}
        for key, value in data.items():
            if key.upper() not in known:
                raise ConfigError(
                    f"{source}: unknown config knob {key!r}; known knobs: "
                    + ", ".join(sorted(known)))
            kwargs[key.lower()] = value
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str = "config") -> HardwareConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: not valid JSON: {exc}") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HardwareConfig:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
        return cls.from_json(text, source=str(p))

    def save(self, path: str | os.PathLike[str]) -> None:
        atomic_write(Path(path), self.to_json().encode())

    def replace(self, **changes: Any) -> HardwareConfig:
        return dataclasses.replace(self, **changes)

    @cached_property
    def summary(self) -> str:
        return (f"{self.name}: {self.batch}x{self.block_in}x{self.block_out} "
                f"int{self.inp_width} x int{self.wgt_width} -> int{self.acc_width}; "
                + ", ".join(f"{m} {_size(self.buff_bytes(m))}"
                            for m in ("inp", "wgt", "acc", "uop")) + "; "
                f"DRAM {self.dram_bus_bytes * 8}-bit bus, latency {self.dram_latency}")


def _size(nbytes: int) -> str:
    return f"{nbytes // 1024} KiB" if nbytes >= 1024 and nbytes % 1024 == 0 else f"{nbytes} B"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


DEFAULT_CONFIG = HardwareConfig()

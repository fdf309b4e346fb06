"""The program-bundle file (SPEC.md section 8): config, instructions and a DRAM image with regions.

No pickle: a fixed binary header, a JSON header and raw sections with CRC-32 checksums.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import HardwareConfig, atomic_write
from .encoding import INSN_BYTES, INSN_DTYPE, decode_insns, encode_insns
from .errors import BundleError, ConfigError, EncodingError

MAGIC = b"VDLABNDL"
VERSION = 1
_FIXED = struct.Struct("<8sII")


@dataclass(frozen=True)
class Region:
    """A named part of the DRAM image. ``dtype`` is a numpy dtype name or ``"uop"``."""

    name: str
    offset: int
    size: int
    dtype: str = "uint8"
    shape: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "offset": self.offset, "size": self.size,
                "dtype": self.dtype, "shape": list(self.shape)}

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype("<u4") if self.dtype == "uop" else np.dtype(self.dtype).newbyteorder("<")

    def elem_index(self, elem_bytes: int) -> int:
        """The region's start in units of ``elem_bytes`` (a DMA's ``dram_base``)."""
        if self.offset % elem_bytes:
            raise BundleError(f"region {self.name!r} at byte {self.offset} is not aligned to "
                              f"{elem_bytes}-byte elements")
        return self.offset // elem_bytes


@dataclass
class Bundle:
    config: HardwareConfig
    insns: np.ndarray
    dram: np.ndarray
    regions: list[Region] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.insns = np.asarray(self.insns, dtype=INSN_DTYPE)
        self.dram = np.ascontiguousarray(self.dram, dtype=np.uint8)
        names = set()
        for r in self.regions:
            if r.name in names:
                raise BundleError(f"duplicate region name {r.name!r}")
            names.add(r.name)
            if r.dtype != "uop":
                try:
                    np.dtype(r.dtype)
                except TypeError:
                    raise BundleError(f"region {r.name!r}: dtype {r.dtype!r} is neither a numpy "
                                      "dtype name nor 'uop'") from None
            if r.offset < 0 or r.size < 0 or r.offset + r.size > len(self.dram):
                raise BundleError(
                    f"region {r.name!r} [{r.offset}, {r.offset + r.size}) lies outside the "
                    f"DRAM image of {len(self.dram)} bytes")

    # ------------------------------------------------------------------ access
    def region(self, name: str) -> Region:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(f"no DRAM region named {name!r}; regions: "
                       + ", ".join(r.name for r in self.regions))

    def read(self, name: str, dram: np.ndarray | None = None) -> np.ndarray:
        """A copy of region ``name`` of ``dram`` (default: the initial image), as dtype/shape."""
        r = self.region(name)
        raw = (self.dram if dram is None else dram)[r.offset:r.offset + r.size]
        arr = raw.view(r.np_dtype) if r.size % r.np_dtype.itemsize == 0 else raw
        if r.shape:
            arr = arr.reshape(r.shape)
        return arr.copy()

    # ------------------------------------------------------------ serialization
    def to_bytes(self) -> bytes:
        insn_bytes = encode_insns(self.config, self.insns)
        dram_bytes = self.dram.tobytes()
        sections = {"insns": insn_bytes, "dram": dram_bytes}
        # Offsets depend on the header length, which depends on the offsets: iterate to a fix point.
        offsets = {"insns": 0, "dram": 0}
        for _ in range(4):
            header = self._header(sections, offsets)
            pos = _FIXED.size + len(header)
            new = {}
            for name, data in sections.items():
                new[name] = pos
                pos += len(data)
            if new == offsets:
                break
            offsets = new
        header = self._header(sections, offsets)
        return _FIXED.pack(MAGIC, VERSION, len(header)) + header + insn_bytes + dram_bytes

    def _header(self, sections: dict[str, bytes], offsets: dict[str, int]) -> bytes:
        doc = {
            "config": self.config.to_dict(),
            "sections": {n: {"offset": offsets[n], "length": len(d), "crc32": zlib.crc32(d)}
                         for n, d in sections.items()},
            "regions": [r.to_dict() for r in self.regions],
        }
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "bundle") -> Bundle:
        if len(data) < _FIXED.size:
            raise BundleError(f"{source}: truncated: {len(data)} bytes is shorter than the "
                              f"{_FIXED.size}-byte bundle header")
        magic, version, hlen = _FIXED.unpack_from(data)
        if magic != MAGIC:
            raise BundleError(f"{source}: not a vdla bundle (magic {magic!r}, expected {MAGIC!r})")
        if version != VERSION:
            raise BundleError(f"{source}: bundle format version {version} is not supported "
                              f"(this vdla reads version {VERSION})")
        if _FIXED.size + hlen > len(data):
            raise BundleError(f"{source}: truncated: the header needs bytes "
                              f"{_FIXED.size}..{_FIXED.size + hlen} but the file has {len(data)}")
        try:
            doc = json.loads(data[_FIXED.size:_FIXED.size + hlen].decode())
            cfg_doc, secs, regs = doc["config"], doc["sections"], doc["regions"]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise BundleError(f"{source}: corrupted header: {exc}") from None
        try:
            config = HardwareConfig.from_dict(cfg_doc, source=f"{source} config")
        except ConfigError as exc:
            raise BundleError(f"{source}: invalid config in bundle: {exc}") from None
        blobs = {}
        for name in ("insns", "dram"):
            try:
                off, length, crc = (int(secs[name][k]) for k in ("offset", "length", "crc32"))
            except (KeyError, TypeError, ValueError):
                raise BundleError(f"{source}: corrupted header: section {name!r} missing") from None
            if off < 0 or length < 0 or off + length > len(data):
                raise BundleError(f"{source}: truncated: section {name!r} needs bytes "
                                  f"{off}..{off + length} but the file has {len(data)}")
            blob = data[off:off + length]
            if zlib.crc32(blob) != crc:
                raise BundleError(f"{source}: section {name!r} is corrupted (CRC-32 mismatch)")
            blobs[name] = blob
        if len(blobs["insns"]) % INSN_BYTES:
            raise BundleError(f"{source}: instruction section of {len(blobs['insns'])} bytes is "
                              f"not a multiple of {INSN_BYTES}")
        try:
            insns = decode_insns(config, blobs["insns"])
        except EncodingError as exc:
            raise BundleError(f"{source}: {exc}") from None
        try:
            regions = [Region(str(r["name"]), int(r["offset"]), int(r["size"]), str(r["dtype"]),
                              tuple(int(n) for n in r["shape"])) for r in regs]
        except (KeyError, TypeError, ValueError):
            raise BundleError(f"{source}: corrupted header: bad region entry") from None
        dram = np.frombuffer(blobs["dram"], dtype=np.uint8).copy()
        return cls(config, insns, dram, regions)

    def save(self, path: str | os.PathLike[str]) -> None:
        atomic_write(Path(path), self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Bundle:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise BundleError(f"cannot read bundle {p}: {exc.strerror}") from None
        return cls.from_bytes(data, source=str(p))

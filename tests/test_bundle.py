"""The program-bundle file (accel/isa/bundle.py, SPEC.md section 8): round trip and rejection."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from accel.isa.bundle import MAGIC, VERSION, Bundle, Region
from accel.isa.config import HardwareConfig
from accel.isa.errors import BundleError
from accel.isa.program import ProgramBuilder

FIXED = 16  # magic, version, header length


def sample_bundle() -> Bundle:
    cfg = HardwareConfig(log_block_in=3, log_block_out=3, log_inp_buff_size=14,
                         log_wgt_buff_size=16, log_acc_buff_size=16, dram_latency=5,
                         name="tiny")
    p = ProgramBuilder(cfg)
    a = p.alloc("A", np.arange(-32, 32, dtype=np.int8).reshape(4, 16))
    p.alloc("acc", np.arange(12, dtype=np.int32).reshape(3, 4))
    u = p.uops("U", dst=[0, 1], src=[1, 0], wgt=0)
    p.load("uop", sram=0, dram=u.offset // 4, y=1, x=2)
    p.load("inp", sram=0, dram=a.offset // cfg.elem_bytes("inp"), y=2, x=2, push_next=True)
    p.gemm(0, 2, 3, 4, dst=(1, 2), src=(3, 4), wgt=(5, 6), pop_prev=True)
    p.alu("mulshr", 0, 1, shift=7)
    p.finish()
    return p.bundle(dram_size=1000)


def parts(data: bytes) -> tuple[dict, int]:
    """The parsed JSON header and the offset just after it."""
    hlen = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[FIXED:FIXED + hlen]), FIXED + hlen


def with_header(data: bytes, doc: dict) -> bytes:
    """``data`` with its JSON header replaced by ``doc`` (section offsets kept valid)."""
    old, end = parts(data)
    header = json.dumps(doc).encode()
    shift = FIXED + len(header) - end
    for sec in doc["sections"].values():
        sec["offset"] += shift
    header = json.dumps(doc).encode()
    return struct.pack("<8sII", MAGIC, VERSION, len(header)) + header + data[end:]


def load_error(data: bytes) -> str:
    with pytest.raises(BundleError) as info:
        Bundle.from_bytes(data, source="x.bundle")
    return str(info.value)


# ---------------------------------------------------------------------- round trip
def test_save_load_round_trip(tmp_path):
    b = sample_bundle()
    path = tmp_path / "p.bundle"
    b.save(path)
    assert not [p for p in tmp_path.iterdir() if p.name != "p.bundle"]  # no temp files left
    c = Bundle.load(path)
    assert c.config == b.config and c.config.name == "tiny"
    assert np.array_equal(c.insns, b.insns)
    assert np.array_equal(c.dram, b.dram) and len(c.dram) == 1000
    assert c.regions == b.regions
    assert c.regions[2] == Region("U", b.regions[2].offset, 8, "uop", (2,))
    assert np.array_equal(c.read("A"), np.arange(-32, 32, dtype=np.int8).reshape(4, 16))
    assert np.array_equal(c.read("acc"), np.arange(12, dtype=np.int32).reshape(3, 4))
    assert c.to_bytes() == b.to_bytes() == path.read_bytes()


def test_layout_matches_spec():
    b = sample_bundle()
    data = b.to_bytes()
    assert data[:8] == b"VDLABNDL"
    assert struct.unpack_from("<II", data, 8) == (1, parts(data)[1] - FIXED)
    doc, end = parts(data)
    assert set(doc) == {"config", "sections", "regions"}
    insns, dram = doc["sections"]["insns"], doc["sections"]["dram"]
    assert insns["offset"] == end and insns["length"] == 16 * len(b.insns)
    assert dram["offset"] == end + insns["length"] and dram["length"] == 1000
    assert dram["offset"] + dram["length"] == len(data)
    assert insns["crc32"] == zlib.crc32(data[end:end + insns["length"]])
    assert doc["config"]["LOG_BLOCK_IN"] == 3 and doc["config"]["NAME"] == "tiny"
    assert doc["regions"][0] == {"name": "A", "offset": 0, "size": 64, "dtype": "int8",
                                 "shape": [4, 16]}


def test_empty_bundle_round_trips():
    b = Bundle(HardwareConfig(), np.zeros(0, dtype=ProgramBuilder().insns().dtype),
               np.zeros(0, np.uint8))
    c = Bundle.from_bytes(b.to_bytes())
    assert len(c.insns) == 0 and len(c.dram) == 0 and c.regions == []


# -------------------------------------------------------------------- rejection
def test_wrong_magic():
    data = sample_bundle().to_bytes()
    assert "not a vdla bundle (magic b'VDLABNDX'" in load_error(b"VDLABNDX" + data[8:])


def test_unknown_version():
    data = bytearray(sample_bundle().to_bytes())
    struct.pack_into("<I", data, 8, 2)
    assert "bundle format version 2 is not supported (this vdla reads version 1)" in \
        load_error(bytes(data))


@pytest.mark.parametrize("cut", [0, 5, 8, 15])
def test_truncated_inside_fixed_header(cut):
    data = sample_bundle().to_bytes()[:cut]
    assert f"truncated: {cut} bytes is shorter than the 16-byte bundle header" in \
        load_error(data)


@pytest.mark.parametrize("keep", [0, 1, 100])
def test_truncated_inside_json_header(keep):
    data = sample_bundle().to_bytes()
    end = parts(data)[1]
    assert f"truncated: the header needs bytes 16..{end} but the file has {FIXED + keep}" in \
        load_error(data[:FIXED + keep])


@pytest.mark.parametrize("section", ["insns", "dram"])
@pytest.mark.parametrize("where", ["start", "middle", "last byte"])
def test_truncated_inside_each_section(section, where):
    data = sample_bundle().to_bytes()
    sec = parts(data)[0]["sections"][section]
    cut = {"start": sec["offset"], "middle": sec["offset"] + sec["length"] // 2,
           "last byte": sec["offset"] + sec["length"] - 1}[where]
    msg = load_error(data[:cut])
    assert f"truncated: section '{section}' needs bytes {sec['offset']}.." \
           f"{sec['offset'] + sec['length']} but the file has {cut}" in msg


@pytest.mark.parametrize("section", ["insns", "dram"])
@pytest.mark.parametrize("at", [0, -1])
def test_crc_corruption_of_each_section(section, at):
    data = bytearray(sample_bundle().to_bytes())
    sec = parts(bytes(data))[0]["sections"][section]
    pos = sec["offset"] + (at % sec["length"])
    data[pos] ^= 0x40
    assert f"section '{section}' is corrupted (CRC-32 mismatch)" in load_error(bytes(data))


def test_region_outside_dram():
    data = sample_bundle().to_bytes()
    doc = parts(data)[0]
    doc["regions"].append({"name": "late", "offset": 990, "size": 11, "dtype": "int8",
                           "shape": []})
    assert "region 'late' [990, 1001) lies outside the DRAM image of 1000 bytes" in \
        load_error(with_header(data, doc))
    with pytest.raises(BundleError, match="lies outside the DRAM image"):
        Bundle(HardwareConfig(), sample_bundle().insns, np.zeros(4, np.uint8),
               [Region("r", 2, 3)])


def test_non_json_header():
    data = bytearray(sample_bundle().to_bytes())
    end = parts(bytes(data))[1]
    data[FIXED:end] = b"\xff" + b"x" * (end - FIXED - 1)
    assert "x.bundle: corrupted header" in load_error(bytes(data))
    data[FIXED:end] = b"[" + b" " * (end - FIXED - 1)
    assert "x.bundle: corrupted header" in load_error(bytes(data))


def test_header_missing_keys_and_bad_entries():
    data = sample_bundle().to_bytes()
    doc = parts(data)[0]
    del doc["regions"]
    assert "corrupted header" in load_error(with_header(data, doc))
    doc = parts(data)[0]
    doc["regions"][0]["size"] = "big"
    assert "corrupted header: bad region entry" in load_error(with_header(data, doc))
    doc = parts(data)[0]
    del doc["sections"]["dram"]
    assert "corrupted header: section 'dram' missing" in load_error(with_header(data, doc))


def test_invalid_config_in_header():
    data = sample_bundle().to_bytes()
    doc = parts(data)[0]
    doc["config"]["LOG_BATCH"] = 9
    msg = load_error(with_header(data, doc))
    assert "invalid config in bundle" in msg and "LOG_BATCH=9 is out of range" in msg


def test_instruction_section_with_reserved_bits_or_partial_instruction():
    data = sample_bundle().to_bytes()
    doc, end = parts(data)
    sec = doc["sections"]["insns"]
    insns = bytearray(data[sec["offset"]:sec["offset"] + sec["length"]])
    insns[-1] |= 0x80  # FINISH uses only bits 0..6
    doc["sections"]["insns"]["crc32"] = zlib.crc32(bytes(insns))
    patched = data[:sec["offset"]] + bytes(insns) + data[sec["offset"] + sec["length"]:]
    assert "reserved bits are set" in load_error(with_header(patched, doc))


def test_load_missing_file(tmp_path):
    with pytest.raises(BundleError, match="cannot read bundle .*nope.bundle"):
        Bundle.load(tmp_path / "nope.bundle")


def test_duplicate_region_names():
    with pytest.raises(BundleError, match="duplicate region name 'r'"):
        Bundle(HardwareConfig(), sample_bundle().insns, np.zeros(8, np.uint8),
               [Region("r", 0, 4), Region("r", 4, 4)])

import json

import pytest

from accel.isa.config import HardwareConfig
from accel.isa.errors import ConfigError


def test_default_is_vta_geometry():
    c = HardwareConfig()
    assert (c.batch, c.block_in, c.block_out) == (1, 16, 16)
    assert (c.inp_width, c.wgt_width, c.acc_width, c.out_width) == (8, 8, 32, 8)
    assert [c.buff_bytes(m) for m in ("inp", "wgt", "acc", "uop")] == [
        32 * 1024, 256 * 1024, 128 * 1024, 32 * 1024]
    assert c.dram_bus_bytes == 8
    # derived quantities of SPEC.md section 2
    assert [c.elem_bytes(m) for m in ("uop", "inp", "wgt", "acc", "out")] == [4, 16, 256, 64, 16]
    assert [c.depth(m) for m in ("uop", "inp", "wgt", "acc")] == [8192, 2048, 1024, 2048]
    assert (c.uop_idx_bits, c.inp_idx_bits, c.wgt_idx_bits, c.acc_idx_bits) == (13, 11, 10, 11)
    assert c.sram_addr_bits == 13 and c.uop_total_bits == 32 and c.macs_per_cycle == 256


def test_json_round_trip(tmp_path):
    c = HardwareConfig(log_batch=1, log_block_out=3, log_wgt_buff_size=17, dram_latency=50,
                       name="b2")
    path = tmp_path / "cfg.json"
    c.save(path)
    doc = json.loads(path.read_text())
    assert doc["LOG_BATCH"] == 1 and doc["DRAM_LATENCY"] == 50
    assert HardwareConfig.load(path) == c


@pytest.mark.parametrize("knobs, words", [
    ({"LOG_BATCH": 9}, ["LOG_BATCH=9", "0..4"]),
    ({"DRAM_BUS_BYTES": 12}, ["DRAM_BUS_BYTES=12", "power of two"]),
    ({"DRAM_LATENCY": 0}, ["DRAM_LATENCY=0", "1..1024"]),
    ({"LOG_INP_WIDTH": "3"}, ["LOG_INP_WIDTH", "integer"]),
    ({"LOG_BLOCK_IN": 3, "LOG_BLOCK_OUT": 3}, ["micro-op needs 36 bits"]),
    ({"LOG_WGT_BUFF_SIZE": 8}, ["LOG_WGT_BUFF_SIZE", "at least 2"]),
    ({"LOG_ACC_BUFF_SIZE": 21}, ["micro-op"]),
    ({"FOO": 1}, ["unknown config knob 'FOO'"]),
])
def test_invalid_configs_name_the_knob(knobs, words):
    with pytest.raises(ConfigError) as exc:
        HardwareConfig.from_dict(knobs)
    for w in words:
        assert w in str(exc.value)


def test_instruction_overflow_is_rejected():
    # 16-bit loop fields with 13-bit uop indices do not fit 128 bits in the GEMM format
    with pytest.raises(ConfigError, match="GEMM instruction format needs 131 bits"):
        HardwareConfig(loop_iter_width=16)


def test_bad_json_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        HardwareConfig.load(p)
    with pytest.raises(ConfigError, match="cannot read config file"):
        HardwareConfig.load(tmp_path / "missing.json")

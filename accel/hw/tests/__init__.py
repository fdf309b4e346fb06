"""cocotb testbenches of the RTL blocks (run by tests/test_rtl_blocks.py through
accel.hw.cocotb_run). Each is Driver / Monitor / Model / Checker: the driver applies stimuli,
the monitor samples the design, the model is the simulator's code (accel.hw.model) and the
checker compares them."""

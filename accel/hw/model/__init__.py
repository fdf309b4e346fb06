"""Python reference models of the RTL blocks, for the cocotb testbenches in accel/hw/tests.

They are the simulator's own code (``accel.sim.functional``) driven one instruction at a time,
plus the DRAM model of SPEC.md 6.3, so a block and the simulator are checked against one
definition.
"""

"""Hardware configurations the tests run on (shared by tests/test_rtl_*.py and the simulator's
random-program tests)."""

from accel.isa.config import HardwareConfig

RTL_CONFIGS = {
    "default": HardwareConfig(),
    # BLOCK 8 with smaller buffers
    "small8x8": HardwareConfig(log_block_in=3, log_block_out=3, log_inp_buff_size=14,
                               log_wgt_buff_size=16, log_acc_buff_size=16, name="small8x8"),
    # BATCH 2 and BLOCK_OUT 8 != BLOCK_IN 16
    "batch2": HardwareConfig(log_batch=1, log_block_out=3, log_wgt_buff_size=17, name="batch2"),
    # int16 accumulators and weights, one-token queues, two-entry command queues, 32-bit bus
    "narrow": HardwareConfig(log_batch=1, log_block_in=2, log_block_out=2, log_wgt_width=4,
                             log_acc_width=4, log_uop_buff_size=10, log_inp_buff_size=9,
                             log_wgt_buff_size=9, log_acc_buff_size=9, token_queue_depth=1,
                             cmd_queue_depth=2, dram_bus_bytes=4, dram_latency=3,
                             name="narrow"),
    # a 1024-bit bus wider than every element (several elements per beat), latency 1,
    # one-entry command queues
    "widebus": HardwareConfig(dram_bus_bytes=128, dram_latency=1, cmd_queue_depth=1,
                              log_block_in=2, log_block_out=2, log_inp_buff_size=12,
                              log_wgt_buff_size=12, log_acc_buff_size=12, log_uop_buff_size=12,
                              name="widebus"),
}

// LOAD module (SPEC.md 5.1, 5.3): LOAD INP and LOAD WGT. Pops c2l (pop_next), pushes l2c
// (push_next). The INP and WGT memories are outside; this module drives their write ports.
module vdla_load
  import vdla_cfg::*;
(
    input  logic                   clk,
    input  logic                   rst,
    input  logic                   cmd_valid,
    input  logic [          159:0] cmd_data,
    output logic                   cmd_pop,
    input  logic                   c2l_can_pop,
    input  logic                   l2c_can_push,
    output logic                   c2l_pop,
    output logic                   l2c_push,
    // bus and DRAM
    output logic                   req,
    input  logic                   gnt,
    output logic                   issuing,
    output logic                   beat_valid,
    output logic [           63:0] beat_addr,
    output logic [      LOG_BUS:0] beat_nbytes,
    input  logic                   rsp_valid,
    input  logic [            1:0] rsp_tag,
    input  logic [BUS_BYTES*8-1:0] rsp_data,
    // SRAM writes (sel_inp: INP, else WGT)
    output logic                   sel_inp,
    output logic                   pad_we,
    output logic [           31:0] pad_idx,
    output logic                   dw_en,
    output logic [           31:0] dw_row,
    output logic [           31:0] dw_boff,
    output logic [BUS_BYTES*8-1:0] dw_data,
    output logic [      LOG_BUS:0] dw_nbytes,
    // status, events, counters
    output logic                   progress,
    output logic [            1:0] phase,
    output logic [           31:0] tag,
    output logic                   ev_deq,
    output logic                   ev_start,
    output logic                   ev_req,
    output logic                   ev_last,
    output logic                   ev_push,
    output logic [           63:0] c_busy,
    output logic [           63:0] c_wait_dram,
    output logic [           63:0] c_wait_token,
    output logic [           63:0] c_wait_push,
    output logic [           63:0] c_wait_cmd,
    output logic [           63:0] c_idle,
    output logic [           31:0] c_retired
);
  logic [127:0] insn;
  logic tok_ok, push_ok, last, dram_wait, start, exec, done_x, push;
  assign tok_ok = !insn[4] || c2l_can_pop;
  assign push_ok = !insn[6] || l2c_can_push;
  assign c2l_pop = start && insn[4];
  assign l2c_push = push && insn[6];

  vdla_ctrl u_ctrl (
      .clk, .rst, .cmd_valid, .cmd_data, .cmd_pop, .insn, .tag, .tok_ok, .push_ok, .last,
      .dram_wait, .start, .exec, .done_x, .push, .phase, .c_busy, .c_wait_dram, .c_wait_token,
      .c_wait_push, .c_wait_cmd, .c_idle, .c_retired
  );
  assign progress = cmd_pop || exec || push;
  assign ev_deq = cmd_pop;
  assign ev_start = start;
  assign ev_last = done_x;
  assign ev_push = push;

  vdla_ldeng #(
      .TAG(0), .MEM_A(3'd2), .LOG_E_A(LOG_E_INP), .LOG_E_B(LOG_E_WGT)
  ) u_ld (
      .clk, .rst, .start, .insn, .last, .dram_wait, .sel_a(sel_inp), .req, .gnt, .issuing,
      .ev_req, .beat_valid, .beat_addr, .beat_nbytes, .rsp_valid, .rsp_tag, .rsp_data, .pad_we,
      .pad_idx, .dw_en, .dw_row, .dw_boff, .dw_data, .dw_nbytes
  );
endmodule

// STORE module (SPEC.md 5.1, 5.4): STORE OUT. Pops c2s (pop_prev), pushes s2c (push_prev).
module vdla_store
  import vdla_cfg::*;
#(
    parameter int K = 1
) (
    input  logic                        clk,
    input  logic                        rst,
    input  logic                        cmd_valid,
    input  logic [               159:0] cmd_data,
    output logic                        cmd_pop,
    input  logic                        c2s_can_pop,
    input  logic                        s2c_can_push,
    output logic                        c2s_pop,
    output logic                        s2c_push,
    // bus and DRAM
    output logic                        req,
    input  logic                        gnt,
    output logic                        issuing,
    output logic                        beat_valid,
    output logic [                63:0] beat_addr,
    output logic [           LOG_BUS:0] beat_nbytes,
    output logic [     BUS_BYTES*8-1:0] beat_data,
    input  logic                        wack_valid,
    // accumulator read
    output logic [           W_ACC-1:0] rd_idx,
    input  logic [(K*8<<LOG_E_ACC)-1:0] rd_data,
    // status, events, counters
    output logic                        progress,
    output logic [                 1:0] phase,
    output logic [                31:0] tag,
    output logic                        ev_deq,
    output logic                        ev_start,
    output logic                        ev_req,
    output logic                        ev_last,
    output logic                        ev_push,
    output logic [                63:0] c_busy,
    output logic [                63:0] c_wait_dram,
    output logic [                63:0] c_wait_token,
    output logic [                63:0] c_wait_push,
    output logic [                63:0] c_wait_cmd,
    output logic [                63:0] c_idle,
    output logic [                31:0] c_retired
);
  logic [127:0] insn;
  logic tok_ok, push_ok, last, dram_wait, start, exec, done_x, push;
  assign tok_ok = !insn[3] || c2s_can_pop;
  assign push_ok = !insn[5] || s2c_can_push;
  assign c2s_pop = start && insn[3];
  assign s2c_push = push && insn[5];

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

  vdla_steng #(
      .K(K)
  ) u_st (
      .clk, .rst, .start, .insn, .last, .dram_wait, .req, .gnt, .issuing, .ev_req, .beat_valid,
      .beat_addr, .beat_nbytes, .beat_data, .wack_valid, .rd_idx, .rd_data
  );
endmodule

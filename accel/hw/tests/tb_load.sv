// Testbench top for the LOAD engine: vdla_ldeng as the LOAD module instantiates it (INP and
// WGT) with both memories, so the test reads back every element after a LOAD.
module tb_load
  import vdla_cfg::*;
(
    input  logic                        clk,
    input  logic                        rst,
    input  logic                        start,
    input  logic [               127:0] insn,
    output logic                        last,
    output logic                        dram_wait,
    output logic                        req,
    input  logic                        gnt,
    output logic                        issuing,
    output logic                        ev_req,
    output logic                        beat_valid,
    output logic [                63:0] beat_addr,
    output logic [           LOG_BUS:0] beat_nbytes,
    input  logic                        rsp_valid,
    input  logic [                 1:0] rsp_tag,
    input  logic [     BUS_BYTES*8-1:0] rsp_data,
    output logic                        pad_we,
    input  logic [          W_INP-1:0] inp_idx,
    output logic [(8<<LOG_E_INP)-1:0] inp_data,
    input  logic [          W_WGT-1:0] wgt_idx,
    output logic [(8<<LOG_E_WGT)-1:0] wgt_data
);
  logic sel_inp, dw_en;
  logic [31:0] pad_idx, dw_row, dw_boff;
  logic [BUS_BYTES*8-1:0] dw_data;
  logic [LOG_BUS:0] dw_nbytes;
  vdla_ldeng #(
      .TAG(0), .MEM_A(3'd2), .LOG_E_A(LOG_E_INP), .LOG_E_B(LOG_E_WGT)
  ) u_ld (
      .clk, .rst, .start, .insn, .last, .dram_wait, .sel_a(sel_inp), .req, .gnt, .issuing,
      .ev_req, .beat_valid, .beat_addr, .beat_nbytes, .rsp_valid, .rsp_tag, .rsp_data, .pad_we,
      .pad_idx, .dw_en, .dw_row, .dw_boff, .dw_data, .dw_nbytes
  );
  vdla_sram #(
      .LOG_E(LOG_E_INP), .AW(W_INP), .LOG_BUS(LOG_BUS), .WIDE(1)
  ) u_inp (
      .clk, .rst, .dw_en(dw_en && sel_inp), .dw_row, .dw_boff, .dw_data, .dw_nbytes,
      .ew_en(pad_we && sel_inp), .ew_idx(W_INP'(pad_idx)), .ew_data('0), .ra_idx(inp_idx),
      .ra_data(inp_data), .rb_idx('0), .rb_data(), .rw_idx('0), .rw_data()
  );
  vdla_sram #(
      .LOG_E(LOG_E_WGT), .AW(W_WGT), .LOG_BUS(LOG_BUS), .WIDE(1)
  ) u_wgt (
      .clk, .rst, .dw_en(dw_en && !sel_inp), .dw_row, .dw_boff, .dw_data, .dw_nbytes,
      .ew_en(pad_we && !sel_inp), .ew_idx(W_WGT'(pad_idx)), .ew_data('0), .ra_idx(wgt_idx),
      .ra_data(wgt_data), .rb_idx('0), .rb_data(), .rw_idx('0), .rw_data()
  );
endmodule

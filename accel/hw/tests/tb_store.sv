// Testbench top for the STORE engine: vdla_steng reading an accumulator memory that the test
// fills through the element write port.
module tb_store
  import vdla_cfg::*;
#(
    parameter int K = LOG_E_OUT >= LOG_BUS ? 1 : 1 << (LOG_BUS - LOG_E_OUT)
) (
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
    output logic [     BUS_BYTES*8-1:0] beat_data,
    input  logic                        wack_valid,
    input  logic                        ew_en,
    input  logic [           W_ACC-1:0] ew_idx,
    input  logic [(8<<LOG_E_ACC)-1:0]  ew_data
);
  logic [W_ACC-1:0] rd_idx;
  logic [(K*8<<LOG_E_ACC)-1:0] rd_data;
  vdla_steng #(
      .K(K)
  ) u_st (
      .clk, .rst, .start, .insn, .last, .dram_wait, .req, .gnt, .issuing, .ev_req, .beat_valid,
      .beat_addr, .beat_nbytes, .beat_data, .wack_valid, .rd_idx, .rd_data
  );
  vdla_sram #(
      .LOG_E(LOG_E_ACC), .AW(W_ACC), .LOG_BUS(LOG_BUS), .WIDE(K)
  ) u_acc (
      .clk, .rst, .dw_en(1'b0), .dw_row('0), .dw_boff('0), .dw_data('0), .dw_nbytes('0),
      .ew_en, .ew_idx, .ew_data, .ra_idx('0), .ra_data(), .rb_idx('0), .rb_data(),
      .rw_idx(rd_idx), .rw_data(rd_data)
  );
endmodule

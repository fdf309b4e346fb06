// STORE engine (SPEC.md 5.4, 6.3, 6.4): from the start cycle S it requests the bus (R = S)
// and, once granted (G), issues B beats in [G, G+B-1], each carrying BUS bytes of OUT elements:
// accumulator elements read from ACC, each lane saturated to the signed OUT_WIDTH-bit range. DRAM
// acknowledges each beat L cycles later; `last` marks X, the last acknowledgement (X = S for a
// store that moves no data).
module vdla_steng
  import vdla_cfg::*;
#(
    parameter int K = 1  // OUT elements per beat (1 when an element spans whole beats)
) (
    input  logic                       clk,
    input  logic                       rst,
    input  logic                       start,
    /* verilator lint_off UNUSEDSIGNAL */  // only the memory-format fields
    input  logic [              127:0] insn,
    /* verilator lint_on UNUSEDSIGNAL */
    output logic                       last,
    output logic                       dram_wait,
    // bus
    output logic                       req,
    input  logic                       gnt,
    output logic                       issuing,
    output logic                       ev_req,
    output logic                       beat_valid,
    output logic [               63:0] beat_addr,
    output logic [          LOG_BUS:0] beat_nbytes,
    output logic [    BUS_BYTES*8-1:0] beat_data,
    input  logic                       wack_valid,
    // accumulator read: K consecutive elements from rd_idx
    output logic [          W_ACC-1:0] rd_idx,
    input  logic [(K*8<<LOG_E_ACC)-1:0] rd_data
);
  localparam logic [31:0] BUS32 = 32'(BUS_BYTES);
  localparam int LANES = BATCH * BLOCK_OUT;
  localparam int OUT_EW = 8 << LOG_E_OUT;
  localparam int ACC_EW = 8 << LOG_E_ACC;

  logic [31:0] sram_base, dram_base, ys, xs, stride, row_bytes, stride_bytes, bpr;
  logic [63:0] n_beats;
  logic has_xfer;
  assign sram_base = 32'(insn[MEM_SRAM_BASE_LO+:MEM_SRAM_BASE_W]);
  assign dram_base = insn[MEM_DRAM_BASE_LO+:32];
  assign ys = 32'(insn[MEM_Y_SIZE_LO+:16]);
  assign xs = 32'(insn[MEM_X_SIZE_LO+:16]);
  assign stride = 32'(insn[MEM_X_STRIDE_LO+:16]);
  assign has_xfer = ys != 0 && xs != 0;
  assign row_bytes = xs << LOG_E_OUT;
  assign stride_bytes = stride << LOG_E_OUT;
  assign bpr = (row_bytes + BUS32 - 32'd1) >> LOG_BUS;
  assign n_beats = 64'(ys) * 64'(bpr);

  // ----------------------------------------------------------------- request
  logic req_q, req_d;
  assign req = (start && has_xfer) || req_q;
  assign dram_wait = req && !gnt;
  assign ev_req = req && !req_d;
  always_ff @(posedge clk) begin
    if (rst) begin
      req_q <= 1'b0;
      req_d <= 1'b0;
    end else begin
      req_q <= req && !gnt;
      req_d <= req;
    end
  end

  // ------------------------------------------------------------------- issue
  logic is_q, is_row_end;
  logic [63:0] is_addr_q, is_addr;
  logic [31:0] is_boff_q, is_boff, is_rows_q, is_rows, is_elem_q, is_elem;
  logic [31:0] left;
  assign is_addr = start ? 64'(dram_base) << LOG_E_OUT : is_addr_q;
  assign is_boff = start ? 32'd0 : is_boff_q;
  assign is_rows = start ? ys : is_rows_q;
  assign is_elem = start ? sram_base : is_elem_q;
  assign beat_valid = gnt || is_q;
  assign issuing = is_q;
  assign beat_addr = is_addr + 64'(is_boff);
  assign left = row_bytes - is_boff;
  assign beat_nbytes = (left < BUS32) ? left[LOG_BUS:0] : (LOG_BUS + 1)'(BUS_BYTES);
  assign is_row_end = is_boff + BUS32 >= row_bytes;
  assign rd_idx = W_ACC'(is_elem + (is_boff >> LOG_E_OUT));

  always_ff @(posedge clk) begin
    if (rst) begin
      is_q <= 1'b0;
      is_addr_q <= '0;
      is_boff_q <= '0;
      is_rows_q <= '0;
      is_elem_q <= '0;
    end else if (beat_valid) begin
      is_q <= !(is_row_end && is_rows == 32'd1);
      if (is_row_end) begin
        is_addr_q <= is_addr + 64'(stride_bytes);
        is_boff_q <= '0;
        is_rows_q <= is_rows - 32'd1;
        is_elem_q <= is_elem + xs;
      end else begin
        is_addr_q <= is_addr;
        is_boff_q <= is_boff + BUS32;
        is_rows_q <= is_rows;
        is_elem_q <= is_elem;
      end
    end else if (start) begin
      is_addr_q <= is_addr;
      is_boff_q <= is_boff;
      is_rows_q <= is_rows;
      is_elem_q <= is_elem;
    end
  end

  // ------------------------------- saturating ACC -> OUT (SPEC.md 5.4, D2)
  localparam logic signed [ACC_W-1:0] OUT_MAX = ACC_W'((64'sd1 <<< (OUT_W - 1)) - 64'sd1);
  localparam logic signed [ACC_W-1:0] OUT_MIN = ACC_W'(-(64'sd1 <<< (OUT_W - 1)));

  function automatic logic [OUT_W-1:0] saturate(input logic signed [ACC_W-1:0] a);
    if (a > OUT_MAX) return OUT_MAX[OUT_W-1:0];
    if (a < OUT_MIN) return OUT_MIN[OUT_W-1:0];
    return a[OUT_W-1:0];
  endfunction

  logic [K*OUT_EW-1:0] out_elems;
  always_comb begin
    for (int j = 0; j < K; j++) begin
      for (int l = 0; l < LANES; l++) begin
        out_elems[j*OUT_EW+l*OUT_W+:OUT_W] = saturate(rd_data[j*ACC_EW+l*ACC_W+:ACC_W]);
      end
    end
  end
  generate
    if (LOG_E_OUT >= LOG_BUS) begin : g_slice
      localparam int NSUB = 1 << (LOG_E_OUT - LOG_BUS);
      logic [31:0] sub;
      assign sub = (is_boff >> LOG_BUS) & 32'(NSUB - 1);
      assign beat_data = out_elems[sub*BUS_BYTES*8+:BUS_BYTES*8];
    end else begin : g_whole
      assign beat_data = out_elems;
    end
  endgenerate

  // ------------------------------------------------------- acknowledgements
  logic [63:0] acks_q;
  always_ff @(posedge clk) begin
    if (rst) acks_q <= '0;
    else if (start) acks_q <= n_beats;
    else if (wack_valid) acks_q <= acks_q - 64'd1;
  end
  assign last = has_xfer ? (wack_valid && acks_q == 64'd1) : start;
endmodule

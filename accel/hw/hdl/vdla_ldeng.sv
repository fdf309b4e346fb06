// LOAD engine (SPEC.md 5.3, 6.3, 6.4), for two memory types A and B: the LOAD module serves
// INP/WGT with one, the COMPUTE module UOP/ACC with another.
//
// From the start cycle S it writes the PAD zero elements, one per cycle ([S, S+PAD-1]): the
// top rows, the bottom rows, then the left and right pads of each data row. If the instruction
// moves data it requests the bus from R = S+PAD until the arbiter grants it (G), issues its B
// beats in [G, G+B-1] (a row is ceil(x_size*E / BUS) beats) and writes each beat's data into
// SRAM when the DRAM returns it, L cycles later. `last` marks X: the last returned beat, or the
// last padding element (X = S + max(PAD, 1) - 1) for a load that moves no data.
//
// Each counter set has a register and a value for the start cycle computed from the
// instruction, so that padding, the request and the first beat can all happen in cycle S.
module vdla_ldeng
  import vdla_cfg::*;
#(
    parameter int         TAG     = 0,
    parameter logic [2:0] MEM_A   = 3'd2,
    parameter int         LOG_E_A = 4,
    parameter int         LOG_E_B = 8
) (
    input  logic                   clk,
    input  logic                   rst,
    input  logic                   start,
    /* verilator lint_off UNUSEDSIGNAL */  // only the memory-format fields
    input  logic [          127:0] insn,
    /* verilator lint_on UNUSEDSIGNAL */
    output logic                   last,
    output logic                   dram_wait,
    output logic                   sel_a,
    // bus
    output logic                   req,
    input  logic                   gnt,
    output logic                   issuing,
    output logic                   ev_req,
    output logic                   beat_valid,
    output logic [           63:0] beat_addr,
    output logic [      LOG_BUS:0] beat_nbytes,
    // DRAM read responses
    input  logic                   rsp_valid,
    input  logic [            1:0] rsp_tag,
    input  logic [BUS_BYTES*8-1:0] rsp_data,
    // SRAM writes
    output logic                   pad_we,
    output logic [           31:0] pad_idx,
    output logic                   dw_en,
    output logic [           31:0] dw_row,
    output logic [           31:0] dw_boff,
    output logic [BUS_BYTES*8-1:0] dw_data,
    output logic [      LOG_BUS:0] dw_nbytes
);
  localparam logic [1:0] SEG_NONE = 2'd0, SEG_TOP = 2'd1, SEG_BOT = 2'd2, SEG_COL = 2'd3;
  localparam logic [31:0] BUS32 = 32'(BUS_BYTES);

  // ------------------------------------------------------------------ decode
  logic [2:0] mem_type;
  logic [31:0] sram_base, dram_base, ys, xs, stride, yp0, yp1, xp0, xp1, w, log_e;
  logic [31:0] n_top, n_bot, n_col, pad_total, row_bytes, stride_bytes, data_row0;
  logic has_xfer;
  assign mem_type = insn[MEM_MEM_TYPE_LO+:3];
  assign sel_a = mem_type == MEM_A;
  assign sram_base = 32'(insn[MEM_SRAM_BASE_LO+:MEM_SRAM_BASE_W]);
  assign dram_base = insn[MEM_DRAM_BASE_LO+:32];
  assign ys = 32'(insn[MEM_Y_SIZE_LO+:16]);
  assign xs = 32'(insn[MEM_X_SIZE_LO+:16]);
  assign stride = 32'(insn[MEM_X_STRIDE_LO+:16]);
  assign yp0 = 32'(insn[MEM_Y_PAD_0_LO+:4]);
  assign yp1 = 32'(insn[MEM_Y_PAD_1_LO+:4]);
  assign xp0 = 32'(insn[MEM_X_PAD_0_LO+:4]);
  assign xp1 = 32'(insn[MEM_X_PAD_1_LO+:4]);
  assign log_e = sel_a ? 32'(LOG_E_A) : 32'(LOG_E_B);
  assign w = xp0 + xs + xp1;
  assign n_top = yp0 * w;
  assign n_bot = yp1 * w;
  assign n_col = ys * (xp0 + xp1);
  assign pad_total = n_top + n_bot + n_col;
  assign has_xfer = ys != 0 && xs != 0;
  assign row_bytes = xs << log_e;
  assign stride_bytes = stride << log_e;
  assign data_row0 = sram_base + n_top;  // first element of the first padded data row

  function automatic logic [LOG_BUS:0] beat_bytes(input logic [31:0] boff);
    logic [31:0] left;
    left = row_bytes - boff;
    return (left < BUS32) ? left[LOG_BUS:0] : (LOG_BUS + 1)'(BUS_BYTES);
  endfunction

  // ----------------------------------------------------------------- padding
  logic [1:0] seg_q, seg, seg0, seg_nxt;
  logic [31:0] cnt_q, cnt, cnt0, idx_q, idx, idx0, col_q, col, rowb_q, rowb;
  logic pad_fin;

  always_comb begin
    if (n_top != 0) seg0 = SEG_TOP;
    else if (n_bot != 0) seg0 = SEG_BOT;
    else if (n_col != 0) seg0 = SEG_COL;
    else seg0 = SEG_NONE;
    cnt0 = seg0 == SEG_TOP ? n_top : seg0 == SEG_BOT ? n_bot : n_col;
    idx0 = seg0 == SEG_BOT ? sram_base + (yp0 + ys) * w : sram_base;
  end
  assign seg  = start ? seg0 : seg_q;
  assign cnt  = start ? cnt0 : cnt_q;
  assign idx  = start ? idx0 : idx_q;
  assign col  = start ? 32'd0 : col_q;
  assign rowb = start ? data_row0 : rowb_q;

  always_comb begin
    seg_nxt = SEG_NONE;
    if (seg == SEG_TOP && n_bot != 0) seg_nxt = SEG_BOT;
    else if ((seg == SEG_TOP || seg == SEG_BOT) && n_col != 0) seg_nxt = SEG_COL;
  end

  assign pad_we  = seg != SEG_NONE;
  assign pad_idx = seg == SEG_COL ? rowb + (col < xp0 ? col : col + xs) : idx;
  assign pad_fin = pad_we && cnt == 32'd1 && seg_nxt == SEG_NONE;

  always_ff @(posedge clk) begin
    if (rst) begin
      seg_q <= SEG_NONE;
      cnt_q <= '0;
      idx_q <= '0;
      col_q <= '0;
      rowb_q <= '0;
    end else if (pad_we) begin
      if (cnt == 32'd1) begin
        seg_q <= seg_nxt;
        cnt_q <= seg_nxt == SEG_BOT ? n_bot : n_col;
        idx_q <= sram_base + (yp0 + ys) * w;
        col_q <= '0;
        rowb_q <= data_row0;
      end else begin
        seg_q <= seg;
        cnt_q <= cnt - 32'd1;
        idx_q <= idx + 32'd1;
        if (col + 32'd1 == xp0 + xp1) begin
          col_q  <= '0;
          rowb_q <= rowb + w;
        end else begin
          col_q  <= col + 32'd1;
          rowb_q <= rowb;
        end
      end
    end
  end

  // ----------------------------------------------------------------- request
  logic req_q, req_d;
  assign req = (start && pad_total == 0 && has_xfer) || req_q;
  assign dram_wait = req && !gnt;
  assign ev_req = req && !req_d;
  always_ff @(posedge clk) begin
    if (rst) begin
      req_q <= 1'b0;
      req_d <= 1'b0;
    end else begin
      req_q <= (req && !gnt) || (pad_fin && has_xfer);
      req_d <= req;
    end
  end

  // ------------------------------------------------------------------- issue
  logic is_q;
  logic [63:0] is_addr_q, is_addr;
  logic [31:0] is_boff_q, is_boff, is_rows_q, is_rows;
  logic is_row_end;
  assign is_addr = start ? 64'(dram_base) << log_e : is_addr_q;
  assign is_boff = start ? 32'd0 : is_boff_q;
  assign is_rows = start ? ys : is_rows_q;
  assign beat_valid = gnt || is_q;
  assign issuing = is_q;
  assign beat_addr = is_addr + 64'(is_boff);
  assign beat_nbytes = beat_bytes(is_boff);
  assign is_row_end = is_boff + BUS32 >= row_bytes;

  always_ff @(posedge clk) begin
    if (rst) begin
      is_q <= 1'b0;
      is_addr_q <= '0;
      is_boff_q <= '0;
      is_rows_q <= '0;
    end else begin
      if (beat_valid) begin
        is_q <= !(is_row_end && is_rows == 32'd1);
        if (is_row_end) begin
          is_addr_q <= is_addr + 64'(stride_bytes);
          is_boff_q <= '0;
          is_rows_q <= is_rows - 32'd1;
        end else begin
          is_addr_q <= is_addr;
          is_boff_q <= is_boff + BUS32;
          is_rows_q <= is_rows;
        end
      end else if (start) begin
        is_addr_q <= is_addr;
        is_boff_q <= is_boff;
        is_rows_q <= is_rows;
      end
    end
  end

  // ----------------------------------------------------------------- receive
  logic got, rc_row_end, xfer_fin;
  logic [31:0] rc_row_q, rc_boff_q, rc_rows_q;
  assign got = rsp_valid && rsp_tag == 2'(TAG);
  assign rc_row_end = rc_boff_q + BUS32 >= row_bytes;
  assign xfer_fin = got && rc_row_end && rc_rows_q == 32'd1;
  assign dw_en = got;
  assign dw_row = rc_row_q;
  assign dw_boff = rc_boff_q;
  assign dw_data = rsp_data;
  assign dw_nbytes = beat_bytes(rc_boff_q);

  always_ff @(posedge clk) begin
    if (rst) begin
      rc_row_q  <= '0;
      rc_boff_q <= '0;
      rc_rows_q <= '0;
    end else if (start) begin
      rc_row_q  <= data_row0 + xp0;
      rc_boff_q <= '0;
      rc_rows_q <= ys;
    end else if (got) begin
      if (rc_row_end) begin
        rc_row_q  <= rc_row_q + w;
        rc_boff_q <= '0;
        rc_rows_q <= rc_rows_q - 32'd1;
      end else begin
        rc_boff_q <= rc_boff_q + BUS32;
      end
    end
  end

  assign last = has_xfer ? xfer_fin : ((start && pad_total == 0) || pad_fin);
endmodule

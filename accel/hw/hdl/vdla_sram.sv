// An on-chip memory of 2^AW elements of 2^LOG_E bytes (SPEC.md section 1), cleared during
// reset.
//
// Write ports:
//  * DMA beat: `dw_nbytes` bytes of a bus beat that start `dw_boff` bytes into a row whose first
//    element is `dw_row`. Rows are element-aligned, so a beat is part of one element
//    (LOG_E >= LOG_BUS) or whole consecutive elements (LOG_E < LOG_BUS).
//  * element: one whole element (padding zeros, GEMM/ALU results).
// Read ports (combinational): two single-element ports and one port returning WIDE consecutive
// elements (the store's beat).
module vdla_sram #(
    parameter int LOG_E   = 4,
    parameter int AW      = 11,
    parameter int LOG_BUS = 3,
    parameter int WIDE    = 1
) (
    input  logic                  clk,
    input  logic                  rst,
    input  logic                  dw_en,
    input  logic [          31:0] dw_row,
    input  logic [          31:0] dw_boff,
    input  logic [(8<<LOG_BUS)-1:0] dw_data,
    input  logic [     LOG_BUS:0] dw_nbytes,
    input  logic                  ew_en,
    input  logic [        AW-1:0] ew_idx,
    input  logic [(8<<LOG_E)-1:0] ew_data,
    input  logic [        AW-1:0] ra_idx,
    output logic [(8<<LOG_E)-1:0] ra_data,
    input  logic [        AW-1:0] rb_idx,
    output logic [(8<<LOG_E)-1:0] rb_data,
    input  logic [        AW-1:0] rw_idx,
    output logic [(WIDE*8<<LOG_E)-1:0] rw_data
);
  localparam int EW = 8 << LOG_E;  // element bits
  localparam int BW = 1 << LOG_BUS;  // bus bytes
  localparam int DEPTH = 1 << AW;

  logic [EW-1:0] mem[DEPTH];
  logic [AW-1:0] dw_idx;
  assign dw_idx = AW'(dw_row + (dw_boff >> LOG_E));

  generate
    if (LOG_E >= LOG_BUS) begin : g_wide_elem
      // a beat is one slice of one element
      localparam int NSUB = 1 << (LOG_E - LOG_BUS);
      logic [31:0] sub;
      logic unused_nbytes;
      assign unused_nbytes = ^dw_nbytes;  // every beat fills its slice
      assign sub = (dw_boff >> LOG_BUS) & 32'(NSUB - 1);
      always_ff @(posedge clk) begin
        if (rst) begin
          for (int i = 0; i < DEPTH; i++) mem[i] <= '0;
        end else begin
          if (dw_en) mem[dw_idx][sub*BW*8+:BW*8] <= dw_data;
          if (ew_en) mem[ew_idx] <= ew_data;
        end
      end
    end else begin : g_narrow_elem
      // a beat carries up to 2^(LOG_BUS-LOG_E) whole elements
      localparam int K = 1 << (LOG_BUS - LOG_E);
      logic [LOG_BUS:0] n_el;
      assign n_el = dw_nbytes >> LOG_E;
      always_ff @(posedge clk) begin
        if (rst) begin
          for (int i = 0; i < DEPTH; i++) mem[i] <= '0;
        end else begin
          if (dw_en) begin
            for (int j = 0; j < K; j++) begin
              if (j < 32'(n_el)) mem[dw_idx+AW'(j)] <= dw_data[j*EW+:EW];
            end
          end
          if (ew_en) mem[ew_idx] <= ew_data;
        end
      end
    end
  endgenerate

  assign ra_data = mem[ra_idx];
  assign rb_data = mem[rb_idx];
  always_comb begin
    for (int j = 0; j < WIDE; j++) rw_data[j*EW+:EW] = mem[rw_idx+AW'(j)];
  end
endmodule

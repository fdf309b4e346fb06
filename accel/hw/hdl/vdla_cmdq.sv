// Command queue (SPEC.md 6.1, 6.2): a FIFO of DEPTH entries with a registered count. An entry
// pushed in cycle F can be dequeued from cycle F+1; a slot freed by a dequeue in cycle Q can be
// filled from cycle Q+1. The head is read combinationally.
module vdla_cmdq #(
    parameter int DEPTH = 128,
    parameter int WIDTH = 160
) (
    input  logic             clk,
    input  logic             rst,
    input  logic             push,
    input  logic [WIDTH-1:0] din,
    output logic             full,
    input  logic             pop,
    output logic             valid,
    output logic [WIDTH-1:0] dout
);
  localparam int AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
  localparam int CW = 13;  // holds 0..4096 (CMD_QUEUE_DEPTH <= 4096)

  logic [WIDTH-1:0] mem[DEPTH];
  logic [AW-1:0] wp, rp;
  logic [CW-1:0] cnt;

  function automatic logic [AW-1:0] incr(input logic [AW-1:0] p);
    return (32'(p) == DEPTH - 1) ? '0 : p + AW'(1);
  endfunction

  always_ff @(posedge clk) begin
    if (rst) begin
      wp  <= '0;
      rp  <= '0;
      cnt <= '0;
    end else begin
      if (push) wp <= incr(wp);
      if (pop) rp <= incr(rp);
      cnt <= cnt + CW'(push) - CW'(pop);
    end
  end

  always_ff @(posedge clk) begin
    if (push) mem[wp] <= din;
  end

  assign full  = cnt == CW'(DEPTH);
  assign valid = cnt != '0;
  assign dout  = mem[rp];
endmodule

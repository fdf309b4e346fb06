// Dependency-token queue (SPEC.md 5.2, 6.2): tokens carry no data, so a counter suffices.
// The count is registered: a token pushed in cycle p can be popped from cycle p+1, and a slot
// freed by a pop in cycle s can be filled from cycle s+1.
module vdla_tokq #(
    parameter int DEPTH = 64
) (
    input  logic clk,
    input  logic rst,
    input  logic push,
    input  logic pop,
    output logic can_pop,
    output logic can_push,
    output logic [12:0] count
);
  localparam int CW = 13;  // holds 0..4096 (TOKEN_QUEUE_DEPTH <= 4096)

  logic [CW-1:0] cnt;
  always_ff @(posedge clk) begin
    if (rst) cnt <= '0;
    else cnt <= cnt + CW'(push) - CW'(pop);
  end
  assign can_pop = cnt != '0;
  assign can_push = cnt < CW'(DEPTH);
  assign count = cnt;
endmodule

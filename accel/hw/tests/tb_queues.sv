// Testbench top for the queues: a token queue and a command queue, both of depth 3.
module tb_queues (
    input  logic        clk,
    input  logic        rst,
    input  logic        t_push,
    input  logic        t_pop,
    output logic        t_can_pop,
    output logic        t_can_push,
    output logic [12:0] t_count,
    input  logic        c_push,
    input  logic [15:0] c_din,
    output logic        c_full,
    input  logic        c_pop,
    output logic        c_valid,
    output logic [15:0] c_dout
);
  vdla_tokq #(
      .DEPTH(3)
  ) u_tok (
      .clk, .rst, .push(t_push), .pop(t_pop), .can_pop(t_can_pop), .can_push(t_can_push),
      .count(t_count)
  );
  vdla_cmdq #(
      .DEPTH(3), .WIDTH(16)
  ) u_cmd (
      .clk, .rst, .push(c_push), .din(c_din), .full(c_full), .pop(c_pop), .valid(c_valid),
      .dout(c_dout)
  );
endmodule

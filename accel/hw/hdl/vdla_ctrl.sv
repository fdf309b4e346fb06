// The instruction sequencer shared by LOAD, COMPUTE and STORE (SPEC.md 6.2), and their cycle
// counters (SPEC.md 6.6).
//
// For the j-th instruction: dequeue at Q (the module is free and its command queue is not
// empty), start at S >= Q once every token it pops is available (the pops happen in cycle S),
// execute [S, X] (the datapath raises `last` in cycle X), push at P >= X once every queue it
// pushes into has room, retire (the next dequeue can happen at P+1). All of Q, S, X and P may be
// the same cycle. `insn` is the dequeued instruction: the queue head in the dequeue cycle, a
// register afterwards.
//
// Every cycle is counted in exactly one of busy, wait_dram, wait_token, wait_push and an idle
// run; an idle run followed by a dequeue is wait_cmd, the final one is idle.
module vdla_ctrl (
    input  logic         clk,
    input  logic         rst,
    // command queue
    input  logic         cmd_valid,
    input  logic [159:0] cmd_data,
    output logic         cmd_pop,
    // current instruction
    output logic [127:0] insn,
    output logic [ 31:0] tag,
    // handshakes with the token queues and the datapath
    input  logic         tok_ok,     // every token the instruction pops is available
    input  logic         push_ok,    // every queue the instruction pushes into has room
    input  logic         last,       // datapath: this execution cycle is X
    input  logic         dram_wait,  // datapath: waiting for the bus this cycle (R <= c < G)
    output logic         start,      // S: pops happen
    output logic         exec,       // S <= c <= X
    output logic         done_x,     // c == X
    output logic         push,       // P: pushes happen
    output logic [  1:0] phase,      // 0 idle, 1 waiting for tokens, 2 executing, 3 waiting to push
    // counters
    output logic [ 63:0] c_busy,
    output logic [ 63:0] c_wait_dram,
    output logic [ 63:0] c_wait_token,
    output logic [ 63:0] c_wait_push,
    output logic [ 63:0] c_wait_cmd,
    output logic [ 63:0] c_idle,
    output logic [ 31:0] c_retired
);
  localparam logic [1:0] IDLE = 2'd0, TOK = 2'd1, EXEC = 2'd2, PUSH = 2'd3;

  logic [1:0] ph;
  logic [159:0] cur;
  logic deq, at_tok, at_push;

  assign deq     = ph == IDLE && cmd_valid;
  assign cmd_pop = deq;
  assign insn    = deq ? cmd_data[127:0] : cur[127:0];
  assign tag     = deq ? cmd_data[159:128] : cur[159:128];
  assign at_tok  = deq || ph == TOK;
  assign start   = at_tok && tok_ok;
  assign exec    = start || ph == EXEC;
  assign done_x  = exec && last;
  assign at_push = done_x || ph == PUSH;
  assign push    = at_push && push_ok;
  assign phase   = ph;

  always_ff @(posedge clk) begin
    if (rst) begin
      ph <= IDLE;
      cur <= '0;
      c_busy <= '0;
      c_wait_dram <= '0;
      c_wait_token <= '0;
      c_wait_push <= '0;
      c_wait_cmd <= '0;
      c_idle <= '0;
      c_retired <= '0;
    end else begin
      if (deq) cur <= cmd_data;
      if (push) ph <= IDLE;
      else if (at_push) ph <= PUSH;
      else if (exec) ph <= EXEC;
      else if (at_tok) ph <= TOK;
      else ph <= IDLE;

      if (exec) begin
        if (dram_wait) c_wait_dram <= c_wait_dram + 64'd1;
        else c_busy <= c_busy + 64'd1;
      end else if (ph == PUSH) begin
        c_wait_push <= c_wait_push + 64'd1;
      end else if (at_tok) begin
        c_wait_token <= c_wait_token + 64'd1;
      end
      // an idle run becomes wait_cmd when an instruction arrives
      if (deq) begin
        c_wait_cmd <= c_wait_cmd + c_idle;
        c_idle <= '0;
      end else if (ph == IDLE) begin
        c_idle <= c_idle + 64'd1;
      end
      if (push) c_retired <= c_retired + 32'd1;
    end
  end
endmodule

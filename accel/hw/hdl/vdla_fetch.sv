// FETCH (SPEC.md 6.1): reads instruction `pc` through its own port (no DRAM bus) and
// dispatches it, one per cycle, into the command queue of the module that executes it
// (SPEC.md 5.1). It stalls while that queue is full. Each queue entry carries the instruction
// number (a tag used only by the testbench's per-instruction timeline).
module vdla_fetch
  import vdla_cfg::*;
(
    input  logic         clk,
    input  logic         rst,
    input  logic [ 31:0] n_insns,
    output logic [ 31:0] pc,
    input  logic [127:0] insn,
    input  logic [  2:0] q_full,    // {store, compute, load}
    output logic [  2:0] q_push,
    output logic [159:0] q_data,    // {tag, insn}
    output logic         dispatch,
    output logic         pending,   // instructions remain to be dispatched
    output logic [  1:0] target,
    output logic [ 63:0] stall_full
);
  logic [2:0] opcode, mem_type;
  assign opcode   = insn[2:0];
  assign mem_type = insn[MEM_MEM_TYPE_LO+:3];

  // 0 LOAD (LOAD INP/WGT), 1 COMPUTE (LOAD UOP/ACC, GEMM, ALU, FINISH), 2 STORE
  always_comb begin
    if (opcode == 3'd0 && (mem_type == 3'd1 || mem_type == 3'd2)) target = 2'd0;
    else if (opcode == 3'd1) target = 2'd2;
    else target = 2'd1;
  end

  assign pending  = pc < n_insns;
  assign dispatch = pending && !q_full[target];
  assign q_push   = dispatch ? (3'b001 << target) : 3'b000;
  assign q_data   = {pc, insn};

  always_ff @(posedge clk) begin
    if (rst) begin
      pc <= '0;
      stall_full <= '0;
    end else if (dispatch) begin
      pc <= pc + 32'd1;
    end else if (pending) begin
      stall_full <= stall_full + 64'd1;
    end
  end
endmodule

// GEMM core (SPEC.md 5.5): one iteration's BATCH x BLOCK_IN x BLOCK_OUT multiply-accumulates,
//   acc_out[b][o] = acc[b][o] + sum_k inp[b][k] * wgt[o][k]   (mod 2^ACC_W),
// or zero with `reset`. Lanes are packed row-major, lane 0 in the low bits, as in SRAM.
module vdla_gemm_core
  import vdla_cfg::*;
(
    input  logic                              reset,
    input  logic [ BATCH*BLOCK_IN*INP_W-1:0]  inp,
    input  logic [BLOCK_OUT*BLOCK_IN*WGT_W-1:0] wgt,
    input  logic [BATCH*BLOCK_OUT*ACC_W-1:0]  acc,
    output logic [BATCH*BLOCK_OUT*ACC_W-1:0]  acc_out
);
  for (genvar b = 0; b < BATCH; b++) begin : g_b
    for (genvar o = 0; o < BLOCK_OUT; o++) begin : g_o
      logic [ACC_W-1:0] sum;
      always_comb begin
        sum = acc[(b*BLOCK_OUT+o)*ACC_W+:ACC_W];
        for (int k = 0; k < BLOCK_IN; k++) begin
          // operands sign-extended to ACC_W: the product is exact modulo 2^ACC_W
          sum = sum + ACC_W'($signed(inp[(b*BLOCK_IN+k)*INP_W+:INP_W]))
                    * ACC_W'($signed(wgt[(o*BLOCK_IN+k)*WGT_W+:WGT_W]));
        end
      end
      assign acc_out[(b*BLOCK_OUT+o)*ACC_W+:ACC_W] = reset ? '0 : sum;
    end
  end
endmodule

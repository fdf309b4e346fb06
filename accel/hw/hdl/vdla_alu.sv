// ALU (SPEC.md 5.6), lane-parallel over BATCH x BLOCK_OUT accumulator lanes:
//   y = wrap(op(a, v))  with v = imm (sign-extended) if use_imm else s;  0 if reset.
// MULSHR computes (a*s + 2^(imm-1)) >> imm exactly (imm = 0: a*s). Intermediates are 2*ACC_W
// bits, enough for every operation's exact value.
module vdla_alu
  import vdla_cfg::*;
(
    input  logic                             reset,
    input  logic [                      2:0] op,
    input  logic                             use_imm,
    input  logic [                     15:0] imm,
    input  logic [BATCH*BLOCK_OUT*ACC_W-1:0] a,
    input  logic [BATCH*BLOCK_OUT*ACC_W-1:0] s,
    output logic [BATCH*BLOCK_OUT*ACC_W-1:0] y
);
  localparam int N = ACC_W;
  localparam int W2 = 2 * ACC_W;
  localparam logic [2:0] MIN = 3'd0, MAX = 3'd1, ADD = 3'd2, SHR = 3'd3, MUL = 3'd4, RSHR = 3'd5,
      MULSHR = 3'd6;

  /* verilator lint_off UNUSEDSIGNAL */  // results wrap: high bits of t are dropped
  function automatic logic [N-1:0] shr(input logic signed [W2-1:0] aw, input logic signed [N-1:0] v);
    logic signed [W2-1:0] t;
    int sh, vi;
    vi = int'(v);
    if (vi >= 0) begin  // arithmetic right shift by min(v, N-1)
      sh = (vi > N - 1) ? N - 1 : vi;
      t  = aw >>> sh;
    end else begin  // left shift by min(-v, N)
      sh = (vi < -N) ? N : -vi;
      t  = aw <<< sh;
    end
    return t[N-1:0];
  endfunction

  function automatic logic [N-1:0] lane(input logic [2:0] f, input logic signed [N-1:0] av,
                                        input logic signed [N-1:0] v, input logic [15:0] sh16);  // shift: sh16[6:0]
    logic signed [W2-1:0] aw, vw, t;
    int sa, vi;
    vi = int'(v);
    aw = W2'(av);
    vw = W2'(v);
    case (f)
      MIN: t = (av < v) ? aw : vw;
      MAX: t = (av > v) ? aw : vw;
      ADD: t = aw + vw;
      SHR: t = W2'(shr(aw, v));
      MUL: t = aw * vw;
      RSHR: begin
        if (vi >= 1) begin
          sa = (vi > N) ? N : vi;
          t = (aw + (W2'(1) <<< (sa - 1))) >>> sa;
        end else begin
          t = W2'(shr(aw, v));
        end
      end
      MULSHR: begin
        sa = int'(sh16[6:0]);
        t = aw * vw;
        if (sa != 0) t = (t + (W2'(1) <<< (sa - 1))) >>> sa;
      end
      default: t = '0;
    endcase
    return t[N-1:0];
  endfunction

  /* verilator lint_on UNUSEDSIGNAL */

  logic [N-1:0] immv;
  assign immv = N'($signed(imm));

  for (genvar l = 0; l < BATCH * BLOCK_OUT; l++) begin : g_lane
    assign y[l*N+:N] = reset ? '0 : lane(op, a[l*N+:N], use_imm ? immv : s[l*N+:N], imm);
  end
endmodule

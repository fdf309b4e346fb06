// COMPUTE module (SPEC.md 5.1, 5.5-5.7, 6.4): LOAD UOP/ACC (through its load engine), GEMM,
// ALU and FINISH. It owns the micro-op buffer and the accumulator; STORE reads the accumulator
// through `st_idx`/`st_data`.
//
// GEMM and ALU run a 4-stage pipeline, one iteration per cycle:
//   I (cycle S+t)   loop counters i0, i1, u and the index offsets i0*f_out + i1*f_in
//   U (S+t+1)       read UOP[u]; dst/src/wgt indices
//   O (S+t+2)       read ACC[dst], and INP[src], WGT[wgt] (GEMM) or ACC[src] (ALU)
//   E (S+t+3)       GEMM core or ALU; write ACC[dst]
// so X = S + n_iter + 2 (SPEC.md 6.4). Sequential semantics: stage O reads the accumulator
// after every write up to iteration t-2; iteration t-1 (in stage E during the same cycle)
// is forwarded from its result register.
module vdla_compute
  import vdla_cfg::*;
#(
    parameter int K_ST = 1  // accumulator elements per STORE beat
) (
    input  logic                                clk,
    input  logic                                rst,
    // command queue
    input  logic                                cmd_valid,
    input  logic [                       159:0] cmd_data,
    output logic                                cmd_pop,
    // token queues: pops l2c (pop_prev), s2c (pop_next); pushes c2l (push_prev), c2s (push_next)
    input  logic                                l2c_can_pop,
    input  logic                                s2c_can_pop,
    input  logic                                c2l_can_push,
    input  logic                                c2s_can_push,
    output logic                                l2c_pop,
    output logic                                s2c_pop,
    output logic                                c2l_push,
    output logic                                c2s_push,
    // bus and DRAM
    output logic                                req,
    input  logic                                gnt,
    output logic                                issuing,
    output logic                                beat_valid,
    output logic [                        63:0] beat_addr,
    output logic [                   LOG_BUS:0] beat_nbytes,
    input  logic                                rsp_valid,
    input  logic [                         1:0] rsp_tag,
    input  logic [             BUS_BYTES*8-1:0] rsp_data,
    // INP and WGT reads (stage O)
    output logic [                   W_INP-1:0] inp_idx,
    input  logic [        BATCH*BLOCK_IN*INP_W-1:0] inp_data,
    output logic [                   W_WGT-1:0] wgt_idx,
    input  logic [    BLOCK_OUT*BLOCK_IN*WGT_W-1:0] wgt_data,
    // accumulator read for STORE
    input  logic [                   W_ACC-1:0] st_idx,
    output logic [     (K_ST*8<<LOG_E_ACC)-1:0] st_data,
    // status, events, counters
    output logic                                progress,
    output logic [                         1:0] phase,
    output logic [                        31:0] tag,
    output logic                                ev_deq,
    output logic                                ev_start,
    output logic                                ev_req,
    output logic                                ev_last,
    output logic                                ev_push,
    output logic [                        63:0] c_busy,
    output logic [                        63:0] c_wait_dram,
    output logic [                        63:0] c_wait_token,
    output logic [                        63:0] c_wait_push,
    output logic [                        63:0] c_wait_cmd,
    output logic [                        63:0] c_idle,
    output logic [                        31:0] c_retired,
    output logic [                        63:0] c_macs
);
  localparam int ACC_EW = 8 << LOG_E_ACC;
  localparam logic [2:0] OP_LOAD = 3'd0, OP_GEMM = 3'd2, OP_ALU = 3'd4;

  // ---------------------------------------------------------------- sequencer
  logic [127:0] insn;
  logic tok_ok, push_ok, last, dram_wait, start, exec, done_x, push;
  logic pop_prev, pop_next, push_prev, push_next;
  assign pop_prev = insn[3];
  assign pop_next = insn[4];
  assign push_prev = insn[5];
  assign push_next = insn[6];
  assign tok_ok = (!pop_prev || l2c_can_pop) && (!pop_next || s2c_can_pop);
  assign push_ok = (!push_prev || c2l_can_push) && (!push_next || c2s_can_push);
  assign l2c_pop = start && pop_prev;
  assign s2c_pop = start && pop_next;
  assign c2l_push = push && push_prev;
  assign c2s_push = push && push_next;

  vdla_ctrl u_ctrl (
      .clk, .rst, .cmd_valid, .cmd_data, .cmd_pop, .insn, .tag, .tok_ok, .push_ok, .last,
      .dram_wait, .start, .exec, .done_x, .push, .phase, .c_busy, .c_wait_dram, .c_wait_token,
      .c_wait_push, .c_wait_cmd, .c_idle, .c_retired
  );
  assign progress = cmd_pop || exec || push;
  assign ev_deq = cmd_pop;
  assign ev_start = start;
  assign ev_last = done_x;
  assign ev_push = push;

  logic [2:0] opcode;
  logic is_load, is_loop, is_alu;
  assign opcode  = insn[2:0];
  assign is_load = opcode == OP_LOAD;
  assign is_alu  = opcode == OP_ALU;
  assign is_loop = opcode == OP_GEMM || is_alu;

  // --------------------------------------------------------- LOAD UOP / ACC
  logic ld_last, ld_wait, ld_sel_uop, pad_we, dw_en;
  /* verilator lint_off UNUSEDSIGNAL */  // each memory uses the low index bits it needs
  logic [31:0] pad_idx;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [31:0] dw_row, dw_boff;
  logic [BUS_BYTES*8-1:0] dw_data;
  logic [LOG_BUS:0] dw_nbytes;
  vdla_ldeng #(
      .TAG(1), .MEM_A(3'd0), .LOG_E_A(LOG_E_UOP), .LOG_E_B(LOG_E_ACC)
  ) u_ld (
      .clk, .rst, .start(start && is_load), .insn, .last(ld_last), .dram_wait(ld_wait),
      .sel_a(ld_sel_uop), .req, .gnt, .issuing, .ev_req, .beat_valid, .beat_addr, .beat_nbytes,
      .rsp_valid, .rsp_tag, .rsp_data, .pad_we, .pad_idx, .dw_en, .dw_row, .dw_boff, .dw_data,
      .dw_nbytes
  );

  // --------------------------------------------------------- loop decode
  logic reset, use_imm;
  logic [2:0] alu_op;
  logic [15:0] imm;
  logic [W_UOP-1:0] uop_bgn, uop_last;
  logic [ITER_W-1:0] iter_out, iter_in;
  logic [W_ACC-1:0] dst_fo, dst_fi;
  logic [W_SRC-1:0] src_fo, src_fi;
  logic [W_WGT-1:0] wgt_fo, wgt_fi;
  assign reset = insn[GEMM_RESET_LO];
  assign uop_bgn = insn[GEMM_UOP_BGN_LO+:W_UOP];
  assign uop_last = W_UOP'(insn[GEMM_UOP_END_LO+:W_UOP+1] - (W_UOP + 1)'(1));
  assign iter_out = insn[GEMM_ITER_OUT_LO+:ITER_W];
  assign iter_in = insn[GEMM_ITER_IN_LO+:ITER_W];
  assign dst_fo = insn[GEMM_DST_FACTOR_OUT_LO+:W_ACC];
  assign dst_fi = insn[GEMM_DST_FACTOR_IN_LO+:W_ACC];
  assign src_fo = is_alu ? W_SRC'(insn[ALU_SRC_FACTOR_OUT_LO+:W_ACC])
                         : W_SRC'(insn[GEMM_SRC_FACTOR_OUT_LO+:W_INP]);
  assign src_fi = is_alu ? W_SRC'(insn[ALU_SRC_FACTOR_IN_LO+:W_ACC])
                         : W_SRC'(insn[GEMM_SRC_FACTOR_IN_LO+:W_INP]);
  assign wgt_fo = insn[GEMM_WGT_FACTOR_OUT_LO+:W_WGT];
  assign wgt_fi = insn[GEMM_WGT_FACTOR_IN_LO+:W_WGT];
  assign alu_op = insn[ALU_ALU_OP_LO+:3];
  assign use_imm = insn[ALU_USE_IMM_LO];
  assign imm = insn[ALU_IMM_LO+:16];

  // --------------------------------------------------------- stage I
  logic start_loop, i_valid, i_last, i_act_q;
  logic [W_UOP-1:0] u_q, u;
  logic [ITER_W-1:0] i0_q, i0, i1_q, i1;
  logic [W_ACC-1:0] do_q, do_, di_q, di;
  logic [W_SRC-1:0] so_q, so, si_q, si;
  logic [W_WGT-1:0] wo_q, wo, wi_q, wi;
  logic u_wrap, i1_wrap;
  assign start_loop = start && is_loop;
  assign i_valid = start_loop || i_act_q;
  assign u   = start_loop ? uop_bgn : u_q;
  assign i0  = start_loop ? '0 : i0_q;
  assign i1  = start_loop ? '0 : i1_q;
  assign do_ = start_loop ? '0 : do_q;
  assign di  = start_loop ? '0 : di_q;
  assign so  = start_loop ? '0 : so_q;
  assign si  = start_loop ? '0 : si_q;
  assign wo  = start_loop ? '0 : wo_q;
  assign wi  = start_loop ? '0 : wi_q;
  assign u_wrap = u == uop_last;
  assign i1_wrap = i1 == iter_in - ITER_W'(1);
  assign i_last = u_wrap && i1_wrap && i0 == iter_out - ITER_W'(1);

  always_ff @(posedge clk) begin
    if (rst) begin
      i_act_q <= 1'b0;
      u_q <= '0;
      i0_q <= '0;
      i1_q <= '0;
      do_q <= '0;
      di_q <= '0;
      so_q <= '0;
      si_q <= '0;
      wo_q <= '0;
      wi_q <= '0;
    end else if (i_valid) begin
      i_act_q <= !i_last;
      if (!u_wrap) begin
        u_q <= u + W_UOP'(1);
        {i0_q, i1_q, do_q, di_q, so_q, si_q, wo_q, wi_q} <= {i0, i1, do_, di, so, si, wo, wi};
      end else if (!i1_wrap) begin
        u_q  <= uop_bgn;
        i0_q <= i0;
        i1_q <= i1 + ITER_W'(1);
        {do_q, so_q, wo_q} <= {do_, so, wo};
        di_q <= di + dst_fi;
        si_q <= si + src_fi;
        wi_q <= wi + wgt_fi;
      end else begin
        u_q  <= uop_bgn;
        i0_q <= i0 + ITER_W'(1);
        i1_q <= '0;
        do_q <= do_ + dst_fo;
        so_q <= so + src_fo;
        wo_q <= wo + wgt_fo;
        {di_q, si_q, wi_q} <= '0;
      end
    end
  end

  // --------------------------------------------------------- stage U
  logic u_valid, u_last;
  logic [W_UOP-1:0] u_addr;
  logic [W_ACC-1:0] u_doff;
  logic [W_SRC-1:0] u_soff;
  logic [W_WGT-1:0] u_woff;
  /* verilator lint_off UNUSEDSIGNAL */  // bits above the micro-op's fields are ignored
  logic [31:0] uop;
  /* verilator lint_on UNUSEDSIGNAL */
  always_ff @(posedge clk) begin
    if (rst) u_valid <= 1'b0;
    else u_valid <= i_valid;
    u_last <= i_last;
    u_addr <= u;
    u_doff <= do_ + di;
    u_soff <= so + si;
    u_woff <= wo + wi;
  end

  // --------------------------------------------------------- stage O
  logic o_valid, o_last;
  logic [W_ACC-1:0] o_dst;
  logic [W_SRC-1:0] o_src;
  logic [W_WGT-1:0] o_wgt;
  always_ff @(posedge clk) begin
    if (rst) o_valid <= 1'b0;
    else o_valid <= u_valid;
    o_last <= u_last;
    o_dst  <= W_ACC'(uop[UOP_DST_LO+:UOP_DST_W]) + u_doff;
    o_src  <= W_SRC'(uop[UOP_SRC_LO+:UOP_SRC_W]) + u_soff;
    o_wgt  <= W_WGT'(uop[UOP_WGT_LO+:UOP_WGT_W]) + u_woff;
  end
  assign inp_idx = o_src[W_INP-1:0];
  assign wgt_idx = o_wgt;

  // --------------------------------------------------------- stage E
  logic e_valid, e_last, e_fwd_d, e_fwd_s;
  logic [W_ACC-1:0] e_dst;
  logic [ACC_EW-1:0] acc_d, acc_s, e_acc, e_src, e_prev, e_a, e_s, gemm_y, alu_y, e_y;
  logic [BATCH*BLOCK_IN*INP_W-1:0] e_inp;
  logic [BLOCK_OUT*BLOCK_IN*WGT_W-1:0] e_wgt;
  always_ff @(posedge clk) begin
    if (rst) e_valid <= 1'b0;
    else e_valid <= o_valid;
    e_last  <= o_last;
    e_dst   <= o_dst;
    e_fwd_d <= e_valid && e_dst == o_dst;
    e_fwd_s <= e_valid && e_dst == o_src[W_ACC-1:0];
    if (o_valid) begin
      e_acc <= acc_d;
      e_src <= acc_s;
      e_inp <= inp_data;
      e_wgt <= wgt_data;
    end
    if (e_valid) e_prev <= e_y;
  end
  assign e_a = e_fwd_d ? e_prev : e_acc;
  assign e_s = e_fwd_s ? e_prev : e_src;

  vdla_gemm_core u_gemm (.reset(reset), .inp(e_inp), .wgt(e_wgt), .acc(e_a), .acc_out(gemm_y));
  vdla_alu u_alu (
      .reset(reset), .op(alu_op), .use_imm(use_imm), .imm(imm), .a(e_a), .s(e_s), .y(alu_y)
  );
  assign e_y = is_alu ? alu_y : gemm_y;

  always_ff @(posedge clk) begin
    if (rst) c_macs <= '0;
    else if (e_valid && !is_alu && !reset) c_macs <= c_macs + 64'(MACS);
  end

  // --------------------------------------------------------- memories
  logic [31:0] unused_uop_rb;
  logic [31:0] unused_uop_rw;
  vdla_sram #(
      .LOG_E(LOG_E_UOP), .AW(W_UOP), .LOG_BUS(LOG_BUS), .WIDE(1)
  ) u_uop (
      .clk, .rst, .dw_en(dw_en && ld_sel_uop), .dw_row, .dw_boff, .dw_data, .dw_nbytes,
      .ew_en(pad_we && ld_sel_uop), .ew_idx(W_UOP'(pad_idx)), .ew_data('0),
      .ra_idx(u_addr), .ra_data(uop), .rb_idx('0), .rb_data(unused_uop_rb), .rw_idx('0),
      .rw_data(unused_uop_rw)
  );

  vdla_sram #(
      .LOG_E(LOG_E_ACC), .AW(W_ACC), .LOG_BUS(LOG_BUS), .WIDE(K_ST)
  ) u_acc (
      .clk, .rst, .dw_en(dw_en && !ld_sel_uop), .dw_row, .dw_boff, .dw_data, .dw_nbytes,
      .ew_en(e_valid || (pad_we && !ld_sel_uop)), .ew_idx(e_valid ? e_dst : W_ACC'(pad_idx)),
      .ew_data(e_valid ? e_y : '0), .ra_idx(o_dst), .ra_data(acc_d),
      .rb_idx(o_src[W_ACC-1:0]), .rb_data(acc_s), .rw_idx(st_idx), .rw_data(st_data)
  );

  // --------------------------------------------------------- X and the bus wait
  assign last = is_load ? ld_last : is_loop ? (e_valid && e_last) : start;
  assign dram_wait = is_load && ld_wait;
endmodule

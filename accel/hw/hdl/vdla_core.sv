// The VDLA accelerator (SPEC.md): FETCH, three command queues, four token queues, the LOAD,
// COMPUTE and STORE modules, the INP and WGT memories and the DRAM bus arbiter.
//
// Instruction port: the core reads instruction `insn_addr` combinationally (its own port,
// SPEC.md D6). DRAM port: at most one beat per cycle (`dram_valid`); the DRAM model answers a
// read beat with `rsp_*` and a write beat with `wack_valid` exactly DRAM_LATENCY cycles later
// (the model lives in the testbench, accel/hw/tb/vdla_main.cpp).
//
// Bus arbitration (SPEC.md 6.3): the bus is free in a cycle in which no engine is issuing the
// second or a later beat of a transfer; then the highest-priority pending request (COMPUTE >
// LOAD > STORE) is granted and its engine issues its first beat in the same cycle.
//
// `done` rises at cycle T (every instruction retired, SPEC.md 6.5). `stuck` means no module
// made progress in this cycle although the program has not finished: nothing will ever change
// again (a deadlock, SPEC.md rule 10). Counters and status are read through `sel`/`sel_val`.
module vdla_core
  import vdla_cfg::*;
(
    input  logic                   clk,
    input  logic                   rst,
    input  logic [           31:0] n_insns,
    output logic [           31:0] insn_addr,
    input  logic [          127:0] insn_data,
    // DRAM
    output logic                   dram_valid,
    output logic                   dram_write,
    output logic [            1:0] dram_tag,
    output logic [           63:0] dram_addr,
    output logic [      LOG_BUS:0] dram_nbytes,
    output logic [BUS_BYTES*8-1:0] dram_wdata,
    input  logic                   rsp_valid,
    input  logic [            1:0] rsp_tag,
    input  logic [BUS_BYTES*8-1:0] rsp_data,
    input  logic                   wack_valid,
    // status
    output logic                   done,
    output logic                   stuck,
    // events for the per-instruction timeline: bit 0 load, 1 compute, 2 store
    output logic                   ev_any,
    output logic                   ev_fetch,
    output logic [            2:0] ev_deq,
    output logic [            2:0] ev_start,
    output logic [            2:0] ev_req,
    output logic [            2:0] ev_gnt,
    output logic [            2:0] ev_last,
    output logic [            2:0] ev_push,
    output logic [           31:0] tag_load,
    output logic [           31:0] tag_compute,
    output logic [           31:0] tag_store,
    // counters and status
    input  logic [            5:0] sel,
    output logic [           63:0] sel_val
);
  localparam int K_ST = LOG_E_OUT >= LOG_BUS ? 1 : 1 << (LOG_BUS - LOG_E_OUT);

  // ------------------------------------------------------------------- fetch
  logic [2:0] q_full, q_push, q_pop, q_valid;
  logic [159:0] q_data;
  logic [159:0] q_head[3];
  logic dispatch, pending;
  logic [1:0] target;
  logic [63:0] c_fetch_stall;
  vdla_fetch u_fetch (
      .clk, .rst, .n_insns, .pc(insn_addr), .insn(insn_data), .q_full, .q_push, .q_data,
      .dispatch, .pending, .target, .stall_full(c_fetch_stall)
  );
  for (genvar m = 0; m < 3; m++) begin : g_cmdq
    vdla_cmdq #(
        .DEPTH(QC), .WIDTH(160)
    ) u_q (
        .clk, .rst, .push(q_push[m]), .din(q_data), .full(q_full[m]), .pop(q_pop[m]),
        .valid(q_valid[m]), .dout(q_head[m])
    );
  end

  // ------------------------------------------------------------ token queues
  // 0 l2c, 1 c2l, 2 c2s, 3 s2c
  logic [3:0] t_push, t_pop, t_can_pop, t_can_push;
  logic [12:0] t_count[4];
  for (genvar q = 0; q < 4; q++) begin : g_tokq
    vdla_tokq #(
        .DEPTH(QT)
    ) u_t (
        .clk, .rst, .push(t_push[q]), .pop(t_pop[q]), .can_pop(t_can_pop[q]),
        .can_push(t_can_push[q]), .count(t_count[q])
    );
  end

  // ---------------------------------------------------------------- modules
  logic [2:0] req, gnt, issuing, beat_valid, progress;
  logic [63:0] beat_addr[3];
  logic [LOG_BUS:0] beat_nbytes[3];
  logic [BUS_BYTES*8-1:0] st_wdata;
  logic [1:0] phase[3];
  logic [63:0] c_busy[3], c_wait_dram[3], c_wait_token[3], c_wait_push[3], c_wait_cmd[3], c_idle[3];
  logic [31:0] c_retired[3];
  logic [63:0] c_macs;

  // INP and WGT memories (written by LOAD, read by COMPUTE)
  logic ld_sel_inp, ld_pad_we, ld_dw_en;
  /* verilator lint_off UNUSEDSIGNAL */  // each memory uses the low index bits it needs
  logic [31:0] ld_pad_idx;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [31:0] ld_dw_row, ld_dw_boff;
  logic [BUS_BYTES*8-1:0] ld_dw_data;
  logic [LOG_BUS:0] ld_dw_nbytes;
  logic [W_INP-1:0] inp_idx;
  logic [W_WGT-1:0] wgt_idx;
  logic [BATCH*BLOCK_IN*INP_W-1:0] inp_data;
  logic [BLOCK_OUT*BLOCK_IN*WGT_W-1:0] wgt_data;
  logic [W_ACC-1:0] st_idx;
  logic [(K_ST*8<<LOG_E_ACC)-1:0] st_data;

  vdla_load u_load (
      .clk, .rst, .cmd_valid(q_valid[0]), .cmd_data(q_head[0]), .cmd_pop(q_pop[0]),
      .c2l_can_pop(t_can_pop[1]), .l2c_can_push(t_can_push[0]), .c2l_pop(t_pop[1]),
      .l2c_push(t_push[0]), .req(req[0]), .gnt(gnt[0]), .issuing(issuing[0]),
      .beat_valid(beat_valid[0]), .beat_addr(beat_addr[0]), .beat_nbytes(beat_nbytes[0]),
      .rsp_valid, .rsp_tag, .rsp_data, .sel_inp(ld_sel_inp), .pad_we(ld_pad_we),
      .pad_idx(ld_pad_idx), .dw_en(ld_dw_en), .dw_row(ld_dw_row), .dw_boff(ld_dw_boff),
      .dw_data(ld_dw_data), .dw_nbytes(ld_dw_nbytes), .progress(progress[0]), .phase(phase[0]),
      .tag(tag_load), .ev_deq(ev_deq[0]), .ev_start(ev_start[0]), .ev_req(ev_req[0]),
      .ev_last(ev_last[0]), .ev_push(ev_push[0]), .c_busy(c_busy[0]),
      .c_wait_dram(c_wait_dram[0]), .c_wait_token(c_wait_token[0]),
      .c_wait_push(c_wait_push[0]), .c_wait_cmd(c_wait_cmd[0]), .c_idle(c_idle[0]),
      .c_retired(c_retired[0])
  );

  vdla_compute #(
      .K_ST(K_ST)
  ) u_compute (
      .clk, .rst, .cmd_valid(q_valid[1]), .cmd_data(q_head[1]), .cmd_pop(q_pop[1]),
      .l2c_can_pop(t_can_pop[0]), .s2c_can_pop(t_can_pop[3]), .c2l_can_push(t_can_push[1]),
      .c2s_can_push(t_can_push[2]), .l2c_pop(t_pop[0]), .s2c_pop(t_pop[3]),
      .c2l_push(t_push[1]), .c2s_push(t_push[2]), .req(req[1]), .gnt(gnt[1]),
      .issuing(issuing[1]), .beat_valid(beat_valid[1]), .beat_addr(beat_addr[1]),
      .beat_nbytes(beat_nbytes[1]), .rsp_valid, .rsp_tag, .rsp_data, .inp_idx, .inp_data,
      .wgt_idx, .wgt_data, .st_idx, .st_data, .progress(progress[1]), .phase(phase[1]),
      .tag(tag_compute), .ev_deq(ev_deq[1]), .ev_start(ev_start[1]), .ev_req(ev_req[1]),
      .ev_last(ev_last[1]), .ev_push(ev_push[1]), .c_busy(c_busy[1]),
      .c_wait_dram(c_wait_dram[1]), .c_wait_token(c_wait_token[1]),
      .c_wait_push(c_wait_push[1]), .c_wait_cmd(c_wait_cmd[1]), .c_idle(c_idle[1]),
      .c_retired(c_retired[1]), .c_macs
  );

  vdla_store #(
      .K(K_ST)
  ) u_store (
      .clk, .rst, .cmd_valid(q_valid[2]), .cmd_data(q_head[2]), .cmd_pop(q_pop[2]),
      .c2s_can_pop(t_can_pop[2]), .s2c_can_push(t_can_push[3]), .c2s_pop(t_pop[2]),
      .s2c_push(t_push[3]), .req(req[2]), .gnt(gnt[2]), .issuing(issuing[2]),
      .beat_valid(beat_valid[2]), .beat_addr(beat_addr[2]), .beat_nbytes(beat_nbytes[2]),
      .beat_data(st_wdata), .wack_valid, .rd_idx(st_idx), .rd_data(st_data),
      .progress(progress[2]), .phase(phase[2]), .tag(tag_store), .ev_deq(ev_deq[2]),
      .ev_start(ev_start[2]), .ev_req(ev_req[2]), .ev_last(ev_last[2]), .ev_push(ev_push[2]),
      .c_busy(c_busy[2]), .c_wait_dram(c_wait_dram[2]), .c_wait_token(c_wait_token[2]),
      .c_wait_push(c_wait_push[2]), .c_wait_cmd(c_wait_cmd[2]), .c_idle(c_idle[2]),
      .c_retired(c_retired[2])
  );

  logic [(8<<LOG_E_INP)-1:0] unused_inp_rb;
  logic [(8<<LOG_E_INP)-1:0] unused_inp_rw;
  logic [(8<<LOG_E_WGT)-1:0] unused_wgt_rb;
  logic [(8<<LOG_E_WGT)-1:0] unused_wgt_rw;
  vdla_sram #(
      .LOG_E(LOG_E_INP), .AW(W_INP), .LOG_BUS(LOG_BUS), .WIDE(1)
  ) u_inp (
      .clk, .rst, .dw_en(ld_dw_en && ld_sel_inp), .dw_row(ld_dw_row), .dw_boff(ld_dw_boff),
      .dw_data(ld_dw_data), .dw_nbytes(ld_dw_nbytes), .ew_en(ld_pad_we && ld_sel_inp),
      .ew_idx(W_INP'(ld_pad_idx)), .ew_data('0), .ra_idx(inp_idx), .ra_data(inp_data),
      .rb_idx('0), .rb_data(unused_inp_rb), .rw_idx('0), .rw_data(unused_inp_rw)
  );
  vdla_sram #(
      .LOG_E(LOG_E_WGT), .AW(W_WGT), .LOG_BUS(LOG_BUS), .WIDE(1)
  ) u_wgt (
      .clk, .rst, .dw_en(ld_dw_en && !ld_sel_inp), .dw_row(ld_dw_row), .dw_boff(ld_dw_boff),
      .dw_data(ld_dw_data), .dw_nbytes(ld_dw_nbytes), .ew_en(ld_pad_we && !ld_sel_inp),
      .ew_idx(W_WGT'(ld_pad_idx)), .ew_data('0), .ra_idx(wgt_idx), .ra_data(wgt_data),
      .rb_idx('0), .rb_data(unused_wgt_rb), .rw_idx('0), .rw_data(unused_wgt_rw)
  );

  // ----------------------------------------------------------- bus arbiter
  logic bus_free;
  assign bus_free = issuing == 3'b000;
  assign gnt[1] = bus_free && req[1];
  assign gnt[0] = bus_free && req[0] && !req[1];
  assign gnt[2] = bus_free && req[2] && !req[1] && !req[0];

  assign dram_valid = |beat_valid;
  assign dram_write = beat_valid[2];
  assign dram_tag = beat_valid[0] ? 2'd0 : beat_valid[1] ? 2'd1 : 2'd2;
  assign dram_addr = beat_valid[0] ? beat_addr[0] : beat_valid[1] ? beat_addr[1] : beat_addr[2];
  assign dram_nbytes = beat_valid[0] ? beat_nbytes[0]
                     : beat_valid[1] ? beat_nbytes[1] : beat_nbytes[2];
  assign dram_wdata = st_wdata;

  logic [63:0] c_bytes_read, c_bytes_written, c_bus_busy;
  always_ff @(posedge clk) begin
    if (rst) begin
      c_bytes_read <= '0;
      c_bytes_written <= '0;
      c_bus_busy <= '0;
    end else if (dram_valid) begin
      c_bus_busy <= c_bus_busy + 64'd1;
      if (dram_write) c_bytes_written <= c_bytes_written + 64'(dram_nbytes);
      else c_bytes_read <= c_bytes_read + 64'(dram_nbytes);
    end
  end

  // ------------------------------------------------------- status and events
  assign done = c_retired[0] + c_retired[1] + c_retired[2] == n_insns;
  assign stuck = !done && !dispatch && progress == 3'b000;
  assign ev_fetch = dispatch;
  assign ev_gnt = gnt;
  assign ev_any = dispatch || |{ev_deq, ev_start, ev_req, ev_gnt, ev_last, ev_push};

  always_comb begin
    sel_val = '0;
    if (sel < 6'd21) begin
      case (32'(sel) % 7)
        0: sel_val = c_busy[32'(sel)/7];
        1: sel_val = c_wait_dram[32'(sel)/7];
        2: sel_val = c_wait_token[32'(sel)/7];
        3: sel_val = c_wait_push[32'(sel)/7];
        4: sel_val = c_wait_cmd[32'(sel)/7];
        5: sel_val = c_idle[32'(sel)/7];
        default: sel_val = 64'(c_retired[32'(sel)/7]);
      endcase
    end else begin
      case (sel)
        6'd21: sel_val = c_fetch_stall;
        6'd22: sel_val = c_bytes_read;
        6'd23: sel_val = c_bytes_written;
        6'd24: sel_val = c_bus_busy;
        6'd25: sel_val = c_macs;
        6'd26: sel_val = 64'(phase[0]);
        6'd27: sel_val = 64'(phase[1]);
        6'd28: sel_val = 64'(phase[2]);
        6'd29: sel_val = 64'(tag_load);
        6'd30: sel_val = 64'(tag_compute);
        6'd31: sel_val = 64'(tag_store);
        6'd32: sel_val = 64'(t_count[0]);
        6'd33: sel_val = 64'(t_count[1]);
        6'd34: sel_val = 64'(t_count[2]);
        6'd35: sel_val = 64'(t_count[3]);
        6'd36: sel_val = 64'(insn_addr);
        6'd37: sel_val = 64'(q_valid);
        6'd38: sel_val = 64'(target);
        6'd39: sel_val = 64'(pending);
        default: sel_val = '0;
      endcase
    end
  end
endmodule

// The Atalla reference design: command processor, mailbox, GEMM unit (systolic array), vector
// unit, scratchpad, DMA engine and the DRAM model, parameterized by the hardware config
// (atalla/config.py; the testbench passes it with Verilator -G).
//
// Outside the chip: the firmware (the control core) on the mailbox's firmware side and the DMA
// engine's register port; and the DRAM's storage (dram_model.cpp).
module atalla_top
  import atalla_pkg::*;
#(
  parameter int     ARRAY_ROWS = 8,
  parameter int     ARRAY_COLS = 8,
  parameter int     SP_BYTES = 65536,
  parameter int     SP_ROW_BYTES = 16,
  parameter int     SP_BANKS = 8,
  parameter int     BANK_RD_PORTS = 2,
  parameter int     BANK_WR_PORTS = 1,
  parameter longint DRAM_BYTES = 64'd16777216,
  parameter int     DRAM_LATENCY = 20,
  parameter int     DMA_BYTES_PER_CYCLE = 16,
  parameter int     NUM_HANDLES = 64,
  parameter int     NUM_TICKETS = 16,
  parameter int     DIV_LATENCY = 1,
  parameter int     REDUCE_LATENCY = 1
) (
  input  logic                              clk_i,
  input  logic                              rst_ni,
  // control
  input  logic                              start_i,
  input  logic [31:0]                       prog_base_i,
  output logic                              done_o,
  output logic                              fault_o,
  output fault_e                            fault_code_o,
  output status_e                           fault_status_o,
  output logic [31:0]                       cmd_index_o,
  output opcode_e                           opcode_o,
  // mailbox, firmware side
  output logic                              mb_doorbell_o,
  output mailbox_call_e                     mb_call_o,
  output logic [MAILBOX_MAX_ARGS-1:0][31:0] mb_args_o,
  input  logic                              mb_resp_doorbell_i,
  input  status_e                           mb_resp_status_i,
  input  logic [31:0]                       mb_resp_value_i,
  // DMA engine programming by the firmware: a descriptor (the mailbox DMA arguments) and a start
  // pulse; the register writes to the engine then take one cycle each, as on the control core.
  input  logic                              fw_dma_start_i,
  input  logic [DMA_ARG_COUNT-1:0][31:0]    fw_dma_desc_i,
  output logic                              fw_dma_idle_o,    // ready for the next descriptor
  // performance counters
  output logic [31:0]                       cycles_o,
  output logic [31:0]                       fetch_cycles_o,
  output logic [31:0]                       gemm_cycles_o,
  output logic [31:0]                       vec_cycles_o,
  output logic [31:0]                       mailbox_cycles_o,
  output logic [31:0]                       wait_cycles_o,
  output logic [31:0]                       interlock_cycles_o,
  output logic [NUM_OPCODES-1:0][31:0]      op_count_o,
  output logic [63:0]                       mac_count_o,
  output logic [63:0]                       array_busy_cycles_o,
  // cycles in which a unit's scratchpad request was refused for want of a bank port
  output logic [31:0]                       gemm_bank_stall_cycles_o,
  output logic [31:0]                       vec_bank_stall_cycles_o,
  output logic [31:0]                       dma_bank_stall_cycles_o
);
  localparam int LANES = SP_ROW_BYTES / BF16_BYTES;
  localparam int SP_ROWS = SP_BYTES / SP_ROW_BYTES;
  localparam int ROW_ADDR_BITS = $clog2(SP_ROWS);
  localparam int TICKET_BITS = $clog2(NUM_TICKETS);
  localparam int BEAT_BITS = 8 * DMA_BYTES_PER_CYCLE;
  localparam int PAIR_BITS = 2 * LANES * 16;

  // -- command processor ------------------------------------------------------------------------
  logic                              fetch_req, fetch_valid;
  logic [31:0]                       fetch_addr;
  logic [COMMAND_WORDS-1:0][31:0]    fetch_data;
  logic                              mb_req, mb_full, mb_empty, mb_resp_valid;
  mailbox_call_e                     mb_call;
  logic [MAILBOX_MAX_ARGS-1:0][31:0] mb_args;
  logic [31:0]                       mb_tag, mb_resp_tag;
  status_e                           mb_resp_status;
  logic [31:0]                       mb_resp_value;
  logic                              dma_done;
  logic [TICKET_BITS-1:0]            dma_done_ticket;
  logic                              gemm_push, gemm_ready, gemm_busy, gemm_hazard, gemm_accumulate;
  logic                              gemm_c_bf16, gemm_c_row_bcast, gemm_d_bf16, touch_write, touch_hazard;
  logic [ROW_ADDR_BITS-1:0]          gemm_a_row, gemm_b_row, gemm_c_row, gemm_d_row;
  logic [7:0]                        gemm_a_step;
  logic [31:0]                       gemm_m, gemm_k, gemm_n;
  logic [2:0][31:0]                  touch_lo, touch_hi;
  logic                              vec_start, vec_done, vec_busy, vec_dst_fp32, vec_a_fp32, vec_b_fp32;
  vec_func_e                         vec_func;
  bmode_e                            vec_bmode;
  logic [ROW_ADDR_BITS-1:0]          vec_dst_row, vec_a_row;
  logic [31:0]                       vec_b_word;
  logic [23:0]                       vec_rows;
  logic [15:0]                       vec_cols;

  cmdproc #(.ARRAY_ROWS(ARRAY_ROWS), .ARRAY_COLS(ARRAY_COLS), .ROW_BYTES(SP_ROW_BYTES), .ROW_ADDR_BITS(ROW_ADDR_BITS), .NUM_HANDLES(NUM_HANDLES),
            .NUM_TICKETS(NUM_TICKETS)) u_cmdproc (
    .clk_i, .rst_ni, .start_i, .prog_base_i, .done_o, .fault_o, .fault_code_o, .fault_status_o, .cmd_index_o,
    .opcode_o,
    .fetch_req_o(fetch_req), .fetch_addr_o(fetch_addr), .fetch_valid_i(fetch_valid), .fetch_data_i(fetch_data),
    .mb_req_o(mb_req), .mb_call_o(mb_call), .mb_args_o(mb_args), .mb_tag_o(mb_tag), .mb_full_i(mb_full),
    .mb_empty_i(mb_empty), .mb_resp_valid_i(mb_resp_valid), .mb_resp_status_i(mb_resp_status),
    .mb_resp_value_i(mb_resp_value), .mb_resp_tag_i(mb_resp_tag),
    .dma_done_i(dma_done), .dma_done_ticket_i(dma_done_ticket),
    .gemm_push_o(gemm_push), .gemm_a_row_o(gemm_a_row), .gemm_a_step_o(gemm_a_step), .gemm_b_row_o(gemm_b_row),
    .gemm_c_row_o(gemm_c_row), .gemm_d_row_o(gemm_d_row), .gemm_m_o(gemm_m), .gemm_k_o(gemm_k), .gemm_n_o(gemm_n),
    .gemm_accumulate_o(gemm_accumulate), .gemm_c_bf16_o(gemm_c_bf16), .gemm_c_row_bcast_o(gemm_c_row_bcast),
    .gemm_d_bf16_o(gemm_d_bf16), .gemm_ready_i(gemm_ready), .gemm_busy_i(gemm_busy), .gemm_hazard_i(gemm_hazard),
    .touch_lo_o(touch_lo), .touch_hi_o(touch_hi), .touch_write_o(touch_write), .touch_hazard_i(touch_hazard),
    .vec_start_o(vec_start), .vec_func_o(vec_func), .vec_dst_fp32_o(vec_dst_fp32), .vec_a_fp32_o(vec_a_fp32),
    .vec_b_fp32_o(vec_b_fp32), .vec_bmode_o(vec_bmode), .vec_dst_row_o(vec_dst_row), .vec_a_row_o(vec_a_row),
    .vec_b_word_o(vec_b_word), .vec_rows_o(vec_rows), .vec_cols_o(vec_cols), .vec_done_i(vec_done),
    .cycles_o, .fetch_cycles_o, .gemm_cycles_o, .vec_cycles_o, .mailbox_cycles_o, .wait_cycles_o,
    .interlock_cycles_o, .op_count_o
  );

  mailbox u_mailbox (
    .clk_i, .rst_ni, .req_i(mb_req), .call_i(mb_call), .args_i(mb_args), .tag_i(mb_tag), .full_o(mb_full),
    .empty_o(mb_empty), .resp_valid_o(mb_resp_valid), .resp_status_o(mb_resp_status), .resp_value_o(mb_resp_value),
    .resp_tag_o(mb_resp_tag),
    .doorbell_o(mb_doorbell_o), .req_call_o(mb_call_o), .req_args_o(mb_args_o),
    .resp_doorbell_i(mb_resp_doorbell_i), .resp_status_i(mb_resp_status_i), .resp_value_i(mb_resp_value_i)
  );

  // -- command fetch: lines read ahead on DRAM port 1 ---------------------------------------
  logic                  p1_req_valid, p1_req_ready, p1_rvalid, p1_rlast;
  logic [BEAT_BITS-1:0]  p1_rdata;
  logic [31:0]           p1_req_addr;
  logic [15:0]           p1_req_len;
  fetch #(.DRAM_BYTES(DRAM_BYTES), .BEAT_BYTES(DMA_BYTES_PER_CYCLE), .COMMAND_BYTES(COMMAND_BYTES)) u_fetch (
    .clk_i, .rst_ni, .start_i, .prog_base_i,
    .req_i(fetch_req), .addr_i(fetch_addr), .valid_o(fetch_valid), .data_o(fetch_data),
    .dram_req_valid_o(p1_req_valid), .dram_req_ready_i(p1_req_ready), .dram_req_addr_o(p1_req_addr),
    .dram_req_len_o(p1_req_len), .dram_rvalid_i(p1_rvalid), .dram_rdata_i(p1_rdata), .dram_rlast_i(p1_rlast)
  );

  // -- DMA engine, programmed register by register from the firmware's descriptor -------------
  logic                     dma_reg_we, dma_start, dma_busy, dma_idle;
  logic [2:0]               dma_reg_idx;
  logic [31:0]              dma_reg_wdata;
  logic [31:0]              fw_reg;  // next register to write; DMA_ARG_COUNT: start
  logic                     fw_programming;
  logic [DMA_ARG_COUNT-1:0][31:0] fw_desc;
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      fw_programming <= 1'b0;
      fw_reg         <= '0;
    end else if (fw_dma_start_i && !fw_programming) begin
      fw_programming <= 1'b1;
      fw_reg         <= '0;
      fw_desc        <= fw_dma_desc_i;
    end else if (fw_programming) begin
      if (fw_reg < DMA_ARG_COUNT) fw_reg <= fw_reg + 1;
      else if (!dma_busy) fw_programming <= 1'b0;  // the start is taken once the queue has room
    end
  end
  assign dma_reg_we    = fw_programming && fw_reg < DMA_ARG_COUNT;
  assign dma_reg_idx   = 3'(fw_reg);
  assign dma_reg_wdata = fw_desc[fw_reg[$clog2(DMA_ARG_COUNT)-1:0]];
  assign dma_start     = fw_programming && fw_reg == DMA_ARG_COUNT && !dma_busy;
  assign fw_dma_idle_o = !fw_programming && !fw_dma_start_i;

  logic                          p0_req_valid, p0_req_ready, p0_req_write, p0_rvalid, p0_rlast, p0_wack;
  logic [31:0]                   p0_req_addr;
  logic [15:0]                   p0_req_len;
  logic [BEAT_BITS-1:0]          p0_req_wdata, p0_rdata;
  logic [DMA_BYTES_PER_CYCLE-1:0] p0_req_wstrb;
  logic                          sp_dma_we, sp_dma_re, sp_dma_gnt, p0_rready;
  logic [ROW_ADDR_BITS-1:0]      sp_dma_row;
  logic [8*SP_ROW_BYTES-1:0]     sp_dma_wdata, sp_dma_rdata;

  dma #(.ROW_BYTES(SP_ROW_BYTES), .SP_ROWS(SP_ROWS), .BEAT_BYTES(DMA_BYTES_PER_CYCLE), .DRAM_BYTES(DRAM_BYTES),
        .TICKET_W(TICKET_BITS)) u_dma (
    .clk_i, .rst_ni, .reg_we_i(dma_reg_we), .reg_idx_i(dma_reg_idx), .reg_wdata_i(dma_reg_wdata),
    .start_i(dma_start), .busy_o(dma_busy), .idle_o(dma_idle),
    .done_valid_o(dma_done), .done_ticket_o(dma_done_ticket),
    .dram_req_valid_o(p0_req_valid), .dram_req_ready_i(p0_req_ready), .dram_req_write_o(p0_req_write),
    .dram_req_addr_o(p0_req_addr), .dram_req_len_o(p0_req_len), .dram_req_wdata_o(p0_req_wdata),
    .dram_req_wstrb_o(p0_req_wstrb), .dram_rvalid_i(p0_rvalid), .dram_rready_o(p0_rready), .dram_rdata_i(p0_rdata), .dram_wack_i(p0_wack),
    .sp_re_o(sp_dma_re), .sp_gnt_i(sp_dma_gnt), .sp_we_o(sp_dma_we), .sp_row_o(sp_dma_row), .sp_wdata_o(sp_dma_wdata), .sp_rdata_i(sp_dma_rdata)
  );

  dram #(.DRAM_BYTES(DRAM_BYTES), .DRAM_LATENCY(DRAM_LATENCY), .BEAT_BYTES(DMA_BYTES_PER_CYCLE)) u_dram (
    .clk_i, .rst_ni,
    .p0_req_valid_i(p0_req_valid), .p0_req_ready_o(p0_req_ready), .p0_req_write_i(p0_req_write),
    .p0_req_addr_i(p0_req_addr), .p0_req_len_i(p0_req_len), .p0_req_wdata_i(p0_req_wdata),
    .p0_req_wstrb_i(p0_req_wstrb), .p0_rvalid_o(p0_rvalid), .p0_rready_i(p0_rready), .p0_rdata_o(p0_rdata), .p0_rlast_o(p0_rlast),
    .p0_wack_o(p0_wack),
    .p1_req_valid_i(p1_req_valid), .p1_req_ready_o(p1_req_ready), .p1_req_addr_i(p1_req_addr),
    .p1_req_len_i(p1_req_len), .p1_rvalid_o(p1_rvalid), .p1_rdata_o(p1_rdata), .p1_rlast_o(p1_rlast)
  );

  // -- compute units, each on its own scratchpad ports (a VEC runs beside queued GEMMs whose rows
  //    it does not touch: the GEMM unit's q_hazard_o), behind the bank arbiter --
  logic [2:0]                        gemm_rd_en;
  logic [1:0]                        vec_rd_en, vec_rd_two, gemm_rd_gnt;
  logic [2:0][ROW_ADDR_BITS-1:0]     gemm_rd_row;
  logic [1:0][ROW_ADDR_BITS-1:0]     vec_rd_row;
  logic [2:0][PAIR_BITS-1:0]         gemm_rd_data;
  logic [1:0][PAIR_BITS-1:0]         vec_rd_data;
  logic                              gemm_wr_en, vec_wr_en, gemm_c_two, gemm_wr_next_en, gemm_wr_next_two;
  logic                              vec_gnt, vec_wr_gnt, vec_wr_next_en, vec_wr_next_two;
  logic [ROW_ADDR_BITS-1:0]          gemm_wr_row, vec_wr_row, gemm_wr_next_row, vec_wr_next_row;
  logic [1:0]                        gemm_wr_mask;
  logic [2*LANES-1:0]                vec_wr_mask;
  logic [PAIR_BITS-1:0]              gemm_wr_data, vec_wr_data;

  gemm_unit #(.ROWS(ARRAY_ROWS), .COLS(ARRAY_COLS), .LANES(LANES), .ROW_ADDR_BITS(ROW_ADDR_BITS),
              .QUEUE(GEMM_QUEUE_DEPTH)) u_gemm (
    .clk_i, .rst_ni, .push_i(gemm_push), .ready_o(gemm_ready), .a_row_i(gemm_a_row), .a_step_i(gemm_a_step),
    .b_row_i(gemm_b_row), .c_row_i(gemm_c_row), .d_row_i(gemm_d_row), .m_i(gemm_m), .k_i(gemm_k), .n_i(gemm_n),
    .accumulate_i(gemm_accumulate), .c_bf16_i(gemm_c_bf16), .c_row_bcast_i(gemm_c_row_bcast),
    .d_bf16_i(gemm_d_bf16), .busy_o(gemm_busy), .hazard_o(gemm_hazard),
    .q_lo_i(touch_lo), .q_hi_i(touch_hi), .q_write_i(touch_write), .q_hazard_o(touch_hazard),
    .rd_en_o(gemm_rd_en), .rd_c_two_o(gemm_c_two), .rd_row_o(gemm_rd_row), .rd_gnt_i(gemm_rd_gnt),
    .rd_data_i(gemm_rd_data),
    .wr_en_o(gemm_wr_en), .wr_row_o(gemm_wr_row), .wr_mask_o(gemm_wr_mask), .wr_data_o(gemm_wr_data),
    .wr_next_en_o(gemm_wr_next_en), .wr_next_row_o(gemm_wr_next_row), .wr_next_two_o(gemm_wr_next_two),
    .mac_count_o, .array_busy_cycles_o
  );

  vector_unit #(.LANES(LANES), .ROW_ADDR_BITS(ROW_ADDR_BITS), .DIV_LATENCY(DIV_LATENCY),
                .REDUCE_LATENCY(REDUCE_LATENCY)) u_vector (
    .clk_i, .rst_ni, .start_i(vec_start), .func_i(vec_func), .dst_fp32_i(vec_dst_fp32), .a_fp32_i(vec_a_fp32),
    .b_fp32_i(vec_b_fp32), .bmode_i(vec_bmode), .dst_row_i(vec_dst_row), .a_row_i(vec_a_row),
    .b_word_i(vec_b_word), .rows_i(vec_rows), .cols_i(vec_cols), .busy_o(vec_busy), .done_o(vec_done),
    .rd_en_o(vec_rd_en), .rd_two_o(vec_rd_two), .rd_row_o(vec_rd_row), .gnt_i(vec_gnt), .rd_data_i(vec_rd_data),
    .wr_en_o(vec_wr_en), .wr_row_o(vec_wr_row), .wr_mask_o(vec_wr_mask), .wr_data_o(vec_wr_data),
    .wr_gnt_i(vec_wr_gnt), .wr_next_en_o(vec_wr_next_en), .wr_next_row_o(vec_wr_next_row),
    .wr_next_two_o(vec_wr_next_two)
  );

  sp_arbiter #(.SP_BANKS(SP_BANKS), .ROW_ADDR_BITS(ROW_ADDR_BITS), .BANK_RD_PORTS(BANK_RD_PORTS),
               .BANK_WR_PORTS(BANK_WR_PORTS)) u_arbiter (
    .clk_i, .rst_ni,
    .gemm_c_en_i(gemm_rd_en[2]), .gemm_c_two_i(gemm_c_two), .gemm_c_row_i(gemm_rd_row[2]),
    .gemm_a_en_i(gemm_rd_en[0]), .gemm_a_row_i(gemm_rd_row[0]), .gemm_a_gnt_o(gemm_rd_gnt[0]),
    .gemm_b_en_i(gemm_rd_en[1]), .gemm_b_row_i(gemm_rd_row[1]), .gemm_b_gnt_o(gemm_rd_gnt[1]),
    .gemm_d_en_i(gemm_wr_en), .gemm_d_two_i(gemm_wr_mask[1]), .gemm_d_row_i(gemm_wr_row),
    .gemm_d_next_en_i(gemm_wr_next_en), .gemm_d_next_two_i(gemm_wr_next_two), .gemm_d_next_row_i(gemm_wr_next_row),
    .vec_rd_en_i(vec_rd_en), .vec_rd_two_i(vec_rd_two), .vec_rd_row_i(vec_rd_row),
    .vec_wr_en_i(vec_wr_en), .vec_wr_two_i(|vec_wr_mask[2*LANES-1:LANES]), .vec_wr_row_i(vec_wr_row),
    .vec_wr_gnt_o(vec_wr_gnt), .vec_wr_next_en_i(vec_wr_next_en), .vec_wr_next_two_i(vec_wr_next_two),
    .vec_wr_next_row_i(vec_wr_next_row), .vec_gnt_o(vec_gnt),
    .dma_re_i(sp_dma_re), .dma_we_i(sp_dma_we), .dma_row_i(sp_dma_row), .dma_gnt_o(sp_dma_gnt),
    .gemm_stall_cycles_o(gemm_bank_stall_cycles_o), .vec_stall_cycles_o(vec_bank_stall_cycles_o),
    .dma_stall_cycles_o(dma_bank_stall_cycles_o)
  );

  scratchpad #(.SP_ROWS(SP_ROWS), .ROW_BYTES(SP_ROW_BYTES), .SP_BANKS(SP_BANKS), .NUM_RD(5), .NUM_WR(2)) u_scratchpad (
    .clk_i,
    .dma_we_i(sp_dma_we && sp_dma_gnt), .dma_row_i(sp_dma_row), .dma_wdata_i(sp_dma_wdata), .dma_rdata_o(sp_dma_rdata),
    .rd_row_i({vec_rd_row, gemm_rd_row}), .rd_data_o({vec_rd_data, gemm_rd_data}),
    .wmask_i({vec_wr_gnt ? vec_wr_mask : (2*LANES)'(0), gemm_wr_en ? {{LANES{gemm_wr_mask[1]}}, {LANES{gemm_wr_mask[0]}}} : (2*LANES)'(0)}),
    .wr_row_i({vec_wr_row, gemm_wr_row}),
    .wr_data_i({vec_wr_data, gemm_wr_data})
  );

  // The DMA's last-beat flag and busy/idle states, and the vector unit's busy, are not needed here.
  logic unused;
  assign unused = ^{vec_busy, dma_idle, p0_rlast};
endmodule

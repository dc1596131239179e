// Testbench wrapper for cmdproc + mailbox: clock, reset, a program memory behind DPI-C
// (cmdproc_tb.cpp) answering fetches after a fixed latency, and the unit/DMA handshakes
// exposed for the cocotb test to answer.
module cmdproc_tb
  import atalla_pkg::*;
#(
  parameter int ARRAY_ROWS = 8,
  parameter int ARRAY_COLS = 8,
  parameter int ROW_BYTES = 16,
  parameter int ROW_ADDR_BITS = 12,
  parameter int NUM_HANDLES = 64,
  parameter int NUM_TICKETS = 16,
  parameter int FETCH_LATENCY = 4
);
  import "DPI-C" function void ctb_fetch(input int addr, output bit [255:0] data);

  logic clk_i = 1'b0;
  always #5 clk_i = ~clk_i;
  logic rst_ni = 1'b0;
  initial begin
    repeat (3) @(posedge clk_i);
    rst_ni = 1'b1;
  end

  logic        start_i = 1'b0;
  logic [31:0] prog_base_i = '0;
  logic        done_o, fault_o;
  fault_e      fault_code_o;
  status_e     fault_status_o;
  logic [31:0] cmd_index_o;
  opcode_e     opcode_o;

  // program memory: answers FETCH_LATENCY cycles after a request
  logic                           fetch_req, fetch_valid;
  logic [31:0]                    fetch_addr;
  logic [COMMAND_WORDS-1:0][31:0] fetch_data;
  int                             fetch_wait = 0;
  always_ff @(posedge clk_i) begin
    fetch_valid <= 1'b0;
    if (fetch_req && !fetch_valid) begin
      if (fetch_wait == FETCH_LATENCY) begin
        bit [255:0] words;
        ctb_fetch(int'(fetch_addr), words);
        fetch_data  <= words;
        fetch_valid <= 1'b1;
        fetch_wait  <= 0;
      end else fetch_wait <= fetch_wait + 1;
    end
  end

  // mailbox, firmware side driven by the test
  logic                              mb_req, mb_full, mb_empty, mb_resp_valid;
  logic [31:0]                       mb_tag, mb_resp_tag;
  mailbox_call_e                     mb_call;
  logic [MAILBOX_MAX_ARGS-1:0][31:0] mb_args;
  status_e                           mb_resp_status;
  logic [31:0]                       mb_resp_value;
  logic                              doorbell_o;
  mailbox_call_e                     req_call_o;
  logic [MAILBOX_MAX_ARGS-1:0][31:0] req_args_o;
  logic                              resp_doorbell_i = 1'b0;
  logic [31:0]                       resp_status_i = '0;
  logic [31:0]                       resp_value_i = '0;

  mailbox u_mailbox (
    .clk_i, .rst_ni, .req_i(mb_req), .call_i(mb_call), .args_i(mb_args), .tag_i(mb_tag), .full_o(mb_full),
    .empty_o(mb_empty), .resp_valid_o(mb_resp_valid), .resp_status_o(mb_resp_status), .resp_value_o(mb_resp_value),
    .resp_tag_o(mb_resp_tag),
    .doorbell_o, .req_call_o, .req_args_o, .resp_doorbell_i, .resp_status_i(status_e'(resp_status_i)),
    .resp_value_i
  );

  // units and DMA completion, answered by the test
  logic                             dma_done_i = 1'b0;
  logic [$clog2(NUM_TICKETS)-1:0]   dma_done_ticket_i = '0;
  logic                             gemm_push_o, vec_start_o;
  logic                             vec_done_i = 1'b0;
  logic [ROW_ADDR_BITS-1:0]         gemm_a_row_o, gemm_b_row_o, gemm_c_row_o, gemm_d_row_o, vec_dst_row_o,
                                    vec_a_row_o;
  logic [7:0]                       gemm_a_step_o;
  logic [31:0]                      gemm_m_o, gemm_k_o, gemm_n_o, vec_b_word_o;
  logic [2:0][31:0]                 touch_lo_o, touch_hi_o;
  logic                             gemm_accumulate_o, gemm_c_bf16_o, gemm_c_row_bcast_o, gemm_d_bf16_o;
  logic                             touch_write_o, vec_dst_fp32_o, vec_a_fp32_o, vec_b_fp32_o;
  vec_func_e                        vec_func_o;
  bmode_e                           vec_bmode_o;
  logic [23:0]                      vec_rows_o;
  logic [15:0]                      vec_cols_o;
  logic [31:0]                      cycles_o, fetch_cycles_o, gemm_cycles_o, vec_cycles_o, mailbox_cycles_o,
                                    wait_cycles_o, interlock_cycles_o;
  logic [NUM_OPCODES-1:0][31:0]     op_count_o;

  cmdproc #(.ARRAY_ROWS(ARRAY_ROWS), .ARRAY_COLS(ARRAY_COLS), .ROW_BYTES(ROW_BYTES), .ROW_ADDR_BITS(ROW_ADDR_BITS), .NUM_HANDLES(NUM_HANDLES),
            .NUM_TICKETS(NUM_TICKETS)) dut (
    .clk_i, .rst_ni, .start_i, .prog_base_i, .done_o, .fault_o, .fault_code_o, .fault_status_o, .cmd_index_o,
    .opcode_o,
    .fetch_req_o(fetch_req), .fetch_addr_o(fetch_addr), .fetch_valid_i(fetch_valid), .fetch_data_i(fetch_data),
    .mb_req_o(mb_req), .mb_call_o(mb_call), .mb_args_o(mb_args), .mb_tag_o(mb_tag), .mb_full_i(mb_full),
    .mb_empty_i(mb_empty), .mb_resp_valid_i(mb_resp_valid), .mb_resp_status_i(mb_resp_status),
    .mb_resp_value_i(mb_resp_value), .mb_resp_tag_i(mb_resp_tag),
    .dma_done_i, .dma_done_ticket_i,
    .gemm_push_o, .gemm_a_row_o, .gemm_a_step_o, .gemm_b_row_o, .gemm_c_row_o, .gemm_d_row_o, .gemm_m_o,
    .gemm_k_o, .gemm_n_o, .gemm_accumulate_o, .gemm_c_bf16_o, .gemm_c_row_bcast_o, .gemm_d_bf16_o,
    .gemm_ready_i(1'b1), .gemm_busy_i(gemm_busy != '0), .gemm_hazard_i(1'b0),
    .touch_lo_o, .touch_hi_o, .touch_write_o, .touch_hazard_i(1'b0),
    .vec_start_o, .vec_func_o, .vec_dst_fp32_o, .vec_a_fp32_o, .vec_b_fp32_o, .vec_bmode_o, .vec_dst_row_o,
    .vec_a_row_o, .vec_b_word_o, .vec_rows_o, .vec_cols_o, .vec_done_i,
    .cycles_o, .fetch_cycles_o, .gemm_cycles_o, .vec_cycles_o, .mailbox_cycles_o, .wait_cycles_o,
    .interlock_cycles_o, .op_count_o
  );

  // Units finish a fixed few cycles after their start (the GEMM queue: after the last push): the
  // test checks dispatch, not math.
  logic [2:0] gemm_busy = '0, vec_busy = '0;
  always_ff @(posedge clk_i) begin
    gemm_busy <= gemm_push_o ? 3'b111 : {gemm_busy[1:0], 1'b0};
    vec_busy  <= {vec_busy[1:0], vec_start_o};
    vec_done_i  <= vec_busy[2];
  end
endmodule

// Testbench wrapper for gemm_unit: clock, reset and the testbench scratchpad model (every read
// granted: the bank arbiter is the whole design's); the cocotb test plays the command processor
// (pushes commands, honours the hazard output).
module gemm_tb #(
  parameter int ROWS = 8,
  parameter int COLS = 8,
  parameter int LANES = 8,
  parameter int ROW_ADDR_BITS = 10
);
  logic clk_i = 1'b0;
  always #5 clk_i = ~clk_i;
  logic rst_ni = 1'b0;
  initial begin
    repeat (3) @(posedge clk_i);
    rst_ni = 1'b1;
  end

  logic                     push_i = 1'b0;
  logic [ROW_ADDR_BITS-1:0] a_row_i = '0, b_row_i = '0, c_row_i = '0, d_row_i = '0;
  logic [7:0]               a_step_i = 8'd1;
  logic [31:0]              m_i = 32'd1, k_i = 32'd1, n_i = 32'd1;
  logic [2:0][31:0]         q_lo_i = '0, q_hi_i = '0;
  logic                     accumulate_i = 1'b0, c_bf16_i = 1'b0, c_row_bcast_i = 1'b0, d_bf16_i = 1'b0;
  logic                     q_write_i = 1'b0;
  logic                     ready_o, busy_o, hazard_o, q_hazard_o;
  logic [63:0]              mac_count_o, array_busy_cycles_o;

  logic [2:0]                         rd_en;
  logic                               rd_c_two, wr_next_en, wr_next_two;
  logic [ROW_ADDR_BITS-1:0]           wr_next_row;
  logic [2:0][ROW_ADDR_BITS-1:0]      rd_row;
  logic [2:0][2*LANES*16-1:0]         rd_data;
  logic                               wr_en;
  logic [ROW_ADDR_BITS-1:0]           wr_row;
  logic [1:0]                         wr_mask;
  logic [2*LANES*16-1:0]              wr_data;

  gemm_unit #(.ROWS(ROWS), .COLS(COLS), .LANES(LANES), .ROW_ADDR_BITS(ROW_ADDR_BITS)) dut (
    .clk_i, .rst_ni, .push_i, .ready_o, .a_row_i, .a_step_i, .b_row_i, .c_row_i, .d_row_i, .m_i, .k_i, .n_i,
    .accumulate_i, .c_bf16_i, .c_row_bcast_i, .d_bf16_i, .busy_o, .hazard_o, .q_lo_i, .q_hi_i, .q_write_i,
    .q_hazard_o,
    .rd_en_o(rd_en), .rd_c_two_o(rd_c_two), .rd_row_o(rd_row), .rd_gnt_i(2'b11), .rd_data_i(rd_data),
    .wr_en_o(wr_en), .wr_row_o(wr_row), .wr_mask_o(wr_mask), .wr_data_o(wr_data),
    .wr_next_en_o(wr_next_en), .wr_next_row_o(wr_next_row), .wr_next_two_o(wr_next_two),
    .mac_count_o, .array_busy_cycles_o
  );
  logic unused;
  assign unused = ^{rd_c_two, wr_next_en, wr_next_row, wr_next_two};

  scratchpad_model #(.LANES(LANES), .ROW_ADDR_BITS(ROW_ADDR_BITS)) u_sp (
    .clk_i, .rd_en_i(rd_en), .rd_row_i(rd_row), .rd_data_o(rd_data),
    .wr_en_i(wr_en), .wr_row_i(wr_row), .wr_mask_i({{LANES{wr_mask[1]}}, {LANES{wr_mask[0]}}}),
    .wr_data_i(wr_data)
  );
endmodule

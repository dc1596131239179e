// Testbench wrapper for vector_unit: clock, reset, and the testbench scratchpad model, whose
// storage Python fills and checks with one NumPy view. In place of the bank arbiter: the cocotb test
// sets refuse_next_i to refuse the unit's write of the next cycle (as the GEMM unit's next D write
// would take its bank's port), and the grants follow sp_arbiter's rule for the vector unit.
module vector_tb
  import atalla_pkg::*;
#(
  parameter int LANES = 8,
  parameter int ROW_ADDR_BITS = 10,
  parameter int DIV_LATENCY = 1,
  parameter int REDUCE_LATENCY = 1
);
  localparam int PAIR_BITS = 2 * LANES * 16;

  logic clk_i = 1'b0;
  always #5 clk_i = ~clk_i;
  logic rst_ni = 1'b0;
  initial begin
    repeat (3) @(posedge clk_i);
    rst_ni = 1'b1;
  end

  // Command fields, written by the cocotb test.
  logic                     start_i = 1'b0;
  logic [7:0]               func_i = '0;
  logic                     dst_fp32_i = 1'b0, a_fp32_i = 1'b0, b_fp32_i = 1'b0;
  logic [1:0]               bmode_i = '0;
  logic [ROW_ADDR_BITS-1:0] dst_row_i = '0, a_row_i = '0;
  logic [31:0]              b_word_i = '0;
  logic [23:0]              rows_i = '0;
  logic [15:0]              cols_i = '0;
  logic                     busy_o, done_o;
  logic                     refuse_next_i = 1'b0;  // refuse the write of the next cycle
  logic                     refuse;                // ... of this cycle
  logic [31:0]              cycle_o, refused_o;    // cycles since reset; writes refused

  logic [1:0]                     rd_en, rd_two;
  logic [1:0][ROW_ADDR_BITS-1:0]  rd_row;
  logic [2:0][PAIR_BITS-1:0]      rd_data;
  logic                           wr_en, wr_gnt, gnt, wr_next_en, wr_next_two;
  logic [ROW_ADDR_BITS-1:0]       wr_row, wr_next_row;
  logic [2*LANES-1:0]             wr_mask;
  logic [PAIR_BITS-1:0]           wr_data;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      refuse    <= 1'b0;
      cycle_o   <= '0;
      refused_o <= '0;
    end else begin
      refuse  <= refuse_next_i;
      cycle_o <= cycle_o + 1;
      if (wr_en && !wr_gnt) refused_o <= refused_o + 1;
    end
  end
  assign wr_gnt = !(wr_en && refuse);
  assign gnt    = wr_gnt && !(wr_next_en && refuse_next_i);

  vector_unit #(.LANES(LANES), .ROW_ADDR_BITS(ROW_ADDR_BITS), .DIV_LATENCY(DIV_LATENCY),
                .REDUCE_LATENCY(REDUCE_LATENCY)) dut (
    .clk_i, .rst_ni, .start_i, .func_i(vec_func_e'(func_i)), .dst_fp32_i, .a_fp32_i, .b_fp32_i,
    .bmode_i(bmode_e'(bmode_i)), .dst_row_i, .a_row_i, .b_word_i, .rows_i, .cols_i, .busy_o, .done_o,
    .rd_en_o(rd_en), .rd_two_o(rd_two), .rd_row_o(rd_row), .gnt_i(gnt), .rd_data_i(rd_data[1:0]),
    .wr_en_o(wr_en), .wr_row_o(wr_row), .wr_mask_o(wr_mask), .wr_data_o(wr_data),
    .wr_gnt_i(wr_gnt), .wr_next_en_o(wr_next_en), .wr_next_row_o(wr_next_row), .wr_next_two_o(wr_next_two)
  );
  logic unused;
  assign unused = ^{rd_two, wr_next_row, wr_next_two, rd_data[2]};

  scratchpad_model #(.LANES(LANES), .ROW_ADDR_BITS(ROW_ADDR_BITS)) u_sp (
    .clk_i, .rd_en_i({1'b0, rd_en}), .rd_row_i({ROW_ADDR_BITS'(0), rd_row}), .rd_data_o(rd_data),
    .wr_en_i(wr_gnt && wr_en), .wr_row_i(wr_row), .wr_mask_i(wr_mask), .wr_data_i(wr_data)
  );
endmodule

// GEMM unit: runs one GEMM command, C[m x n] (fp32) = (ACCUMULATE ? C : 0) + A[m x k] @ B[k x n],
// between the scratchpad and the systolic array.
//
// Read port 0 streams A rows (bf16) and read port 1 the k weight rows of B into the array;
// each has a one-entry register that absorbs the scratchpad's one cycle of read latency under
// backpressure. As each result row leaves the array, read port 2 fetches the old C row (two
// scratchpad rows) and the next cycle writes C back: accumulated (fp32_add) or replaced in
// columns j < n, unchanged beyond, as docs/isa.md says a write touches only the tile.
module gemm_unit #(
  parameter int ROWS = 8,
  parameter int COLS = 8,
  parameter int LANES = 8,
  parameter int ROW_ADDR_BITS = 12
) (
  input  logic                              clk_i,
  input  logic                              rst_ni,
  // command: start_i is a one-cycle pulse; the fields stay stable until done_o
  input  logic                              start_i,
  input  logic [ROW_ADDR_BITS-1:0]          a_row_i,
  input  logic [ROW_ADDR_BITS-1:0]          b_row_i,
  input  logic [ROW_ADDR_BITS-1:0]          c_row_i,
  input  logic [31:0]                       m_i,
  input  logic [31:0]                       k_i,
  input  logic [31:0]                       n_i,
  input  logic                              accumulate_i,
  output logic                              done_o,
  // scratchpad compute ports: each read returns two consecutive rows {row+1, row}
  output logic [2:0]                        rd_en_o,
  output logic [2:0][ROW_ADDR_BITS-1:0]     rd_row_o,
  input  logic [2:0][2*LANES*16-1:0]        rd_data_i,
  output logic                              wr_en_o,
  output logic [ROW_ADDR_BITS-1:0]          wr_row_o,
  output logic [1:0]                        wr_mask_o,
  output logic [2*LANES*16-1:0]             wr_data_o,
  // array counters, for utilization
  output logic [63:0]                       mac_count_o,
  output logic [63:0]                       array_busy_cycles_o
);
  localparam int KW = $clog2(ROWS + 1);
  localparam int NW = $clog2(COLS + 1);

  logic active;  // between start_i and done_o
  logic [31:0] a_next, w_next, y_count;  // rows read from A, B; result rows written

  // -- A and weight streams: read, hold in a one-entry register, hand to the array ----------
  logic a_valid, a_ready, a_last, w_valid, w_ready, w_last;
  logic [ROWS*16-1:0] a_data;
  logic [COLS*16-1:0] w_data;
  logic a_issue, w_issue;
  assign a_issue = active && a_next < m_i && (!a_valid || a_ready);
  assign w_issue = active && w_next < k_i && (!w_valid || w_ready);

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      active <= 1'b0;
      a_next <= '0;
      w_next <= '0;
      a_valid <= 1'b0;
      w_valid <= 1'b0;
      a_last <= 1'b0;
      w_last <= 1'b0;
    end else begin
      if (start_i) begin
        active <= 1'b1;
        a_next <= '0;
        w_next <= '0;
      end else if (done_o) begin
        active <= 1'b0;
      end
      if (a_issue) begin
        a_next <= a_next + 1;
        a_last <= a_next + 1 == m_i;
      end
      if (w_issue) begin
        w_next <= w_next + 1;
        w_last <= w_next + 1 == k_i;
      end
      if (a_issue) a_valid <= 1'b1;
      else if (a_ready) a_valid <= 1'b0;
      if (w_issue) w_valid <= 1'b1;
      else if (w_ready) w_valid <= 1'b0;
    end
  end

  // The register takes the scratchpad's answer the cycle after the read.
  logic a_arrived, w_arrived;
  logic [ROWS*16-1:0] a_held;
  logic [COLS*16-1:0] w_held;
  always_ff @(posedge clk_i) begin
    a_arrived <= a_issue;
    w_arrived <= w_issue;
    if (a_arrived) a_held <= rd_data_i[0][ROWS*16-1:0];
    if (w_arrived) w_held <= rd_data_i[1][COLS*16-1:0];
  end
  assign a_data = a_arrived ? rd_data_i[0][ROWS*16-1:0] : a_held;
  assign w_data = w_arrived ? rd_data_i[1][COLS*16-1:0] : w_held;

  // -- the array ---------------------------------------------------------------------------
  logic                 y_valid, y_last;
  logic [COLS*32-1:0]   y_row;
  logic [63:0]          stall_cycles;
  systolic_array #(.ROWS(ROWS), .COLS(COLS)) u_array (
    .clk_i, .rst_ni,
    .w_valid_i(w_valid), .w_ready_o(w_ready), .w_row_i(w_data), .w_last_i(w_last),
    .k_i(KW'(k_i)), .n_i(NW'(n_i)),
    .a_valid_i(a_valid), .a_ready_o(a_ready), .a_row_i(a_data), .a_last_i(a_last),
    .y_valid_o(y_valid), .y_row_o(y_row), .y_last_o(y_last),
    .busy_cycles_o(array_busy_cycles_o), .stall_cycles_o(stall_cycles), .mac_count_o(mac_count_o)
  );

  // -- accumulate into C ----------------------------------------------------------------------
  logic                 y_held_valid, y_held_last;
  logic [COLS*32-1:0]   y_held;
  logic [31:0]          y_index;
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      y_held_valid <= 1'b0;
      y_held_last  <= 1'b0;
      y_count      <= '0;
      done_o       <= 1'b0;
    end else begin
      if (start_i) y_count <= '0;
      else if (y_valid) y_count <= y_count + 1;
      y_held_valid <= y_valid && active;
      y_held_last  <= y_valid && y_count + 1 == m_i;
      done_o       <= y_held_valid && y_held_last;
    end
    y_held  <= y_row;
    y_index <= y_count;
  end

  // The adders run only on a result row (called as functions: nothing to evaluate otherwise).
  always_comb begin
    wr_data_o = rd_data_i[2];
    if (y_held_valid) begin
      for (int j = 0; j < COLS; j++) begin
        if (32'(j) < n_i) wr_data_o[32*j +: 32] = accumulate_i ? fp32_pkg::fp32_add(rd_data_i[2][32*j +: 32],
                                                                                    y_held[32*j +: 32])
                                                              : y_held[32*j +: 32];
      end
    end
  end

  assign rd_en_o   = {y_valid && active, w_issue, a_issue};
  assign rd_row_o  = {c_row_i + ROW_ADDR_BITS'({y_count, 1'b0}), b_row_i + ROW_ADDR_BITS'(w_next),
                      a_row_i + ROW_ADDR_BITS'(a_next)};
  assign wr_en_o   = y_held_valid;
  assign wr_row_o  = c_row_i + ROW_ADDR_BITS'({y_index, 1'b0});
  assign wr_mask_o = 2'b11;

  logic unused;
  assign unused = ^{stall_cycles, y_last};  // measured by the array bench; the row count ends the command
endmodule

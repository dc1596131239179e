// Testbench wrapper for systolic_array: clock, reset, and the three streams played from and
// recorded into SV memories, so Python never waits on single clocks.
//
// A batch: Python writes the weight beats and the A beats as $readmemh files in the working
// directory (array_w.hex: {last, k, n, row}; array_a.hex: {last, row}; one beat per line), sets
// w_count_i / a_count_i and toggles start_i. The tb loads the files, plays both streams as fast as
// the array takes them (or with random gaps: w_gap_i / a_gap_i out of 256 per cycle), records
// every result row, and when all a_count_i rows are back writes them to array_y.hex
// ({last, row}) and raises done_o. Python awaits done_o, then reads the file: one event per batch.
//
// Only the signals marked public are visible to cocotb (the build passes --no-public-flat-rw),
// which keeps the array itself fully optimised.
module array_tb #(
    parameter int ROWS = 8,
    parameter int COLS = 8,
    parameter int DEPTH = 8192  // beats per stream per batch
);
  localparam int KW = $clog2(ROWS + 1);
  localparam int NW = $clog2(COLS + 1);
  localparam int PW = $clog2(DEPTH + 1);  // beat counts 0..DEPTH
  localparam int AW = $clog2(DEPTH);  // memory addresses

  logic clk_i /*verilator public_flat_rw*/ = 1'b0;
  always #5 clk_i = ~clk_i;
  logic rst_ni = 1'b0;
  initial begin
    repeat (3) @(posedge clk_i);
    rst_ni = 1'b1;
  end

  // Controls written by Python.
  logic          start_i   /*verilator public_flat_rw*/ = 1'b0;
  logic [PW-1:0] w_count_i /*verilator public_flat_rw*/ = '0;
  logic [PW-1:0] a_count_i /*verilator public_flat_rw*/ = '0;
  logic [7:0]    w_gap_i   /*verilator public_flat_rw*/ = '0;
  logic [7:0]    a_gap_i   /*verilator public_flat_rw*/ = '0;
  // Status read by Python.
  logic          done_o    /*verilator public_flat_rw*/ = 1'b0;
  logic [PW-1:0] y_count_o /*verilator public_flat_rw*/ = '0;
  logic [63:0]   cycles_o  /*verilator public_flat_rw*/ = '0;  // cycles of the last batch
  logic [63:0]   busy_cycles_o  /*verilator public_flat_rw*/;
  logic [63:0]   stall_cycles_o /*verilator public_flat_rw*/;
  logic [63:0]   mac_count_o    /*verilator public_flat_rw*/;

  logic [COLS*16+KW+NW:0] wmem[DEPTH];  // {last, k, n, row}
  logic [ROWS*16:0]       amem[DEPTH];  // {last, row}
  logic [COLS*32:0]       ymem[DEPTH];  // {last, row}

  logic                 w_valid, w_ready, w_last, a_valid, a_ready, a_last, y_valid, y_last;
  logic [COLS*16-1:0]   w_row;
  logic [KW-1:0]        k;
  logic [NW-1:0]        n;
  logic [ROWS*16-1:0]   a_row;
  logic [COLS*32-1:0]   y_row;

  systolic_array #(.ROWS(ROWS), .COLS(COLS)) dut (
      .clk_i, .rst_ni,
      .w_valid_i(w_valid), .w_ready_o(w_ready), .w_row_i(w_row), .w_last_i(w_last), .k_i(k), .n_i(n),
      .a_valid_i(a_valid), .a_ready_o(a_ready), .a_row_i(a_row), .a_last_i(a_last),
      .y_valid_o(y_valid), .y_row_o(y_row), .y_last_o(y_last),
      .busy_cycles_o, .stall_cycles_o, .mac_count_o
  );

  logic          running = 1'b0, start_q = 1'b0;
  logic [PW-1:0] w_ptr = '0, a_ptr = '0;
  logic          w_gap = 1'b0, a_gap = 1'b0;  // withhold the next beat this cycle
  logic [31:0]   lfsr = 32'hACE1_2468;

  // A beat, once offered, stays offered until taken (valid/ready); gaps only delay offers.
  assign w_valid = running && w_ptr < w_count_i && !w_gap;
  assign a_valid = running && a_ptr < a_count_i && !a_gap;
  assign {w_last, k, n, w_row} = wmem[w_ptr[AW-1:0]];
  assign {a_last, a_row} = amem[a_ptr[AW-1:0]];

  always_ff @(posedge clk_i) begin
    start_q <= start_i;
    lfsr <= {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};
    if (start_i != start_q) begin
      // Blocking loads: the memories are read combinationally from the next cycle on.
      $readmemh("array_w.hex", wmem, 0, int'(w_count_i) - 1);
      $readmemh("array_a.hex", amem, 0, int'(a_count_i) - 1);
      running <= 1'b1;
      done_o <= 1'b0;
      w_ptr <= '0;
      a_ptr <= '0;
      y_count_o <= '0;
      cycles_o <= '0;
      w_gap <= 1'b0;
      a_gap <= 1'b0;
    end else if (running) begin
      cycles_o <= cycles_o + 64'd1;
      if (w_valid && w_ready) w_ptr <= w_ptr + PW'(1);
      if (a_valid && a_ready) a_ptr <= a_ptr + PW'(1);
      if (!(w_valid && !w_ready)) w_gap <= lfsr[7:0] < w_gap_i;
      if (!(a_valid && !a_ready)) a_gap <= lfsr[15:8] < a_gap_i;
      if (y_valid) begin
        ymem[y_count_o[AW-1:0]] <= {y_last, y_row};
        y_count_o <= y_count_o + PW'(1);
      end
      if (y_count_o == a_count_i && a_ptr == a_count_i) begin
        $writememh("array_y.hex", ymem, 0, int'(y_count_o) - 1);
        running <= 1'b0;
        done_o <= 1'b1;
      end
    end
  end
endmodule

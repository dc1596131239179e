// GEMM unit: a queue of GEMM commands run back to back through the systolic array,
// D[m x n] = (ACCUMULATE ? C : 0) + A[m x k] @ B[k x n] (docs/isa.md).
//
// The command processor pushes a command and moves on; up to QUEUE commands wait or run. Three
// engines walk the queue in order, each at its own pace:
//   weights  read port 1 streams the k rows of B of each command into the array's shadow weights,
//            so the next command's weights load while the current one streams (the array holds
//            them back until the shadow is free);
//   A        read port 0 streams the m rows of A (row i at a_row + i*a_step) of each command;
//   results  as each result row leaves the array, read port 2 fetches its C row (fp32, or bf16
//            widened, or the one bias row) and the next cycle writes the D row: fp32 (two
//            scratchpad rows) or rounded to bf16 (one row), columns >= n as +0. The last row
//            written retires the command.
// Each stream has a one-entry register that absorbs the scratchpad's one cycle of read latency.
// The scratchpad's banks have few ports (sp_arbiter.sv): an A or B read waits while rd_gnt_i
// refuses it; the C read and the D write, on the array's output, are always served, and the next
// cycle's D write is shown (wr_next_*) so that the vector unit's writes can keep clear of it.
//
// Ordering. Rows leave the array in the order A rows entered it, so every C read of a command
// comes after every D write of the commands before it (the scratchpad is write-first): queued
// GEMMs may accumulate into one another's D in any layout. What the queue cannot order is a later
// command's A or B (read before its results) against an earlier command's D, nor a DMA or a VEC
// against any of it; hazard_o and q_hazard_o report those, and the command processor holds the
// command. A VEC that passes runs beside the queue on its own scratchpad ports: it reads no row a
// queued GEMM has yet to write and writes none a queued GEMM has yet to read or write.
module gemm_unit
  import atalla_pkg::*;
#(
  parameter int ROWS = 8,
  parameter int COLS = 8,
  parameter int LANES = 8,
  parameter int ROW_ADDR_BITS = 12,
  parameter int QUEUE = 4  // a power of two
) (
  input  logic                              clk_i,
  input  logic                              rst_ni,
  // command: push_i (only while ready_o) queues the fields on the inputs
  input  logic                              push_i,
  output logic                              ready_o,
  input  logic [ROW_ADDR_BITS-1:0]          a_row_i,
  input  logic [7:0]                        a_step_i,
  input  logic [ROW_ADDR_BITS-1:0]          b_row_i,
  input  logic [ROW_ADDR_BITS-1:0]          c_row_i,
  input  logic [ROW_ADDR_BITS-1:0]          d_row_i,
  input  logic [31:0]                       m_i,
  input  logic [31:0]                       k_i,
  input  logic [31:0]                       n_i,
  input  logic                              accumulate_i,
  input  logic                              c_bf16_i,
  input  logic                              c_row_bcast_i,
  input  logic                              d_bf16_i,
  output logic                              busy_o,     // a command queued or running
  // interlocks (combinational, against the commands queued before this cycle)
  output logic                              hazard_o,   // the command on the inputs reads a queued D
  input  logic [2:0][31:0]                  q_lo_i,     // a DMA's or VEC's scratchpad rows [q_lo_i[i], q_hi_i[i])
  input  logic [2:0][31:0]                  q_hi_i,
  input  logic                              q_write_i,  // ... range 0 of which it writes (a DMA load, a VEC's destination)
  output logic                              q_hazard_o, // ... touch rows a queued GEMM uses
  // scratchpad compute ports: each read returns two consecutive rows {row+1, row}; 0: A, 1: B
  // (one row each), 2: C (two rows when fp32), read only when granted (rd_gnt_i, 0: A, 1: B; C
  // always is)
  output logic [2:0]                        rd_en_o,
  output logic                              rd_c_two_o,
  output logic [2:0][ROW_ADDR_BITS-1:0]     rd_row_o,
  input  logic [1:0]                        rd_gnt_i,
  input  logic [2:0][2*LANES*16-1:0]        rd_data_i,
  output logic                              wr_en_o,
  output logic [ROW_ADDR_BITS-1:0]          wr_row_o,
  output logic [1:0]                        wr_mask_o,
  output logic [2*LANES*16-1:0]             wr_data_o,
  output logic                              wr_next_en_o,   // the D write of the next cycle
  output logic [ROW_ADDR_BITS-1:0]          wr_next_row_o,
  output logic                              wr_next_two_o,
  // array counters, for utilization
  output logic [63:0]                       mac_count_o,
  output logic [63:0]                       array_busy_cycles_o
);
  localparam int KW = $clog2(ROWS + 1);
  localparam int NW = $clog2(COLS + 1);
  localparam int QW = $clog2(QUEUE);

  typedef struct packed {
    logic [ROW_ADDR_BITS-1:0] a_row, b_row, c_row, d_row;
    logic [7:0]               a_step;
    logic [31:0]              m;
    logic [KW-1:0]            k;
    logic [NW-1:0]            n;
    logic                     accumulate, c_bf16, c_bcast, d_bf16;
    logic [31:0]              a_lo, a_hi, b_lo, b_hi, c_lo, c_hi, d_lo, d_hi;  // rows used, [lo, hi)
  } entry_t;

  entry_t           q[QUEUE];
  logic [QUEUE-1:0] queued;  // pushed, not yet retired
  // Pointers carry a wrap bit: equal pointers with different wrap bits mean a full queue.
  logic [QW:0]      tail, head, w_ptr, a_ptr, y_ptr;

  function automatic logic overlap(logic [31:0] lo1, logic [31:0] hi1, logic [31:0] lo2, logic [31:0] hi2);
    return lo1 < hi2 && lo2 < hi1;
  endfunction

  // -- the queue and the interlocks -------------------------------------------------------------
  entry_t incoming;
  always_comb begin
    incoming.a_row      = a_row_i;
    incoming.b_row      = b_row_i;
    incoming.c_row      = c_row_i;
    incoming.d_row      = d_row_i;
    incoming.a_step     = a_step_i;
    incoming.m          = m_i;
    incoming.k          = KW'(k_i);
    incoming.n          = NW'(n_i);
    incoming.accumulate = accumulate_i;
    incoming.c_bf16     = c_bf16_i;
    incoming.c_bcast    = c_row_bcast_i;
    incoming.d_bf16     = d_bf16_i;
    incoming.a_lo       = 32'(a_row_i);
    incoming.a_hi       = 32'(a_row_i) + (m_i - 1) * 32'(a_step_i) + 1;
    incoming.b_lo       = 32'(b_row_i);
    incoming.b_hi       = 32'(b_row_i) + k_i;
    incoming.c_lo       = 32'(c_row_i);
    incoming.c_hi       = accumulate_i ? 32'(c_row_i) + (c_row_bcast_i ? 32'd1 : m_i) * (c_bf16_i ? 32'd1 : 32'(SP_ROWS_PER_FP32_ROW))
                                       : 32'(c_row_i);
    incoming.d_lo       = 32'(d_row_i);
    incoming.d_hi       = 32'(d_row_i) + m_i * (d_bf16_i ? 32'd1 : 32'(SP_ROWS_PER_FP32_ROW));
  end

  always_comb begin
    hazard_o   = 1'b0;
    q_hazard_o = 1'b0;
    for (int e = 0; e < QUEUE; e++) begin
      if (queued[e]) begin
        if (overlap(incoming.a_lo, incoming.a_hi, q[e].d_lo, q[e].d_hi)
            || overlap(incoming.b_lo, incoming.b_hi, q[e].d_lo, q[e].d_hi)) hazard_o = 1'b1;
        for (int r = 0; r < 3; r++)
          if (overlap(q_lo_i[r], q_hi_i[r], q[e].d_lo, q[e].d_hi)) q_hazard_o = 1'b1;
        if (q_write_i && (overlap(q_lo_i[0], q_hi_i[0], q[e].a_lo, q[e].a_hi)
                          || overlap(q_lo_i[0], q_hi_i[0], q[e].b_lo, q[e].b_hi)
                          || overlap(q_lo_i[0], q_hi_i[0], q[e].c_lo, q[e].c_hi))) q_hazard_o = 1'b1;
      end
    end
  end

  assign ready_o = !(tail[QW] != head[QW] && tail[QW-1:0] == head[QW-1:0]);
  assign busy_o  = tail != head;

  logic retire;  // the last D row of the command at head is written this cycle
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      tail   <= '0;
      head   <= '0;
      queued <= '0;
    end else begin
      if (push_i && ready_o) begin
        q[tail[QW-1:0]]      <= incoming;
        queued[tail[QW-1:0]] <= 1'b1;
        tail                 <= tail + 1'b1;
      end
      if (retire) begin
        queued[head[QW-1:0]] <= 1'b0;
        head                 <= head + 1'b1;
      end
    end
  end

  // -- weight and A streams: read, hold in a one-entry register, hand to the array --------------
  // Each engine reads only the fields it needs.
  /* verilator lint_off UNUSEDSIGNAL */
  entry_t ew, ea, ey;
  /* verilator lint_on UNUSEDSIGNAL */
  assign ew = q[w_ptr[QW-1:0]];
  assign ea = q[a_ptr[QW-1:0]];

  logic [KW-1:0] w_next;    // row of B within the command at w_ptr
  logic [31:0]   a_next;    // row of A within the command at a_ptr
  logic [31:0]   a_offset;  // a_next * a_step
  logic a_valid, a_ready, a_last, w_valid, w_ready, w_last;
  logic [KW-1:0] w_k;  // k and n of the weight beat in the register
  logic [NW-1:0] w_n;
  logic a_want, w_want, a_issue, w_issue, a_issue_last, w_issue_last;
  assign w_want       = w_ptr != tail && (!w_valid || w_ready);
  assign a_want       = a_ptr != tail && (!a_valid || a_ready);
  assign w_issue      = w_want && rd_gnt_i[1];
  assign a_issue      = a_want && rd_gnt_i[0];
  assign w_issue_last = w_next + 1'b1 == ew.k;
  assign a_issue_last = a_next + 1 == ea.m;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      w_ptr    <= '0;
      a_ptr    <= '0;
      w_next   <= '0;
      a_next   <= '0;
      a_offset <= '0;
      a_valid  <= 1'b0;
      w_valid  <= 1'b0;
      a_last   <= 1'b0;
      w_last   <= 1'b0;
    end else begin
      if (w_issue) begin
        w_next <= w_issue_last ? '0 : w_next + 1'b1;
        w_last <= w_issue_last;
        w_k    <= ew.k;
        w_n    <= ew.n;
        if (w_issue_last) w_ptr <= w_ptr + 1'b1;
      end
      if (a_issue) begin
        a_next   <= a_issue_last ? '0 : a_next + 1;
        a_offset <= a_issue_last ? '0 : a_offset + 32'(ea.a_step);
        a_last   <= a_issue_last;
        if (a_issue_last) a_ptr <= a_ptr + 1'b1;
      end
      if (a_issue) a_valid <= 1'b1;
      else if (a_ready) a_valid <= 1'b0;
      if (w_issue) w_valid <= 1'b1;
      else if (w_ready) w_valid <= 1'b0;
    end
  end

  // The register takes the scratchpad's answer the cycle after the read.
  logic a_arrived, w_arrived;
  logic [ROWS*16-1:0] a_held, a_data;
  logic [COLS*16-1:0] w_held, w_data;
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
    .w_valid_i(w_valid), .w_ready_o(w_ready), .w_row_i(w_data), .w_last_i(w_last), .k_i(w_k), .n_i(w_n),
    .a_valid_i(a_valid), .a_ready_o(a_ready), .a_row_i(a_data), .a_last_i(a_last),
    .y_valid_o(y_valid), .y_row_o(y_row), .y_last_o(y_last),
    .busy_cycles_o(array_busy_cycles_o), .stall_cycles_o(stall_cycles), .mac_count_o(mac_count_o)
  );

  // -- results: read C as a row leaves the array, write D the next cycle ------------------------
  assign ey = q[y_ptr[QW-1:0]];
  logic [31:0] y_count;  // result rows of the command at y_ptr so far
  logic        y_cmd_last;
  assign y_cmd_last = y_count + 1 == ey.m;

  logic [ROW_ADDR_BITS-1:0] d_write_row;  // of the result row leaving the array now
  assign d_write_row = ey.d_row + ROW_ADDR_BITS'(ey.d_bf16 ? y_count : y_count * SP_ROWS_PER_FP32_ROW);

  // The write stage: the row's D address and format, registered with the result.
  logic                     wb_valid, wb_last, wb_accumulate, wb_c_bf16, wb_d_bf16;
  logic [NW-1:0]            wb_n;
  logic [ROW_ADDR_BITS-1:0] wb_row;
  logic [COLS*32-1:0]       wb_y;
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      y_ptr    <= '0;
      y_count  <= '0;
      wb_valid <= 1'b0;
      wb_last  <= 1'b0;
    end else begin
      wb_valid <= y_valid;
      wb_last  <= y_valid && y_cmd_last;
      if (y_valid) begin
        y_count <= y_cmd_last ? '0 : y_count + 1;
        if (y_cmd_last) y_ptr <= y_ptr + 1'b1;
      end
    end
    wb_accumulate <= ey.accumulate;
    wb_c_bf16     <= ey.c_bf16;
    wb_d_bf16     <= ey.d_bf16;
    wb_n          <= ey.n;
    wb_row        <= d_write_row;
    wb_y          <= y_row;
  end
  assign retire = wb_valid && wb_last;

  logic [ROW_ADDR_BITS-1:0] c_read_row;
  assign c_read_row = ey.c_row + (ey.c_bcast ? '0 : ROW_ADDR_BITS'(ey.c_bf16 ? y_count : y_count * SP_ROWS_PER_FP32_ROW));

  // The adders and the rounding run only on a result row (functions: nothing to evaluate otherwise).
  always_comb begin
    logic [31:0] c, s;
    wr_data_o = '0;
    c = '0;
    s = '0;
    if (wb_valid) begin
      for (int j = 0; j < COLS; j++) begin
        c = wb_c_bf16 ? {rd_data_i[2][16*j +: 16], 16'h0000} : rd_data_i[2][32*j +: 32];
        s = wb_accumulate ? fp32_pkg::fp32_add(c, wb_y[32*j +: 32]) : wb_y[32*j +: 32];
        if (32'(j) >= 32'(wb_n)) s = 32'h0000_0000;
        if (wb_d_bf16) wr_data_o[16*j +: 16] = fp32_pkg::fp32_to_bf16(s);
        else           wr_data_o[32*j +: 32] = s;
      end
    end
  end

  assign rd_en_o    = {y_valid && ey.accumulate, w_want, a_want};
  assign rd_c_two_o = !ey.c_bf16;
  assign rd_row_o  = {c_read_row, ew.b_row + ROW_ADDR_BITS'(w_next), ea.a_row + ROW_ADDR_BITS'(a_offset)};
  assign wr_en_o   = wb_valid;
  assign wr_row_o  = wb_row;
  assign wr_mask_o = wb_d_bf16 ? 2'b01 : 2'b11;
  assign wr_next_en_o  = y_valid;
  assign wr_next_row_o = d_write_row;
  assign wr_next_two_o = !ey.d_bf16;

  logic unused;
  // The array's stall count is measured by its own bench; the row count ends a command; n fits NW bits.
  assign unused = ^{stall_cycles, y_last, n_i[31:NW]};
endmodule

// Vector unit: runs one VEC command over scratchpad rows, all lanes in parallel, one tile row
// per cycle. Arithmetic is docs/numerics.md, built from the rtl/fp units.
//
// Pipeline: cycle t reads tile row r (a and b, through two scratchpad read ports); the operands
// arrive in cycle t+1 (stage 1), and stage L, L - 1 cycles later, writes the row with an element
// mask, so that the destination's elements beyond `cols` keep their value (a write changes only
// the tile's columns, as the ISA says). L is the function's latency: DIV_LATENCY for DIV (the
// divider's quotient bits shared out over the stages), REDUCE_LATENCY for ROWSUM and ROWMAX (the
// chain along the lanes, each stage adding its slice of lanes to the partial sum), 1 for the rest
// (stage 1 computes and writes). Rows follow each other one a cycle through the stages.
//
// The bank arbiter grants a row's reads (gnt_i) and, in its own cycle, the write stage's write
// (wr_gnt_i). A refused write holds the whole pipeline for the cycle. Its contract: no read is
// granted in a cycle whose write is refused, nor when the write the unit would do in the next
// cycle (wr_next_*_o, known this cycle) will not fit beside the GEMM unit's next D write; so no
// row's operands arrive while the pipeline holds, and a latency-1 write is never refused.
// Row addresses are absolute scratchpad rows; the command processor resolves handles.
module vector_unit
  import atalla_pkg::*;
#(
  parameter int LANES = 8,
  parameter int ROW_ADDR_BITS = 12,
  parameter int DIV_LATENCY = 1,     // 1 .. DIV_QUOTIENT_BITS
  parameter int REDUCE_LATENCY = 1   // 1 .. max(1, LANES - 1)
) (
  input  logic                     clk_i,
  input  logic                     rst_ni,
  // command
  input  logic                     start_i,
  input  vec_func_e                func_i,
  input  logic                     dst_fp32_i,
  input  logic                     a_fp32_i,
  input  logic                     b_fp32_i,
  input  bmode_e                   bmode_i,
  input  logic [ROW_ADDR_BITS-1:0] dst_row_i,
  input  logic [ROW_ADDR_BITS-1:0] a_row_i,
  input  logic [31:0]              b_word_i,   // scratchpad row of b, or fp32 bits when SCALAR
  input  logic [23:0]              rows_i,
  input  logic [15:0]              cols_i,
  output logic                     busy_o,
  output logic                     done_o,     // one-cycle pulse after the last row is written
  // start_i is a one-cycle pulse; the command inputs must stay stable until done_o
  // scratchpad compute ports: each read returns two consecutive rows {row+1, row}
  output logic [1:0]                       rd_en_o,    // 0: a, 1: b
  output logic [1:0]                       rd_two_o,   // ... two rows (fp32)
  output logic [1:0][ROW_ADDR_BITS-1:0]    rd_row_o,
  input  logic                             gnt_i,      // the reads go this cycle
  input  logic [1:0][2*LANES*16-1:0]       rd_data_i,
  output logic                             wr_en_o,
  output logic [ROW_ADDR_BITS-1:0]         wr_row_o,
  output logic [2*LANES-1:0]               wr_mask_o,  // one bit per bf16 element of {row+1, row}
  output logic [2*LANES*16-1:0]            wr_data_o,
  input  logic                             wr_gnt_i,   // the write goes this cycle
  output logic                             wr_next_en_o,   // the write of the next cycle, if this
  output logic [ROW_ADDR_BITS-1:0]         wr_next_row_o,  // cycle's write and reads go
  output logic                             wr_next_two_o
);
  if (DIV_LATENCY < 1 || DIV_LATENCY > DIV_QUOTIENT_BITS || REDUCE_LATENCY < 1
      || REDUCE_LATENCY > (LANES > 1 ? LANES - 1 : 1)) begin : g_latency_check
    $error("vector_unit: DIV_LATENCY %0d or REDUCE_LATENCY %0d out of range (atalla/config.py)",
           DIV_LATENCY, REDUCE_LATENCY);
  end
  localparam int MaxLatency = DIV_LATENCY > REDUCE_LATENCY ? DIV_LATENCY : REDUCE_LATENCY;

  // -- row sequencing ------------------------------------------------------------------------
  // Stage k + 1 holds a row when valid[k]: valid[0] is the row whose operands arrive this cycle,
  // valid[k] for k >= 1 the pipeline register after stage k.
  logic                        active;  // reading tile rows
  logic [23:0]                 row;     // the tile row being read
  logic [MaxLatency-1:0]       valid;
  logic [MaxLatency-1:0][23:0] index;   // each stage's tile row
  int unsigned                 latency; // the command's function's
  logic                        advance; // every row moves on a stage at the end of this cycle
  logic                        w_valid; // the write stage holds a row
  logic [23:0]                 w_index;

  assign latency = func_i == VEC_DIV ? DIV_LATENCY : is_reduce_func(func_i) ? REDUCE_LATENCY : 1;
  assign w_valid = valid[latency-1];
  assign w_index = index[latency-1];
  assign advance = !w_valid || wr_gnt_i;
  assign busy_o  = active || |valid || start_i;

  function automatic logic [ROW_ADDR_BITS-1:0] row_of(logic [ROW_ADDR_BITS-1:0] base, logic [23:0] r, logic fp32);
    return base + ROW_ADDR_BITS'(fp32 ? 32'(r) * SP_ROWS_PER_FP32_ROW : 32'(r));
  endfunction

  always_comb begin
    rd_en_o  = '0;
    rd_row_o = '0;
    if (active) begin
      rd_en_o[0]  = 1'b1;
      rd_row_o[0] = row_of(a_row_i, row, a_fp32_i);
      rd_en_o[1]  = (bmode_i != BMODE_SCALAR);
      rd_row_o[1] = (bmode_i == BMODE_ROW) ? ROW_ADDR_BITS'(b_word_i)
                                           : row_of(ROW_ADDR_BITS'(b_word_i), row, b_fp32_i);
    end
  end
  assign rd_two_o = {b_fp32_i && bmode_i != BMODE_COL, a_fp32_i};
  // Next cycle's write stage: the row read now (latency 1), else the row of the stage before it.
  if (MaxLatency > 1) begin : g_wr_next_staged
    always_comb begin
      if (latency == 1) begin
        wr_next_en_o  = active;
        wr_next_row_o = row_of(dst_row_i, row, dst_fp32_i);
      end else begin
        wr_next_en_o  = valid[latency-2];
        wr_next_row_o = row_of(dst_row_i, index[latency-2], dst_fp32_i);
      end
    end
  end else begin : g_wr_next
    assign wr_next_en_o  = active;
    assign wr_next_row_o = row_of(dst_row_i, row, dst_fp32_i);
  end
  assign wr_next_two_o = dst_fp32_i;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      active <= 1'b0;
      row    <= '0;
      valid  <= '0;
      index  <= '0;
      done_o <= 1'b0;
    end else begin
      if (start_i) begin
        active <= 1'b1;
        row    <= '0;
      end else if (active && gnt_i) begin
        row <= row + 1;
        if (row + 1 == rows_i) active <= 1'b0;
      end
      valid[0] <= active && gnt_i;
      index[0] <= row;
      if (advance) begin
        // A row leaves after its write stage.
        for (int k = 1; k < MaxLatency; k++) valid[k] <= valid[k-1] && k < int'(latency);
        for (int k = 1; k < MaxLatency; k++) index[k] <= index[k-1];
      end
      done_o <= w_valid && wr_gnt_i && (w_index + 1 == rows_i);
    end
  end

  // -- operands ------------------------------------------------------------------------------
  function automatic logic [31:0] element(logic [2*LANES*16-1:0] data, int lane, logic fp32);
    return fp32 ? data[32*lane +: 32] : {data[16*lane +: 16], 16'h0000};
  endfunction

  logic [LANES-1:0][31:0] x, y;
  always_comb begin
    for (int l = 0; l < LANES; l++) begin
      x[l] = element(rd_data_i[0], l, a_fp32_i);
      unique case (bmode_i)
        BMODE_TILE:   y[l] = element(rd_data_i[1], l, b_fp32_i);
        BMODE_ROW:    y[l] = element(rd_data_i[1], l, b_fp32_i);
        BMODE_COL:    y[l] = element(rd_data_i[1], 0, b_fp32_i);
        BMODE_SCALAR: y[l] = b_word_i;
        default:      y[l] = '0;
      endcase
    end
  end

  // -- lanes ---------------------------------------------------------------------------------
  // Only the command's own function is evaluated, and only for a row in flight: the arithmetic
  // is called as functions under those conditions so that a simulator spends nothing otherwise.
  function automatic logic [31:0] flushed(logic [31:0] v);  // COPY: docs/numerics.md
    if (v[30:23] == 8'hff && v[22:0] != 0) return F32_CANONICAL_NAN;
    if (v[30:23] == 8'h00) return {v[31], 31'h0};
    return v;
  endfunction

  // Where the first k of `stages` stages' shares of `total` steps end (shares differ by one at most).
  function automatic int share_end(int total, int stages, int k);
    return total * k / stages;
  endfunction

  // ROWSUM / ROWMAX of lanes lo .. hi - 1 (those below cols) onto sum, in column order: the whole
  // reduction is ((x0 + x1) + x2) + ... (docs/numerics.md), cut into slices, one per stage.
  function automatic logic [31:0] reduce_slice(logic [31:0] sum, logic [LANES-1:0][31:0] xs, int lo, int hi,
                                               logic rowsum, logic [15:0] cols);
    for (int l = 1; l < LANES; l++) begin
      if (l >= lo && l < hi && 16'(l) < cols)
        sum = rowsum ? fp32_pkg::fp32_add(sum, xs[l]) : fp32_pkg::fp32_minmax(sum, xs[l], 1'b1);
    end
    return sum;
  endfunction

  logic rowsum;
  assign rowsum = func_i == VEC_ROWSUM;

  // Staged DIV: stage 1 takes the operands apart, every stage retires its share of the quotient
  // bits, the write stage rounds and packs. q[k] is the register after stage k + 1.
  logic [LANES-1:0][31:0] div_out;
  if (DIV_LATENCY > 1) begin : g_div
    localparam int QB = DIV_QUOTIENT_BITS;
    fp32_pkg::fp32_div_state_t [LANES-1:0] q [DIV_LATENCY-1];
    for (genvar k = 0; k < DIV_LATENCY - 1; k++) begin : g_stage
      localparam int Bits = share_end(QB, DIV_LATENCY, k + 1) - share_end(QB, DIV_LATENCY, k);
      if (k == 0) begin : g_first
        always_ff @(posedge clk_i)
          if (advance && valid[0] && func_i == VEC_DIV)
            for (int l = 0; l < LANES; l++) q[0][l] <= fp32_pkg::fp32_div_steps(fp32_pkg::fp32_div_prepare(x[l], y[l]), Bits);
      end else begin : g_next
        always_ff @(posedge clk_i)
          if (advance && valid[k] && func_i == VEC_DIV)
            for (int l = 0; l < LANES; l++) q[k][l] <= fp32_pkg::fp32_div_steps(q[k-1][l], Bits);
      end
    end
    localparam int LastBits = QB - share_end(QB, DIV_LATENCY, DIV_LATENCY - 1);
    always_comb begin
      div_out = '0;
      if (w_valid && func_i == VEC_DIV)
        for (int l = 0; l < LANES; l++)
          div_out[l] = fp32_pkg::fp32_div_finish(fp32_pkg::fp32_div_steps(q[DIV_LATENCY-2][l], LastBits));
    end
  end else begin : g_div_one_stage
    assign div_out = '0;  // fp32_div in the write stage below
  end

  // Staged ROWSUM / ROWMAX: each stage adds its slice of lanes 1 .. LANES - 1 to the partial sum
  // and carries the row's elements on. r[k] is the register after stage k + 1.
  typedef struct packed {
    logic [31:0]            sum;
    logic [LANES-1:0][31:0] xs;
  } reduce_state_t;
  logic [31:0] reduce_out;
  if (REDUCE_LATENCY > 1) begin : g_reduce
    reduce_state_t r [REDUCE_LATENCY-1];
    for (genvar k = 0; k < REDUCE_LATENCY - 1; k++) begin : g_stage
      localparam int Lo = 1 + share_end(LANES - 1, REDUCE_LATENCY, k);
      localparam int Hi = 1 + share_end(LANES - 1, REDUCE_LATENCY, k + 1);
      if (k == 0) begin : g_first
        always_ff @(posedge clk_i)
          if (advance && valid[0] && is_reduce_func(func_i))
            r[0] <= '{sum: reduce_slice(flushed(x[0]), x, Lo, Hi, rowsum, cols_i), xs: x};
      end else begin : g_next
        always_ff @(posedge clk_i)
          if (advance && valid[k] && is_reduce_func(func_i))
            r[k] <= '{sum: reduce_slice(r[k-1].sum, r[k-1].xs, Lo, Hi, rowsum, cols_i), xs: r[k-1].xs};
      end
    end
    localparam int LastLo = 1 + share_end(LANES - 1, REDUCE_LATENCY, REDUCE_LATENCY - 1);
    always_comb begin
      reduce_out = '0;
      if (w_valid && is_reduce_func(func_i))
        reduce_out = reduce_slice(r[REDUCE_LATENCY-2].sum, r[REDUCE_LATENCY-2].xs, LastLo, LANES, rowsum, cols_i);
    end
  end else begin : g_reduce_one_stage
    assign reduce_out = '0;  // the whole chain in the write stage below
  end

  // The write stage's row: staged results from above, the rest computed here from the operands.
  logic [LANES-1:0][31:0] result;
  always_comb begin
    result = '0;
    if (w_valid && is_reduce_func(func_i)) begin
      result[0] = REDUCE_LATENCY > 1 ? reduce_out : reduce_slice(flushed(x[0]), x, 1, LANES, rowsum, cols_i);
    end else if (w_valid && func_i == VEC_DIV && DIV_LATENCY > 1) begin
      result = div_out;
    end else if (w_valid) begin
      for (int l = 0; l < LANES; l++) begin
        unique case (func_i)
          VEC_COPY:  result[l] = flushed(x[l]);
          VEC_ADD:   result[l] = fp32_pkg::fp32_add(x[l], y[l]);
          VEC_SUB:   result[l] = fp32_pkg::fp32_sub(x[l], y[l]);
          VEC_MUL:   result[l] = fp32_pkg::fp32_mul(x[l], y[l]);
          VEC_DIV:   result[l] = fp32_pkg::fp32_div(x[l], y[l]);
          VEC_MAX:   result[l] = fp32_pkg::fp32_minmax(x[l], y[l], 1'b1);
          VEC_MIN:   result[l] = fp32_pkg::fp32_minmax(x[l], y[l], 1'b0);
          VEC_RELU:  result[l] = fp32_pkg::fp32_minmax(x[l], 32'h0, 1'b1);
          VEC_ROUND: result[l] = fp32_pkg::fp32_round(x[l]);
          VEC_LDEXP: result[l] = fp32_pkg::fp32_ldexp(x[l], y[l]);
          VEC_SQRT:  result[l] = fp32_pkg::fp32_sqrt(x[l]);
          VEC_EXP:   result[l] = fp32_pkg::fp32_exp(x[l]);
          default:   result[l] = '0;
        endcase
      end
    end
  end

  if (EXP_POLY_TERMS != 7) begin : g_exp_poly_check
    $error("fp32_pkg::fp32_exp evaluates 7 polynomial coefficients, atalla_pkg has %0d", EXP_POLY_TERMS);
  end

  // -- write back: the tile's columns take the result, the mask keeps the rest -------------
  logic [15:0] out_cols;
  assign out_cols = is_reduce_func(func_i) ? 16'd1 : cols_i;

  always_comb begin
    wr_data_o = '0;
    wr_mask_o = '0;
    if (w_valid) begin
      for (int l = 0; l < LANES; l++) begin
        if (16'(l) < out_cols) begin
          if (dst_fp32_i) begin
            wr_data_o[32*l +: 32]  = result[l];
            wr_mask_o[2*l +: 2]    = 2'b11;
          end else begin
            wr_data_o[16*l +: 16] = fp32_pkg::fp32_to_bf16(result[l]);
            wr_mask_o[l]          = 1'b1;
          end
        end
      end
    end
  end

  assign wr_en_o   = w_valid;
  assign wr_row_o  = row_of(dst_row_i, w_index, dst_fp32_i);

  // The arbiter's contract (above): a row whose operands arrive is never held.
  always_ff @(posedge clk_i)
    if (rst_ni && valid[0] && !advance) $error("vector_unit: row %0d's operands arrived while the pipeline holds", index[0]);
endmodule

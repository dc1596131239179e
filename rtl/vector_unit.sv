// Vector unit: runs one VEC command over scratchpad rows, all lanes in parallel, one tile row
// per cycle. Arithmetic is docs/numerics.md, built from the rtl/fp units.
//
// Pipeline: cycle t reads tile row r (a and b, through two scratchpad read ports); cycle t+1
// computes every lane and writes the row with an element mask, so that the destination's elements
// beyond `cols` keep their value (a write changes only the tile's columns, as the ISA says).
// A tile row's reads go only when the scratchpad's bank arbiter grants them (gnt_i, which also
// reserves the next cycle's write); otherwise the row is asked for again in the next cycle.
// Row addresses are absolute scratchpad rows; the command processor resolves handles.
module vector_unit
  import atalla_pkg::*;
#(
  parameter int LANES = 8,
  parameter int ROW_ADDR_BITS = 12
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
  output logic [ROW_ADDR_BITS-1:0]         wr_next_row_o,  // what a granted read writes next cycle
  output logic                             wr_next_two_o
);
  // -- row sequencing ------------------------------------------------------------------------
  logic        active;      // reading tile rows
  logic [23:0] row;         // the tile row being read
  logic        s1_valid;    // a row's operands arrive this cycle
  logic [23:0] s1_index;

  assign busy_o = active || s1_valid || start_i;

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
  assign rd_two_o      = {b_fp32_i && bmode_i != BMODE_COL, a_fp32_i};
  assign wr_next_row_o = row_of(dst_row_i, row, dst_fp32_i);
  assign wr_next_two_o = dst_fp32_i;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      active   <= 1'b0;
      row      <= '0;
      s1_valid <= 1'b0;
      s1_index <= '0;
      done_o   <= 1'b0;
    end else begin
      if (start_i) begin
        active <= 1'b1;
        row    <= '0;
      end else if (active && gnt_i) begin
        row <= row + 1;
        if (row + 1 == rows_i) active <= 1'b0;
      end
      s1_valid <= active && gnt_i;
      s1_index <= row;
      done_o   <= s1_valid && (s1_index + 1 == rows_i);
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

  logic [LANES-1:0][31:0] result;
  always_comb begin
    result = '0;
    if (s1_valid && is_reduce_func(func_i)) begin
      // Along the lanes in column order: ((x0 + x1) + x2) + ...
      result[0] = flushed(x[0]);
      for (int l = 1; l < LANES; l++) begin
        if (16'(l) < cols_i) begin
          result[0] = (func_i == VEC_ROWSUM) ? fp32_pkg::fp32_add(result[0], x[l])
                                             : fp32_pkg::fp32_minmax(result[0], x[l], 1'b1);
        end
      end
    end else if (s1_valid) begin
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
    if (s1_valid) begin
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

  assign wr_en_o   = s1_valid;
  assign wr_row_o  = row_of(dst_row_i, s1_index, dst_fp32_i);
endmodule

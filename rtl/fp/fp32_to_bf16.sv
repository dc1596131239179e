// fp32 -> bf16 of docs/numerics.md: a denormal becomes a signed zero, NaN becomes 0x7FC0, others
// round to nearest even on the low 16 bits; a carry out of the fraction moves into the exponent,
// so rounding past the largest finite bf16 gives infinity by itself.
module fp32_to_bf16 (
    input  logic [31:0] a_i,
    output logic [15:0] y_o
);
  localparam logic [7:0] EXP_SPECIAL = 8'hFF;  // inf / NaN
  localparam logic [15:0] QNAN = 16'h7FC0;

  logic round_up;

  always_comb begin
    round_up = a_i[15] && (a_i[14:0] != 15'd0 || a_i[16]);  // above half, or a tie to odd
    if (a_i[30:23] == EXP_SPECIAL) y_o = a_i[22:0] != 23'd0 ? QNAN : a_i[31:16];
    else if (a_i[30:23] == 8'd0) y_o = {a_i[31], 15'b0};
    else y_o = a_i[31:16] + {15'b0, round_up};
  end
endmodule

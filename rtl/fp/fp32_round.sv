// ROUND of docs/numerics.md: the nearest integer, ties to even, as an fp32. The sign of a zero
// result is kept (-0.4 -> -0), infinities stay, NaN becomes canonical, denormals read as zero.
module fp32_round (
    input  logic [31:0] a_i,
    output logic [31:0] y_o
);
  localparam int SIG = 24;  // significand bits, hidden bit included
  localparam int BIAS = 127;
  localparam int INT_EXP = BIAS + SIG - 1;  // from this exponent on, every value is an integer
  localparam int HALF_EXP = BIAS - 1;  // below this exponent |a| < 1/2 rounds to zero
  localparam logic [7:0] EXP_SPECIAL = 8'hFF;  // inf / NaN
  localparam logic [31:0] QNAN = 32'h7FC0_0000;

  logic [7:0] exp;
  logic [4:0] frac_bits;  // significand bits below the binary point: 1 .. SIG
  logic [SIG:0] sig, unit, kept, rounded;  // one spare bit for the carry of rounding up
  logic round_up;

  always_comb begin
    exp = a_i[30:23];
    sig = {2'b01, a_i[22:0]};
    frac_bits = 5'(INT_EXP - int'(exp));  // only used for HALF_EXP <= exp < INT_EXP
    unit = (SIG + 1)'(1) << frac_bits;  // weight of the integer's last bit
    kept = sig & ~(unit - 1'b1);  // truncated toward zero
    // Up when the dropped part exceeds a half, or equals it and the integer is odd.
    round_up = (sig & (unit >> 1)) != 0 && ((sig & ((unit >> 1) - 1'b1)) != 0 || (sig & unit) != 0);
    rounded = kept + (round_up ? unit : '0);

    if (exp == EXP_SPECIAL && a_i[22:0] != 23'd0) y_o = QNAN;
    else if (int'(exp) >= INT_EXP) y_o = a_i;  // an integer already, or inf
    else if (int'(exp) < HALF_EXP || rounded == '0) y_o = {a_i[31], 31'b0};
    else if (rounded[SIG]) y_o = {a_i[31], exp + 8'd1, 23'b0};  // carried into the next binade
    else y_o = {a_i[31], exp, rounded[SIG-2:0]};
  end
endmodule

// fp32 division by the rounding rule of docs/numerics.md: denormal operands read as zero,
// 0/0, inf/inf and NaN operands give the canonical NaN, x/0 = +-inf, |exact| < 2^-126 flushes
// to a signed zero (tininess before rounding), round to nearest even, overflow to infinity.
// The significands are divided by restoring long division; the remainder is the sticky bit.
module fp32_div (
    input  logic [31:0] a_i,
    input  logic [31:0] b_i,
    output logic [31:0] y_o
);
  localparam int SIG = 24;  // significand bits, hidden bit included
  localparam int QB = SIG + 2;  // quotient bits: one may be a leading zero, one is the guard
  localparam int EW = 10;  // signed exponent width: holds every intermediate biased exponent
  localparam int BIAS = 127;
  localparam logic [7:0] EXP_SPECIAL = 8'hFF;  // inf / NaN
  localparam logic [31:0] QNAN = 32'h7FC0_0000;

  // Round a normalised significand (sig[SIG-1] = 1) and pack it; exp is the biased exponent of
  // the leading bit. The guard/sticky pair stands for everything below sig.
  function automatic logic [31:0] round_pack(input logic sign, input logic signed [EW-1:0] exp,
                                             input logic [SIG-1:0] sig, input logic guard,
                                             input logic sticky);
    logic [SIG:0] rounded;
    logic signed [EW-1:0] e;
    if (exp <= 0) return {sign, 31'b0};  // below the smallest normal before rounding: flush
    rounded = {1'b0, sig} + {{SIG{1'b0}}, guard & (sticky | sig[0])};
    e = exp + EW'(rounded[SIG]);  // a carry out makes 10.000..., i.e. the next binade
    if (e >= EW'(EXP_SPECIAL)) return {sign, EXP_SPECIAL, 23'b0};
    return {sign, e[7:0], rounded[SIG-2:0]};
  endfunction

  logic sign, a_zero, b_zero, a_inf, b_inf, a_nan, b_nan;
  logic [SIG-1:0] divisor;
  logic [SIG:0] rem;  // partial remainder, always below 2 * divisor
  logic [QB-1:0] quot;  // a/b in (1/2, 2): bit QB-1 has weight 2^0
  logic signed [EW-1:0] exp;

  always_comb begin
    sign = a_i[31] ^ b_i[31];
    a_zero = a_i[30:23] == 8'd0;  // zero or denormal
    b_zero = b_i[30:23] == 8'd0;
    a_inf = a_i[30:23] == EXP_SPECIAL && a_i[22:0] == 23'd0;
    b_inf = b_i[30:23] == EXP_SPECIAL && b_i[22:0] == 23'd0;
    a_nan = a_i[30:23] == EXP_SPECIAL && a_i[22:0] != 23'd0;
    b_nan = b_i[30:23] == EXP_SPECIAL && b_i[22:0] != 23'd0;

    divisor = {1'b1, b_i[22:0]};
    rem = {2'b01, a_i[22:0]};
    for (int i = QB - 1; i >= 0; i--) begin
      quot[i] = rem >= {1'b0, divisor};
      if (quot[i]) rem = rem - {1'b0, divisor};
      rem = rem << 1;
    end
    // The quotient's bit QB-1 has exponent ea - eb + BIAS; a leading zero takes one off.
    exp = EW'(a_i[30:23]) - EW'(b_i[30:23]) + EW'(BIAS) - EW'(!quot[QB-1]);

    if (a_nan || b_nan || (a_zero && b_zero) || (a_inf && b_inf)) y_o = QNAN;
    else if (a_inf || b_zero) y_o = {sign, EXP_SPECIAL, 23'b0};
    else if (a_zero || b_inf) y_o = {sign, 31'b0};
    else if (quot[QB-1]) y_o = round_pack(sign, exp, quot[QB-1:2], quot[1], quot[0] | (rem != 0));
    else y_o = round_pack(sign, exp, quot[QB-2:1], quot[0], rem != 0);
  end
endmodule

// fp32 addition by the rounding rule of docs/numerics.md: denormal operands read as zero,
// NaN canonical, |exact| < 2^-126 flushes to a signed zero (tininess before rounding), an exact
// zero sum is +0 (-0 + -0 = -0), round to nearest even, overflow to infinity.
// Subtraction is this unit with b's sign bit flipped.
module fp32_add (
    input  logic [31:0] a_i,
    input  logic [31:0] b_i,
    output logic [31:0] y_o
);
  localparam int SIG = 24;  // significand bits, hidden bit included
  localparam int GRS = 3;  // guard, round, sticky: RNE stays exact after a one-bit renormalisation
  localparam int W = SIG + GRS;  // aligned significand width
  localparam int EW = 10;  // signed exponent width: holds every intermediate biased exponent
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

  logic a_sign, b_sign, a_zero, b_zero, a_inf, b_inf, a_nan, b_nan;
  logic swap, big_sign, small_sign;
  logic [7:0] big_exp, small_exp, exp_diff;
  logic [SIG-1:0] big_sig, small_sig;
  logic [2*W-1:0] shifted;  // small significand shifted right, the bits it loses below
  logic [W-1:0] small_aligned;
  logic [W:0] sum;  // one carry bit
  logic [4:0] lead_zeros;
  logic [W:0] norm;

  always_comb begin
    a_sign = a_i[31];
    b_sign = b_i[31];
    a_zero = a_i[30:23] == 8'd0;  // zero or denormal
    b_zero = b_i[30:23] == 8'd0;
    a_inf = a_i[30:23] == EXP_SPECIAL && a_i[22:0] == 23'd0;
    b_inf = b_i[30:23] == EXP_SPECIAL && b_i[22:0] == 23'd0;
    a_nan = a_i[30:23] == EXP_SPECIAL && a_i[22:0] != 23'd0;
    b_nan = b_i[30:23] == EXP_SPECIAL && b_i[22:0] != 23'd0;

    // Order by magnitude so the difference of significands is never negative.
    swap = b_i[30:0] > a_i[30:0];
    big_sign = swap ? b_sign : a_sign;
    small_sign = swap ? a_sign : b_sign;
    big_exp = swap ? b_i[30:23] : a_i[30:23];
    small_exp = swap ? a_i[30:23] : b_i[30:23];
    big_sig = {1'b1, swap ? b_i[22:0] : a_i[22:0]};
    small_sig = {1'b1, swap ? a_i[22:0] : b_i[22:0]};
    exp_diff = big_exp - small_exp;

    // Align: beyond W places the small operand only contributes its sticky bit.
    shifted = {small_sig, {GRS{1'b0}}, {W{1'b0}}} >> (exp_diff > 8'(W) ? 8'(W) : exp_diff);
    small_aligned = shifted[2*W-1:W] | {{(W - 1) {1'b0}}, |shifted[W-1:0]};
    sum = big_sign == small_sign ? {1'b0, big_sig, {GRS{1'b0}}} + {1'b0, small_aligned}
                                 : {1'b0, big_sig, {GRS{1'b0}}} - {1'b0, small_aligned};

    lead_zeros = 5'd0;
    for (int i = 0; i <= W; i++) if (sum[i]) lead_zeros = 5'(W - i);  // highest one wins
    norm = sum << lead_zeros;  // leading one at bit W

    if (a_nan || b_nan || (a_inf && b_inf && a_sign != b_sign)) y_o = QNAN;
    else if (a_inf || b_inf) y_o = a_inf ? a_i : b_i;
    else if (a_zero && b_zero) y_o = {a_sign & b_sign, 31'b0};
    else if (a_zero) y_o = b_i;  // the other operand is exact and normal
    else if (b_zero) y_o = a_i;
    else if (sum == '0) y_o = 32'd0;  // exact cancellation: +0
    else
      // sum's bit W-1 has big's exponent, so the leading one at bit W - lead_zeros has
      // big_exp + 1 - lead_zeros.
      y_o = round_pack(big_sign, EW'(big_exp) + 1 - EW'(lead_zeros), norm[W:GRS+1], norm[GRS],
                       |norm[GRS-1:0]);
  end
endmodule

// LDEXP of docs/numerics.md: a * 2^n with n = trunc(n_i) saturated to [-255, 255]; NaN if a or
// n_i is NaN. A normal a scaled by 2^n is exact unless it leaves the normal range, where it
// flushes to a signed zero or overflows to infinity; zeros (and denormals) and infinities keep.
module fp32_ldexp (
    input  logic [31:0] a_i,
    input  logic [31:0] n_i,
    output logic [31:0] y_o
);
  localparam int BIAS = 127;
  localparam int N_LIMIT = 255;  // larger scales over/underflow any fp32 anyway
  localparam int N_BITS = 8;  // |n| <= N_LIMIT < 2^N_BITS: from exponent BIAS + N_BITS on, saturate
  localparam int EW = 10;  // signed exponent width: holds ea + n
  localparam logic [7:0] EXP_SPECIAL = 8'hFF;  // inf / NaN
  localparam logic [31:0] QNAN = 32'h7FC0_0000;

  logic a_nan, n_nan;
  logic [7:0] n_exp;
  logic [N_BITS-1:0] n_mag;
  logic signed [EW-1:0] exp;

  always_comb begin
    a_nan = a_i[30:23] == EXP_SPECIAL && a_i[22:0] != 23'd0;
    n_nan = n_i[30:23] == EXP_SPECIAL && n_i[22:0] != 23'd0;
    n_exp = n_i[30:23];
    if (int'(n_exp) < BIAS) n_mag = '0;  // |n| < 1, zero and denormal included
    else if (int'(n_exp) >= BIAS + N_BITS) n_mag = N_BITS'(N_LIMIT);  // |n| >= 256, inf included
    else n_mag = N_BITS'({1'b1, n_i[22:0]} >> 5'(BIAS + 23 - int'(n_exp)));  // trunc(|n|)
    exp = EW'(a_i[30:23]) + (n_i[31] ? -EW'(n_mag) : EW'(n_mag));

    if (a_nan || n_nan) y_o = QNAN;
    else if (a_i[30:23] == EXP_SPECIAL) y_o = a_i;  // inf
    else if (a_i[30:23] == 8'd0 || exp <= 0) y_o = {a_i[31], 31'b0};  // zero, or below 2^-126
    else if (exp >= EW'(EXP_SPECIAL)) y_o = {a_i[31], EXP_SPECIAL, 23'b0};
    else y_o = {a_i[31], exp[7:0], a_i[22:0]};
  end
endmodule

// fp32 multiplication by the rounding rule of docs/numerics.md: denormal operands read as zero,
// NaN (and 0 * inf) canonical, |exact| < 2^-126 flushes to a signed zero (tininess before
// rounding), round to nearest even, overflow to infinity.
module fp32_mul (
    input  logic [31:0] a_i,
    input  logic [31:0] b_i,
    output logic [31:0] y_o
);
  localparam int SIG = 24;  // significand bits, hidden bit included
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
  logic [2*SIG-1:0] prod;  // exact product of the significands, in [2^46, 2^48)
  logic [2*SIG-1:0] norm;  // leading one at the top bit
  logic signed [EW-1:0] exp;

  always_comb begin
    sign = a_i[31] ^ b_i[31];
    a_zero = a_i[30:23] == 8'd0;  // zero or denormal
    b_zero = b_i[30:23] == 8'd0;
    a_inf = a_i[30:23] == EXP_SPECIAL && a_i[22:0] == 23'd0;
    b_inf = b_i[30:23] == EXP_SPECIAL && b_i[22:0] == 23'd0;
    a_nan = a_i[30:23] == EXP_SPECIAL && a_i[22:0] != 23'd0;
    b_nan = b_i[30:23] == EXP_SPECIAL && b_i[22:0] != 23'd0;

    prod = {{SIG{1'b0}}, 1'b1, a_i[22:0]} * {{SIG{1'b0}}, 1'b1, b_i[22:0]};
    norm = prod[2*SIG-1] ? prod : prod << 1;
    // The product's bit 2*SIG-2 has exponent ea + eb - BIAS; a carry into the top bit adds one.
    exp = EW'(a_i[30:23]) + EW'(b_i[30:23]) - EW'(BIAS) + EW'(prod[2*SIG-1]);

    if (a_nan || b_nan || (a_inf && b_zero) || (a_zero && b_inf)) y_o = QNAN;
    else if (a_inf || b_inf) y_o = {sign, EXP_SPECIAL, 23'b0};
    else if (a_zero || b_zero) y_o = {sign, 31'b0};
    else y_o = round_pack(sign, exp, norm[2*SIG-1:SIG], norm[SIG-1], |norm[SIG-2:0]);
  end
endmodule

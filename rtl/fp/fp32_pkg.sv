// The fp32 arithmetic of docs/numerics.md as functions, one per operation. Call them inside a
// procedural block under an enable (e.g. `if (act) s <= fp32_pkg::fp32_add(s, p);`): Verilator
// then evaluates the arithmetic only when the enable is high, where a module instance is
// evaluated every cycle. The modules rtl/fp/fp32_*.sv are thin wrappers around these functions.
//
// Common rules: denormal operands read as zero, NaN results are the canonical quiet NaN,
// |exact| < 2^-126 flushes to a signed zero (tininess before rounding), round to nearest even,
// overflow to infinity. All functions are automatic, without state, loops of constant bounds.
//
// Every name here starts with fp32_ / FP32_, so a wildcard import next to atalla_pkg::* is safe.
// The canonical NaNs and the LDEXP limit are atalla_pkg's (generated from atalla/numerics.py):
// compile atalla_pkg.sv first.
// fp32_round_pack, fp32_greater and the fp32_is_* helpers are internal.
package fp32_pkg;
  localparam int FP32_SIG = 24;  // significand bits, hidden bit included
  localparam int FP32_EW = 10;  // signed exponent width: holds every intermediate biased exponent
  localparam int FP32_BIAS = 127;
  localparam logic [7:0] FP32_EXP_SPECIAL = 8'hFF;  // inf / NaN
  localparam logic [31:0] FP32_QNAN = atalla_pkg::F32_CANONICAL_NAN;
  localparam logic [15:0] FP32_BF16_QNAN = atalla_pkg::BF16_CANONICAL_NAN;

  // ---- internal helpers -------------------------------------------------------------------

  // Classifications of an fp32 word (not every bit matters to each).
  /* verilator lint_off UNUSEDSIGNAL */
  function automatic logic fp32_is_zero(input logic [31:0] x);  // zero or denormal
    return x[30:23] == 8'd0;
  endfunction

  function automatic logic fp32_is_inf(input logic [31:0] x);
    return x[30:23] == FP32_EXP_SPECIAL && x[22:0] == 23'd0;
  endfunction

  function automatic logic fp32_is_nan(input logic [31:0] x);
    return x[30:23] == FP32_EXP_SPECIAL && x[22:0] != 23'd0;
  endfunction
  /* verilator lint_on UNUSEDSIGNAL */

  // Round a normalised significand (sig[FP32_SIG-1] = 1) and pack it; exp is the biased
  // exponent of the leading bit. The guard/sticky pair stands for everything below sig.
  function automatic logic [31:0] fp32_round_pack(input logic sign,
                                                  input logic signed [FP32_EW-1:0] exp,
                                                  input logic [FP32_SIG-1:0] sig,
                                                  input logic guard, input logic sticky);
    logic [FP32_SIG:0] rounded;
    logic signed [FP32_EW-1:0] e;
    if (exp <= 0) return {sign, 31'b0};  // below the smallest normal before rounding: flush
    rounded = {1'b0, sig} + {{FP32_SIG{1'b0}}, guard & (sticky | sig[0])};
    e = exp + FP32_EW'(rounded[FP32_SIG]);  // a carry out makes 10.000..., the next binade
    if (e >= FP32_EW'(FP32_EXP_SPECIAL)) return {sign, FP32_EXP_SPECIAL, 23'b0};
    return {sign, e[7:0], rounded[FP32_SIG-2:0]};
  endfunction

  // x > y for flushed, non-NaN x and y (sign-magnitude: a negative sign reverses the order).
  function automatic logic fp32_greater(input logic [31:0] x, input logic [31:0] y);
    if (x[30:0] == 31'd0 && y[30:0] == 31'd0) return 1'b0;  // -0 == +0
    if (x[31] != y[31]) return y[31];
    return x[31] ? x[30:0] < y[30:0] : x[30:0] > y[30:0];
  endfunction

  // ---- operations -------------------------------------------------------------------------

  // a + b. An exact zero sum is +0 (-0 + -0 = -0). Subtraction is a + (b ^ 32'h8000_0000).
  function automatic logic [31:0] fp32_add(input logic [31:0] a, input logic [31:0] b);
    localparam int SIG = FP32_SIG;
    localparam int EW = FP32_EW;
    localparam int GRS = 3;  // guard, round, sticky: RNE stays exact after a 1-bit renormalisation
    localparam int W = SIG + GRS;  // aligned significand width
    logic swap, subtract;
    logic [31:0] flip, big_op, small_op;  // a and b, the larger magnitude first
    logic [7:0] big_exp, exp_diff;
    logic [SIG-1:0] big_sig, small_sig;
    logic [2*W-1:0] shifted;  // small significand shifted right, the bits it loses below
    logic [W-1:0] small_aligned;
    logic [W:0] sum;  // one carry bit
    logic [4:0] lead_zeros, shift;
    logic [W:0] norm;

    // Specials and zeros behind one test each: the common case (two normal numbers) pays for two.
    if (a[30:23] == FP32_EXP_SPECIAL || b[30:23] == FP32_EXP_SPECIAL) begin
      if (fp32_is_nan(a) || fp32_is_nan(b) || (fp32_is_inf(a) && fp32_is_inf(b) && a[31] != b[31]))
        return FP32_QNAN;
      return fp32_is_inf(a) ? a : b;
    end
    if (fp32_is_zero(a) || fp32_is_zero(b)) begin
      if (fp32_is_zero(a) && fp32_is_zero(b)) return {a[31] & b[31], 31'b0};
      return fp32_is_zero(a) ? b : a;  // the other operand is exact and normal
    end

    // Order by magnitude so the difference of significands is never negative. The data-dependent
    // choices below are masks and shifts, not branches: a simulator runs this for 1,024 PEs a
    // cycle, and a mispredicted branch costs more than the arithmetic around it.
    swap = b[30:0] > a[30:0];
    flip = (a ^ b) & {32{swap}};
    big_op = a ^ flip;
    small_op = b ^ flip;
    big_exp = big_op[30:23];
    big_sig = {1'b1, big_op[22:0]};
    small_sig = {1'b1, small_op[22:0]};
    exp_diff = big_exp - small_op[30:23];

    // Align: beyond W places the small operand only contributes its sticky bit.
    shifted = {small_sig, {GRS{1'b0}}, {W{1'b0}}} >> (exp_diff > 8'(W) ? 8'(W) : exp_diff);
    small_aligned = shifted[2*W-1:W] | {{(W - 1) {1'b0}}, |shifted[W-1:0]};
    // Opposite signs subtract: add the two's complement (invert, add one).
    subtract = big_op[31] ^ small_op[31];
    sum = {1'b0, big_sig, {GRS{1'b0}}} + ({1'b0, small_aligned} ^ {(W + 1){subtract}}) + (W + 1)'(subtract);
    if (sum == '0) return 32'd0;  // exact cancellation: +0

    // Normalise by halving steps (16, 8, 4, 2, 1 places), a leading-zero count of five tests
    // rather than one per bit: sum is not zero, so its leading one ends at bit W.
    norm = sum;
    lead_zeros = 5'd0;
    for (int step = 16; step >= 1; step /= 2) begin
      shift = 5'(step) & {5{norm[W-:16] >> (16 - step) == 16'd0}};
      norm = norm << shift;
      lead_zeros = lead_zeros + shift;
    end
    // sum's bit W-1 has the big operand's exponent, so the leading one at bit W - lead_zeros has
    // big_exp + 1 - lead_zeros.
    return fp32_round_pack(big_op[31], EW'(big_exp) + 1 - EW'(lead_zeros), norm[W:GRS+1],
                           norm[GRS], |norm[GRS-1:0]);
  endfunction

  // SUB: a + (-b), the sign of b flipped (a NaN stays a NaN).
  function automatic logic [31:0] fp32_sub(input logic [31:0] a, input logic [31:0] b);
    return fp32_add(a, {~b[31], b[30:0]});
  endfunction

  // a * b. 0 * inf is NaN.
  function automatic logic [31:0] fp32_mul(input logic [31:0] a, input logic [31:0] b);
    localparam int SIG = FP32_SIG;
    localparam int EW = FP32_EW;
    logic sign;
    logic [2*SIG-1:0] prod;  // exact product of the significands, in [2^46, 2^48)
    logic [2*SIG-1:0] norm;  // leading one at the top bit
    logic signed [EW-1:0] exp;

    sign = a[31] ^ b[31];
    // Specials and zeros behind one test: the common case (two normal numbers) pays for it alone.
    if (a[30:23] == FP32_EXP_SPECIAL || b[30:23] == FP32_EXP_SPECIAL || fp32_is_zero(a) || fp32_is_zero(b)) begin
      if (fp32_is_nan(a) || fp32_is_nan(b) || (fp32_is_inf(a) && fp32_is_zero(b))
          || (fp32_is_zero(a) && fp32_is_inf(b)))
        return FP32_QNAN;
      if (fp32_is_inf(a) || fp32_is_inf(b)) return {sign, FP32_EXP_SPECIAL, 23'b0};
      return {sign, 31'b0};
    end

    prod = {{SIG{1'b0}}, 1'b1, a[22:0]} * {{SIG{1'b0}}, 1'b1, b[22:0]};
    norm = prod << !prod[2*SIG-1];  // a shift, not a branch
    // The product's bit 2*SIG-2 has exponent ea + eb - BIAS; a carry into the top bit adds one.
    exp = EW'(a[30:23]) + EW'(b[30:23]) - EW'(FP32_BIAS) + EW'(prod[2*SIG-1]);
    return fp32_round_pack(sign, exp, norm[2*SIG-1:SIG], norm[SIG-1], |norm[SIG-2:0]);
  endfunction

  // a / b. 0/0, inf/inf are NaN, x/0 = +-inf. The significands are divided by restoring long
  // division; the remainder is the sticky bit. In three parts so that a pipeline can put its
  // registers between them (rtl/vector_unit.sv): fp32_div_prepare takes the operands apart,
  // fp32_div_steps retires quotient bits, fp32_div_finish rounds and packs. fp32_div is all of it.
  localparam int FP32_DIV_QB = atalla_pkg::DIV_QUOTIENT_BITS;  // one may be a leading zero, one is the guard

  typedef struct packed {
    logic special;  // the result is known already: `result`
    logic [31:0] result;
    logic sign;
    logic signed [FP32_EW-1:0] exp;  // ea - eb + BIAS: the exponent of the quotient's bit 2^0
    logic [FP32_SIG-1:0] divisor;
    logic [FP32_SIG:0] rem;  // partial remainder, always below 2 * divisor
    logic [FP32_DIV_QB-1:0] quot;  // the bits so far, the latest in bit 0
  } fp32_div_state_t;

  function automatic fp32_div_state_t fp32_div_prepare(input logic [31:0] a, input logic [31:0] b);
    fp32_div_state_t s;
    s = '0;
    s.sign = a[31] ^ b[31];
    s.special = 1'b1;
    if (fp32_is_nan(a) || fp32_is_nan(b) || (fp32_is_zero(a) && fp32_is_zero(b))
        || (fp32_is_inf(a) && fp32_is_inf(b)))
      s.result = FP32_QNAN;
    else if (fp32_is_inf(a) || fp32_is_zero(b)) s.result = {s.sign, FP32_EXP_SPECIAL, 23'b0};
    else if (fp32_is_zero(a) || fp32_is_inf(b)) s.result = {s.sign, 31'b0};
    else begin
      s.special = 1'b0;
      s.exp = FP32_EW'(a[30:23]) - FP32_EW'(b[30:23]) + FP32_EW'(FP32_BIAS);
      s.divisor = {1'b1, b[22:0]};
      s.rem = {2'b01, a[22:0]};
    end
    return s;
  endfunction

  // The next `bits` quotient bits (a constant at each call: a stage's share of FP32_DIV_QB).
  function automatic fp32_div_state_t fp32_div_steps(input fp32_div_state_t s, input int bits);
    logic q;
    if (s.special) return s;
    for (int i = 0; i < FP32_DIV_QB; i++) begin
      if (i < bits) begin
        q = s.rem >= {1'b0, s.divisor};
        if (q) s.rem = s.rem - {1'b0, s.divisor};
        s.rem = s.rem << 1;
        s.quot = {s.quot[FP32_DIV_QB-2:0], q};
      end
    end
    return s;
  endfunction

  // After all FP32_DIV_QB bits: a/b in (1/2, 2), the quotient's top bit has weight 2^0.
  /* verilator lint_off UNUSEDSIGNAL */  // the divisor is done with
  function automatic logic [31:0] fp32_div_finish(input fp32_div_state_t s);
    localparam int QB = FP32_DIV_QB;
    logic signed [FP32_EW-1:0] exp;
    if (s.special) return s.result;
    exp = s.exp - FP32_EW'(!s.quot[QB-1]);  // a leading zero takes one off
    if (s.quot[QB-1]) return fp32_round_pack(s.sign, exp, s.quot[QB-1:2], s.quot[1], s.quot[0] | (s.rem != 0));
    return fp32_round_pack(s.sign, exp, s.quot[QB-2:1], s.quot[0], s.rem != 0);
  endfunction
  /* verilator lint_on UNUSEDSIGNAL */

  function automatic logic [31:0] fp32_div(input logic [31:0] a, input logic [31:0] b);
    return fp32_div_finish(fp32_div_steps(fp32_div_prepare(a, b), FP32_DIV_QB));
  endfunction

  // sqrt(a), correctly rounded. NaN for a NaN or a negative non-zero (-inf too); a zero or a
  // denormal gives a zero of its sign (sqrt(-0) = -0); +inf stays. The root of a normal is normal.
  // For a = s * 2^(e-127-23) the root has biased exponent (e + 127) >> 1 and significand
  // isqrt(s << 25) (e odd) or isqrt(s << 26) (e even): 25 bits, the last one the guard, taken
  // digit by digit (restoring); the remainder is the sticky bit.
  function automatic logic [31:0] fp32_sqrt(input logic [31:0] a);
    localparam int SIG = FP32_SIG;
    localparam int EW = FP32_EW;
    localparam int QB = SIG + 1;  // root bits: the significand and the guard
    logic [2*QB-1:0] radicand;
    logic [QB+2:0] rem, trial;  // the remainder stays below 2 * root + 1
    logic [QB-1:0] root;
    logic signed [EW-1:0] exp;

    if (fp32_is_nan(a)) return FP32_QNAN;
    if (fp32_is_zero(a)) return {a[31], 31'b0};
    if (a[31]) return FP32_QNAN;
    if (fp32_is_inf(a)) return a;

    radicand = {{(2*QB-SIG){1'b0}}, 1'b1, a[22:0]} << (a[23] ? 2*QB-SIG-1 : 2*QB-SIG);
    rem = '0;
    root = '0;
    for (int i = QB - 1; i >= 0; i--) begin
      rem = {rem[QB:0], radicand[2*i+1 -: 2]};
      trial = {1'b0, root, 2'b01};
      root = root << 1;
      if (rem >= trial) begin
        rem = rem - trial;
        root[0] = 1'b1;
      end
    end
    exp = (EW'(a[30:23]) + EW'(FP32_BIAS)) >>> 1;
    return fp32_round_pack(1'b0, exp, root[QB-1:1], root[0], rem != 0);
  endfunction

  // max ? MAX(a, b) : MIN(a, b). NaN if either operand is NaN; else MAX gives b if b > a and
  // MIN gives b if b < a, otherwise a (so ties, -0 vs +0 included, give a). Denormal operands
  // read as (and are returned as) zeros of their sign.
  function automatic logic [31:0] fp32_minmax(input logic [31:0] a, input logic [31:0] b,
                                              input logic max);
    logic [31:0] x, y;  // a and b flushed
    if (fp32_is_nan(a) || fp32_is_nan(b)) return FP32_QNAN;
    x = fp32_is_zero(a) ? {a[31], 31'b0} : a;
    y = fp32_is_zero(b) ? {b[31], 31'b0} : b;
    return (max ? fp32_greater(y, x) : fp32_greater(x, y)) ? y : x;
  endfunction

  // ROUND: the nearest integer, ties to even, as an fp32. The sign of a zero result is kept
  // (-0.4 -> -0), infinities stay.
  function automatic logic [31:0] fp32_round(input logic [31:0] a);
    localparam int SIG = FP32_SIG;
    localparam int INT_EXP = FP32_BIAS + SIG - 1;  // from this exponent on, values are integers
    localparam int HALF_EXP = FP32_BIAS - 1;  // below this exponent |a| < 1/2 rounds to zero
    logic [7:0] exp;
    logic [4:0] frac_bits;  // significand bits below the binary point: 1 .. SIG
    logic [SIG:0] sig, unit, kept, rounded;  // one spare bit for the carry of rounding up
    logic round_up;

    exp = a[30:23];
    if (fp32_is_nan(a)) return FP32_QNAN;
    if (int'(exp) >= INT_EXP) return a;  // an integer already, or inf
    if (int'(exp) < HALF_EXP) return {a[31], 31'b0};

    sig = {2'b01, a[22:0]};
    frac_bits = 5'(INT_EXP - int'(exp));
    unit = (SIG + 1)'(1) << frac_bits;  // weight of the integer's last bit
    kept = sig & ~(unit - 1'b1);  // truncated toward zero
    // Up when the dropped part exceeds a half, or equals it and the integer is odd.
    round_up = (sig & (unit >> 1)) != 0 && ((sig & ((unit >> 1) - 1'b1)) != 0 || (sig & unit) != 0);
    rounded = kept + (round_up ? unit : '0);
    if (rounded == '0) return {a[31], 31'b0};
    if (rounded[SIG]) return {a[31], exp + 8'd1, 23'b0};  // carried into the next binade
    return {a[31], exp, rounded[SIG-2:0]};
  endfunction

  // LDEXP: a * 2^n with n = trunc(n) saturated to +-LDEXP_LIMIT; NaN if a or n is NaN. A normal a
  // scaled by 2^n is exact unless it leaves the normal range, where it flushes to a signed zero
  // or overflows to infinity; zeros (and denormals) and infinities keep.
  function automatic logic [31:0] fp32_ldexp(input logic [31:0] a, input logic [31:0] n);
    localparam int EW = FP32_EW;
    localparam int N_LIMIT = atalla_pkg::LDEXP_LIMIT;  // larger scales over/underflow any fp32 anyway
    // |n| <= N_LIMIT < 2^N_BITS: from exponent BIAS + N_BITS on, saturate (N_LIMIT is all ones)
    localparam int N_BITS = $clog2(N_LIMIT + 1);
    logic [7:0] n_exp;
    logic [N_BITS-1:0] n_mag;
    logic signed [EW-1:0] exp;

    if (fp32_is_nan(a) || fp32_is_nan(n)) return FP32_QNAN;
    if (a[30:23] == FP32_EXP_SPECIAL) return a;  // inf
    if (fp32_is_zero(a)) return {a[31], 31'b0};

    n_exp = n[30:23];
    if (int'(n_exp) < FP32_BIAS) n_mag = '0;  // |n| < 1, zero and denormal included
    else if (int'(n_exp) >= FP32_BIAS + N_BITS) n_mag = N_BITS'(N_LIMIT);  // |n| >= 256, inf too
    else n_mag = N_BITS'({1'b1, n[22:0]} >> 5'(FP32_BIAS + 23 - int'(n_exp)));  // trunc(|n|)
    exp = EW'(a[30:23]) + (n[31] ? -EW'(n_mag) : EW'(n_mag));

    if (exp <= 0) return {a[31], 31'b0};  // below 2^-126
    if (exp >= EW'(FP32_EXP_SPECIAL)) return {a[31], FP32_EXP_SPECIAL, 23'b0};
    return {a[31], exp[7:0], a[22:0]};
  endfunction

  // EXP: exactly docs/numerics.md's sequence of the operations above (atalla.numerics.exp), one
  // operation after another on fp32 values, so the bits are the sequence's:
  //   t = MIN(MAX(x, EXP_LO), EXP_HI); n = ROUND(t * LOG2E); r = (t - n * LN2_HI) - n * LN2_LO;
  //   p = Horner(EXP_POLY, r), each step a MUL then an ADD; exp(x) = LDEXP(p, n)
  function automatic logic [31:0] fp32_exp(input logic [31:0] x);
    logic [31:0] t, n, r, p;
    t = fp32_minmax(fp32_minmax(x, atalla_pkg::EXP_LO, 1'b1), atalla_pkg::EXP_HI, 1'b0);
    n = fp32_round(fp32_mul(t, atalla_pkg::LOG2E));
    r = fp32_sub(fp32_sub(t, fp32_mul(n, atalla_pkg::LN2_HI)), fp32_mul(n, atalla_pkg::LN2_LO));
    p = atalla_pkg::EXP_POLY_0;
    p = fp32_add(fp32_mul(p, r), atalla_pkg::EXP_POLY_1);
    p = fp32_add(fp32_mul(p, r), atalla_pkg::EXP_POLY_2);
    p = fp32_add(fp32_mul(p, r), atalla_pkg::EXP_POLY_3);
    p = fp32_add(fp32_mul(p, r), atalla_pkg::EXP_POLY_4);
    p = fp32_add(fp32_mul(p, r), atalla_pkg::EXP_POLY_5);
    p = fp32_add(fp32_mul(p, r), atalla_pkg::EXP_POLY_6);
    return fp32_ldexp(p, n);
  endfunction

  // fp32 -> bf16: a denormal becomes a signed zero, NaN becomes 0x7FC0, others round to nearest
  // even on the low 16 bits; a carry out of the fraction moves into the exponent, so rounding
  // past the largest finite bf16 gives infinity by itself.
  function automatic logic [15:0] fp32_to_bf16(input logic [31:0] a);
    logic round_up;
    if (fp32_is_nan(a)) return FP32_BF16_QNAN;
    if (a[30:23] == FP32_EXP_SPECIAL) return a[31:16];  // inf
    if (fp32_is_zero(a)) return {a[31], 15'b0};
    round_up = a[15] && (a[14:0] != 15'd0 || a[16]);  // above half, or a tie to odd
    return a[31:16] + {15'b0, round_up};
  endfunction
endpackage

// MAX / MIN of docs/numerics.md: NaN if either operand is NaN; else MAX gives b if b > a and
// MIN gives b if b < a, otherwise a (so ties, -0 vs +0 included, give a). Denormal operands
// read as (and are returned as) zeros of their sign.
module fp32_minmax (
    input  logic [31:0] a_i,
    input  logic [31:0] b_i,
    input  logic        max_i,
    output logic [31:0] y_o
);
  localparam logic [7:0] EXP_SPECIAL = 8'hFF;  // inf / NaN
  localparam logic [31:0] QNAN = 32'h7FC0_0000;

  function automatic logic [31:0] flush(input logic [31:0] x);
    return x[30:23] == 8'd0 ? {x[31], 31'b0} : x;
  endfunction

  function automatic logic is_nan(input logic [30:0] x);  // magnitude bits
    return x[30:23] == EXP_SPECIAL && x[22:0] != 23'd0;
  endfunction

  // x > y for flushed, non-NaN x and y (sign-magnitude: a negative order reverses).
  function automatic logic greater(input logic [31:0] x, input logic [31:0] y);
    if (x[30:0] == 31'd0 && y[30:0] == 31'd0) return 1'b0;  // -0 == +0
    if (x[31] != y[31]) return y[31];
    return x[31] ? x[30:0] < y[30:0] : x[30:0] > y[30:0];
  endfunction

  logic [31:0] a, b;
  logic pick_b;

  always_comb begin
    a = flush(a_i);
    b = flush(b_i);
    pick_b = max_i ? greater(b, a) : greater(a, b);
    y_o = is_nan(a[30:0]) || is_nan(b[30:0]) ? QNAN : pick_b ? b : a;
  end
endmodule

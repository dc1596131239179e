// One processing element of the weight-stationary systolic array (docs/rtl.md, "Systolic array").
//
// PE (kk, j) holds the bf16 weight B[kk][j]. Each cycle an A element arrives from the left and a
// partial sum from above; the PE forwards the A element to the right and the updated sum
// downward, both through one register:
//
//     s_o <= act_i ? fp32_add(s_i, fp32_mul(a, w)) : s_i
//
// An inactive PE (its row kk >= k for this tile, or no A row in flight) passes the sum through
// untouched: adding +0 instead would turn a -0 sum into +0, and the golden model is bit exact.
//
// Weights are double-buffered: `w_shadow_q` is written by the loader (`w_we_i`) while the
// current tile streams through `w_active_q`. The switch is the `first_i` flag that travels with
// the first A row of the next tile: on that element the PE already computes with the shadow
// weight and copies it into the active register, so tiles run back to back without draining.
module pe (
    input  logic        clk_i,
    input  logic        rst_ni,
    // A element from the left: bf16 value, "first row of a tile", "accumulate here".
    input  logic [15:0] a_i,
    input  logic        first_i,
    input  logic        act_i,
    // Partial sum from the PE above (+0 at the top of the column), fp32.
    input  logic [31:0] s_i,
    // Shadow weight write (the array decodes row and column skew).
    input  logic        w_we_i,
    input  logic [15:0] w_i,
    // The same A element, one cycle later, to the PE on the right.
    output logic [15:0] a_o,
    output logic        first_o,
    output logic        act_o,
    // The updated partial sum, to the PE below.
    output logic [31:0] s_o
);

  logic [15:0] w_shadow_q, w_active_q;
  logic [15:0] w_use;

  // The first row of a tile already uses the new weights (it is what flips the buffer).
  assign w_use = first_i ? w_shadow_q : w_active_q;

  // Weights: no reset needed, a tile's weights are always loaded before its first row arrives.
  always_ff @(posedge clk_i) begin
    if (w_we_i) w_shadow_q <= w_i;
    if (first_i) w_active_q <= w_shadow_q;
  end

  // Data registers carry no reset: they are only looked at when the flags say so. The arithmetic
  // is called under act_i so that a simulator spends nothing on idle PEs; bf16 -> fp32 is exact
  // (append 16 zero bits).
  always_ff @(posedge clk_i) begin
    a_o <= a_i;
    if (act_i) s_o <= fp32_pkg::fp32_add(s_i, fp32_pkg::fp32_mul({a_i, 16'b0}, {w_use, 16'b0}));
    else s_o <= s_i;
  end

  // Flags are reset so a stale `first` cannot flip the buffer after reset.
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      first_o <= 1'b0;
      act_o   <= 1'b0;
    end else begin
      first_o <= first_i;
      act_o   <= act_i;
    end
  end

endmodule

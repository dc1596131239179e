// Weight-stationary systolic array: ROWS x COLS PEs, bf16 operands, fp32 sums,
// bit exact with atalla.numerics.gemm (docs/numerics.md, "The systolic array: GEMM").
//
// One tile is C[m x n] = A[m x k] @ B[k x n], k in 1..ROWS, n in 1..COLS, m >= 1.
//
// Streams (valid/ready: a beat moves when both are high; docs/rtl.md):
//
//   weights  w_valid_i / w_ready_o / w_row_i / w_last_i, with k_i, n_i
//            A tile's k rows B[0..k-1], one per beat, in order: B[r][j] in w_row_i[16j +: 16].
//            w_last_i flags row k-1; k_i and n_i are sampled with that beat. The rows go to the
//            shadow weights, so the next tile's weights load while the current tile streams.
//   A        a_valid_i / a_ready_o / a_row_i / a_last_i
//            A tile's m rows, one per beat: A[i][kk] in a_row_i[16kk +: 16] (elements kk >= k
//            are ignored). a_last_i flags row m-1; the next row belongs to the next tile and
//            uses the next loaded weights. a_ready_o is low only while the next tile's weights
//            are not complete.
//   results  y_valid_o / y_row_o / y_last_o (no ready: the array is a fixed pipeline)
//            One row per A row, in A's order, ROWS + COLS cycles after the A beat:
//            C[i][j] (fp32) in y_row_o[32j +: 32]; columns j >= n read +0. y_last_o marks the
//            tile's last row. The consumer must take a row in every cycle y_valid_o is high.
//
//   Combinational paths: w_ready_o depends on a_valid_i (a new tile's first A row frees the
//   shadow weights in the same cycle, so loading the following tile can start right away:
//   without it every tile of m == k rows would cost one bubble). The weight source must
//   therefore not make a_valid_i depend on w_ready_o. No other input reaches an output.
//
//   Counters (measurement, free running since reset):
//     busy_cycles_o   cycles in which an A row entered (each keeps k x n PEs busy for a cycle)
//     stall_cycles_o  cycles in which an A row waited (a_valid_i && !a_ready_o)
//     mac_count_o     useful multiply-adds: sum of k x n over the A rows that entered;
//                     utilization = mac_count_o / (cycles x ROWS x COLS)
//
// Dataflow. Row i enters skewed: element kk reaches PE (kk, 0) kk cycles after element 0 and
// moves right one column per cycle, so PE (kk, j) sees it at t + 1 + kk + j, exactly when the
// partial sum of (i, j) arrives from PE (kk - 1, j). The bottom of column j yields C[i][j] at
// t + 1 + ROWS + j; column j is delayed COLS - 1 - j more cycles so the row leaves at once.
// With each A element travel two flags: `act` (this row is active, kk < k, and the beat is
// real: otherwise the PE passes the sum through untouched) and `first` (first row of a tile:
// the PE switches to its shadow weight as the row passes, so the switch sweeps the array in
// step with the data).
//
// Weight loading is skewed like A: lane j of a weight row reaches column j's PEs j cycles later.
// The shadow weight of PE (r, j) is then written after the previous tile's first row copied it
// (the loader starts no earlier than that first row's beat and loads row r no earlier than r
// beats later) and before the new tile's first row arrives (that row enters after the last
// weight beat and reaches row r r cycles later). Hence back to back tiles with m >= k rows
// run without a bubble.
module systolic_array #(
    parameter int ROWS = 8,
    parameter int COLS = 8
) (
    input  logic                            clk_i,
    input  logic                            rst_ni,
    // Weight stream: one row of B per beat, into the shadow weights.
    input  logic                            w_valid_i,
    output logic                            w_ready_o,
    input  logic [COLS*16-1:0]              w_row_i,
    input  logic                            w_last_i,
    input  logic [$clog2(ROWS + 1)-1:0]     k_i,
    input  logic [$clog2(COLS + 1)-1:0]     n_i,
    // A stream: one row of A per beat.
    input  logic                            a_valid_i,
    output logic                            a_ready_o,
    input  logic [ROWS*16-1:0]              a_row_i,
    input  logic                            a_last_i,
    // Result stream: one row of C per A row.
    output logic                            y_valid_o,
    output logic [COLS*32-1:0]              y_row_o,
    output logic                            y_last_o,
    // Counters.
    output logic [63:0]                     busy_cycles_o,
    output logic [63:0]                     stall_cycles_o,
    output logic [63:0]                     mac_count_o
);

  localparam int KW = $clog2(ROWS + 1);  // k in 1..ROWS
  localparam int NW = $clog2(COLS + 1);  // n in 1..COLS
  localparam int RIW = (ROWS > 1) ? $clog2(ROWS) : 1;  // weight row index
  localparam int LAT = ROWS + COLS;  // A beat -> result row, in cycles

  // ---------------------------------------------------------------------------------------------
  // Tile control: one shadow tile (loaded, not yet claimed) and one current A tile.

  logic           shadow_full_q;  // the shadow weights hold a complete tile, not yet claimed
  logic           cur_valid_q;  // an A tile is open: its first row entered, its last has not
  logic [KW-1:0]  k_sh_q, k_cur_q;
  logic [NW-1:0]  n_sh_q, n_cur_q;
  logic [RIW-1:0] w_idx_q;  // row of the next weight beat

  logic           a_fire, a_claim, w_fire;
  logic [KW-1:0]  a_k;  // k and n of the tile the A row on the input belongs to
  logic [NW-1:0]  a_n;

  assign a_ready_o = cur_valid_q | shadow_full_q;
  assign a_fire = a_valid_i & a_ready_o;
  assign a_claim = a_fire & ~cur_valid_q;  // the first row of a tile takes over the shadow
  assign a_k = cur_valid_q ? k_cur_q : k_sh_q;
  assign a_n = cur_valid_q ? n_cur_q : n_sh_q;

  // The shadow is free once its tile is claimed, including in the claiming cycle (see header).
  assign w_ready_o = ~shadow_full_q | a_claim;
  assign w_fire = w_valid_i & w_ready_o;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      shadow_full_q <= 1'b0;
      cur_valid_q   <= 1'b0;
      w_idx_q       <= '0;
      k_sh_q        <= '0;
      n_sh_q        <= '0;
      k_cur_q       <= '0;
      n_cur_q       <= '0;
    end else begin
      shadow_full_q <= (shadow_full_q & ~a_claim) | (w_fire & w_last_i);
      if (w_fire) w_idx_q <= w_last_i ? '0 : w_idx_q + RIW'(1);
      if (w_fire && w_last_i) begin
        k_sh_q <= k_i;
        n_sh_q <= n_i;
      end
      if (a_claim) begin
        k_cur_q <= k_sh_q;
        n_cur_q <= n_sh_q;
      end
      if (a_fire) cur_valid_q <= ~a_last_i;
    end
  end

  // ---------------------------------------------------------------------------------------------
  // The PE grid and its edges.

  // The edges: what enters row kk from the left, and column j's skewed weight write.
  logic [15:0]    a_left[ROWS];
  logic           f_left[ROWS], act_left[ROWS];
  logic           wwe_c[COLS];
  logic [RIW-1:0] wrow_c[COLS];
  logic [15:0]    wval_c[COLS];

  // A skew: element kk is delayed kk + 1 cycles (one input register, then kk more).
  for (genvar kk = 0; kk < ROWS; kk++) begin : g_askew
    logic [17:0] pipe[kk+1];  // {first, act, a}
    always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        for (int s = 0; s <= kk; s++) pipe[s] <= '0;
      end else begin
        pipe[0] <= {a_claim, a_fire && (a_k > KW'(kk)), a_row_i[16*kk+:16]};
        for (int s = 1; s <= kk; s++) pipe[s] <= pipe[s-1];
      end
    end
    assign {f_left[kk], act_left[kk], a_left[kk]} = pipe[kk];
  end

  // Weight skew: lane j of a weight row is delayed j + 1 cycles, then broadcast down column j.
  for (genvar j = 0; j < COLS; j++) begin : g_wskew
    logic [RIW+16:0] pipe[j+1];  // {we, row, value}
    always_ff @(posedge clk_i) begin
      if (!rst_ni) begin
        for (int s = 0; s <= j; s++) pipe[s] <= '0;
      end else begin
        pipe[0] <= {w_fire, w_idx_q, w_row_i[16*j+:16]};
        for (int s = 1; s <= j; s++) pipe[s] <= pipe[s-1];
      end
    end
    assign {wwe_c[j], wrow_c[j], wval_c[j]} = pipe[j];
  end

  // The PEs. PE (kk, j) holds the bf16 weight B[kk][j]. Each cycle an A element arrives from the
  // left and a partial sum from above (+0 at the top); the PE passes the A element right and
  // the updated sum down, both through one register:
  //
  //     s <= act ? fp32_add(s_in, fp32_mul(a, w)) : s_in
  //
  // An inactive PE (its row kk >= k for this tile, or no A row in flight) passes the sum through
  // untouched: adding +0 instead would turn a -0 sum into +0, and the golden model is bit exact.
  // Weights are double-buffered: the shadow weight is written by the loader while the current
  // tile streams through the active one. The switch is the `first` flag that travels with the
  // first A row of the next tile: on that element the PE already computes with the shadow
  // weight and copies it into the active register, so tiles run back to back without draining.
  //
  // The grid is one loop over arrays, not ROWS x COLS module instances, and Verilator is told
  // not to unroll it: one copy of the PE's C++ serves every PE (a 32x32 array otherwise builds
  // 1,024 copies of the fp32 arithmetic: a build of minutes, a model that misses the I-cache).
  // The loop computes the next state into the block's own arrays, registered whole at the end
  // (element-wise non-blocking writes in a loop would queue 6 x ROWS x COLS commits a cycle).
  logic [15:0] w_shadow_q[ROWS][COLS], w_active_q[ROWS][COLS];
  logic [15:0] a_q[ROWS][COLS];  // the A element PE (kk, j) passes right
  logic        f_q[ROWS][COLS];  // ... its `first` flag
  logic        act_q[ROWS][COLS];  // ... its `act` flag
  logic [31:0] s_q[ROWS][COLS];  // the partial sum PE (kk, j) passes down

  always_ff @(posedge clk_i) begin : p_grid
    logic [15:0] w_shadow_next[ROWS][COLS], w_active_next[ROWS][COLS], a_next[ROWS][COLS];
    logic        f_next[ROWS][COLS], act_next[ROWS][COLS];
    logic [31:0] s_next[ROWS][COLS];
    /*verilator unroll_disable*/
    for (int kk = 0; kk < ROWS; kk++) begin
      /*verilator unroll_disable*/
      for (int j = 0; j < COLS; j++) begin
        logic [15:0] a_in, w_use;
        logic        f_in, act_in;
        logic [31:0] s_in;
        a_in   = j == 0 ? a_left[kk] : a_q[kk][j-1];
        f_in   = j == 0 ? f_left[kk] : f_q[kk][j-1];
        act_in = j == 0 ? act_left[kk] : act_q[kk][j-1];
        s_in   = kk == 0 ? 32'h0000_0000 : s_q[kk-1][j];
        // The first row of a tile already uses the new weights (it is what flips the buffer).
        w_use = f_in ? w_shadow_q[kk][j] : w_active_q[kk][j];
        // Weights carry no reset: a tile's weights are always loaded before its first row.
        w_shadow_next[kk][j] = wwe_c[j] && wrow_c[j] == RIW'(kk) ? wval_c[j] : w_shadow_q[kk][j];
        w_active_next[kk][j] = f_in ? w_shadow_q[kk][j] : w_active_q[kk][j];
        // Data carries no reset either: it is only looked at when the flags say so. The arithmetic
        // runs under act so a simulator spends nothing on idle PEs; bf16 -> fp32 appends 16 zeros.
        a_next[kk][j] = a_in;
        s_next[kk][j] = act_in ? fp32_pkg::fp32_add(s_in, fp32_pkg::fp32_mul({a_in, 16'b0}, {w_use, 16'b0})) : s_in;
        // Flags are reset, so a stale `first` cannot flip the buffer after reset.
        f_next[kk][j]   = rst_ni && f_in;
        act_next[kk][j] = rst_ni && act_in;
      end
    end
    w_shadow_q <= w_shadow_next;
    w_active_q <= w_active_next;
    a_q        <= a_next;
    f_q        <= f_next;
    act_q      <= act_next;
    s_q        <= s_next;
  end

  // ---------------------------------------------------------------------------------------------
  // Deskew: column j waits COLS - 1 - j cycles so a row's results leave together.

  logic [31:0] c_out[COLS];
  for (genvar j = 0; j < COLS; j++) begin : g_deskew
    if (j == COLS - 1) begin : g_direct
      assign c_out[j] = s_q[ROWS-1][j];
    end else begin : g_delay
      logic [31:0] pipe[COLS-1-j];
      always_ff @(posedge clk_i) begin
        pipe[0] <= s_q[ROWS-1][j];
        for (int s = 1; s < COLS - 1 - j; s++) pipe[s] <= pipe[s-1];
      end
      assign c_out[j] = pipe[COLS-2-j];
    end
  end

  // Row bookkeeping travels alongside: valid, last and the tile's n, LAT cycles.
  logic [NW+1:0] opipe[LAT];  // {valid, last, n}
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      for (int s = 0; s < LAT; s++) opipe[s] <= '0;
    end else begin
      opipe[0] <= {a_fire, a_fire && a_last_i, a_n};
      for (int s = 1; s < LAT; s++) opipe[s] <= opipe[s-1];
    end
  end

  logic [NW-1:0] y_n;
  assign {y_valid_o, y_last_o, y_n} = opipe[LAT-1];
  for (genvar j = 0; j < COLS; j++) begin : g_y
    // Inactive columns read +0 rather than whatever the PEs computed there.
    assign y_row_o[32*j+:32] = (y_n > NW'(j)) ? c_out[j] : 32'h0000_0000;
  end

  // ---------------------------------------------------------------------------------------------
  // Counters.

  logic [KW+NW-1:0] a_macs;
  assign a_macs = (KW + NW)'(a_k) * (KW + NW)'(a_n);

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      busy_cycles_o  <= '0;
      stall_cycles_o <= '0;
      mac_count_o    <= '0;
    end else begin
      if (a_fire) begin
        busy_cycles_o <= busy_cycles_o + 64'd1;
        mac_count_o   <= mac_count_o + 64'(a_macs);
      end
      if (a_valid_i && !a_ready_o) stall_cycles_o <= stall_cycles_o + 64'd1;
    end
  end

endmodule

// Scratchpad bank arbiter: each bank serves at most BANK_RD_PORTS row reads and BANK_WR_PORTS row
// writes per cycle (row r in bank r % SP_BANKS). The units present their requests; a request is
// granted whole or not at all, by fixed priority, and a refused unit waits that cycle and asks
// again (nothing is lost, nothing changes but time). scratchpad.sv stores the rows; this module
// makes sure it is never asked more of a bank than the ports give.
//
// Reads, first served first:
//   1. GEMM C     the C row of a result leaving the array (the array cannot wait: always granted)
//   2. GEMM A     the next A row into the array
//   3. GEMM B     the next weight row into the shadow weights
//   4. VEC        a and b of one tile row (one or two rows each), granted together and only if
//                 the unit's write goes this cycle and the write it does in the next cycle fits
//                 beside the GEMM unit's next D write (the vector unit's contract: no operands
//                 arrive while its pipeline holds)
//   5. DMA        a store's next row
// Writes, first served first: GEMM D (the result leaving the array: always granted), the VEC write
// (a latency-1 function's was made sure of the cycle before, with its read; a deeper pipeline's
// may be refused, and the vector unit holds), DMA (a load's row: the DMA holds the DRAM beat while
// refused).
//
// With two read ports the GEMM unit's own A read never waits for its C read (two rows in two
// banks); its weight reads wait when C and A take both ports of their bank, and have slack.
// A refused request is counted: the cycles in which the GEMM unit (A or B), the vector unit (a read
// or its write) or the DMA had a request refused.
module sp_arbiter #(
  parameter int SP_BANKS = 8,
  parameter int ROW_ADDR_BITS = 12,
  parameter int BANK_RD_PORTS = 2,
  parameter int BANK_WR_PORTS = 1
) (
  input  logic                     clk_i,
  input  logic                     rst_ni,
  // GEMM unit
  input  logic                     gemm_c_en_i,
  input  logic                     gemm_c_two_i,
  input  logic [ROW_ADDR_BITS-1:0] gemm_c_row_i,
  input  logic                     gemm_a_en_i,
  input  logic [ROW_ADDR_BITS-1:0] gemm_a_row_i,
  output logic                     gemm_a_gnt_o,
  input  logic                     gemm_b_en_i,
  input  logic [ROW_ADDR_BITS-1:0] gemm_b_row_i,
  output logic                     gemm_b_gnt_o,
  input  logic                     gemm_d_en_i,       // this cycle's D write
  input  logic                     gemm_d_two_i,
  input  logic [ROW_ADDR_BITS-1:0] gemm_d_row_i,
  input  logic                     gemm_d_next_en_i,  // next cycle's D write
  input  logic                     gemm_d_next_two_i,
  input  logic [ROW_ADDR_BITS-1:0] gemm_d_next_row_i,
  // vector unit
  input  logic [1:0]                    vec_rd_en_i,  // a, b
  input  logic [1:0]                    vec_rd_two_i,
  input  logic [1:0][ROW_ADDR_BITS-1:0] vec_rd_row_i,
  input  logic                          vec_wr_en_i,       // this cycle's write
  input  logic                          vec_wr_two_i,
  input  logic [ROW_ADDR_BITS-1:0]      vec_wr_row_i,
  output logic                          vec_wr_gnt_o,
  input  logic                          vec_wr_next_en_i,  // the write of the next cycle
  input  logic                          vec_wr_next_two_i,
  input  logic [ROW_ADDR_BITS-1:0]      vec_wr_next_row_i,
  output logic                          vec_gnt_o,
  // DMA
  input  logic                     dma_re_i,
  input  logic                     dma_we_i,
  input  logic [ROW_ADDR_BITS-1:0] dma_row_i,
  output logic                     dma_gnt_o,
  // refused-request cycles
  output logic [31:0]              gemm_stall_cycles_o,
  output logic [31:0]              vec_stall_cycles_o,
  output logic [31:0]              dma_stall_cycles_o
);
  localparam int BankW = $clog2(SP_BANKS);
  localparam int CntW = $clog2(8 + 1);

  function automatic logic [BankW-1:0] bank_of(logic [ROW_ADDR_BITS-1:0] row, logic plus_one);
    return BankW'((32'(row) + 32'(plus_one)) % SP_BANKS);
  endfunction

  // Slots (one row each) in priority order: reads C lo, C hi, A, B, VEC a lo, a hi, b lo, b hi, DMA;
  // writes D lo, D hi, VEC lo, VEC hi, DMA; the next cycle's writes D lo, D hi, VEC lo, VEC hi.
  localparam int Slots = 9;
  typedef logic [Slots-1:0]            slot_en_t;
  typedef logic [Slots-1:0][BankW-1:0] slot_bank_t;
  slot_en_t   rd_en, wr_en, nx_en;
  slot_bank_t rd_bank, wr_bank, nx_bank;
  always_comb begin
    rd_en   = {dma_re_i, vec_rd_en_i[1] && vec_rd_two_i[1], vec_rd_en_i[1], vec_rd_en_i[0] && vec_rd_two_i[0],
               vec_rd_en_i[0], gemm_b_en_i, gemm_a_en_i, gemm_c_en_i && gemm_c_two_i, gemm_c_en_i};
    rd_bank = {bank_of(dma_row_i, 1'b0), bank_of(vec_rd_row_i[1], 1'b1), bank_of(vec_rd_row_i[1], 1'b0),
               bank_of(vec_rd_row_i[0], 1'b1), bank_of(vec_rd_row_i[0], 1'b0), bank_of(gemm_b_row_i, 1'b0),
               bank_of(gemm_a_row_i, 1'b0), bank_of(gemm_c_row_i, 1'b1), bank_of(gemm_c_row_i, 1'b0)};
    wr_en   = Slots'({dma_we_i, vec_wr_en_i && vec_wr_two_i, vec_wr_en_i, gemm_d_en_i && gemm_d_two_i, gemm_d_en_i});
    wr_bank = '0;
    wr_bank[4:0] = {bank_of(dma_row_i, 1'b0), bank_of(vec_wr_row_i, 1'b1), bank_of(vec_wr_row_i, 1'b0),
                    bank_of(gemm_d_row_i, 1'b1), bank_of(gemm_d_row_i, 1'b0)};
    nx_en   = Slots'({vec_wr_next_en_i && vec_wr_next_two_i, vec_wr_next_en_i, gemm_d_next_en_i && gemm_d_next_two_i,
                      gemm_d_next_en_i});
    nx_bank = '0;
    nx_bank[3:0] = {bank_of(vec_wr_next_row_i, 1'b1), bank_of(vec_wr_next_row_i, 1'b0),
                    bank_of(gemm_d_next_row_i, 1'b1), bank_of(gemm_d_next_row_i, 1'b0)};
  end

  // Slot s fits if fewer than `ports` of the taken slots before it use its bank.
  function automatic logic fits(int s, slot_en_t taken, slot_bank_t bank, int ports);
    logic [CntW-1:0] used;
    used = '0;
    for (int t = 0; t < s; t++) if (taken[t] && bank[t] == bank[s]) used = used + 1'b1;
    return 32'(used) < ports;
  endfunction

  logic a_gnt, b_gnt, v_gnt, v_rd_ok, v_wr_gnt, v_next_ok, dma_rd_ok, dma_wr_ok;
  always_comb begin
    slot_en_t taken, written;
    // C (slots 0, 1) is always granted: two rows, two banks.
    taken    = rd_en & Slots'(2'b11);
    a_gnt    = !rd_en[2] || fits(2, taken, rd_bank, BANK_RD_PORTS);
    taken[2] = rd_en[2] && a_gnt;
    b_gnt    = !rd_en[3] || fits(3, taken, rd_bank, BANK_RD_PORTS);
    taken[3] = rd_en[3] && b_gnt;
    // The vector unit's write against this cycle's D write; its write in the next cycle against
    // the GEMM unit's next D write.
    v_wr_gnt  = !wr_en[2] || (fits(2, wr_en, wr_bank, BANK_WR_PORTS) && (!wr_en[3] || fits(3, wr_en, wr_bank, BANK_WR_PORTS)));
    v_next_ok = !nx_en[2] || (fits(2, nx_en, nx_bank, BANK_WR_PORTS) && (!nx_en[3] || fits(3, nx_en, nx_bank, BANK_WR_PORTS)));
    // The vector unit's read slots, each counting the granted ones before it and its own earlier ones.
    v_rd_ok = 1'b1;
    for (int s = 4; s < 8; s++)
      if (rd_en[s] && !fits(s, taken | (rd_en & Slots'(8'hf0)), rd_bank, BANK_RD_PORTS)) v_rd_ok = 1'b0;
    v_gnt   = v_rd_ok && v_wr_gnt && v_next_ok;
    for (int s = 4; s < 8; s++) taken[s] = rd_en[s] && v_gnt;
    dma_rd_ok = fits(8, taken, rd_bank, BANK_RD_PORTS);
    // The DMA's write against this cycle's D write and the VEC write if granted.
    written    = wr_en;
    written[2] = wr_en[2] && v_wr_gnt;
    written[3] = wr_en[3] && v_wr_gnt;
    dma_wr_ok  = fits(4, written, wr_bank, BANK_WR_PORTS);
  end

  assign gemm_a_gnt_o = a_gnt;
  assign gemm_b_gnt_o = b_gnt;
  assign vec_gnt_o    = v_gnt;
  assign vec_wr_gnt_o = v_wr_gnt;
  assign dma_gnt_o    = dma_re_i ? dma_rd_ok : dma_wr_ok;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      gemm_stall_cycles_o <= '0;
      vec_stall_cycles_o  <= '0;
      dma_stall_cycles_o  <= '0;
    end else begin
      if ((gemm_a_en_i && !a_gnt) || (gemm_b_en_i && !b_gnt)) gemm_stall_cycles_o <= gemm_stall_cycles_o + 1;
      if ((|vec_rd_en_i && !vec_gnt_o) || (vec_wr_en_i && !v_wr_gnt)) vec_stall_cycles_o <= vec_stall_cycles_o + 1;
      if ((dma_re_i || dma_we_i) && !dma_gnt_o) dma_stall_cycles_o <= dma_stall_cycles_o + 1;
    end
  end
endmodule

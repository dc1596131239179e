// Scratchpad: SP_ROWS rows of ROW_BITS = 8 * ROW_BYTES bits in SP_BANKS banks, row r in bank
// r % SP_BANKS at index r / SP_BANKS. Every port has one cycle of read latency: the data of a read
// presented in cycle t is on the output in cycle t + 1 (outputs in other cycles are don't-care).
//
//   DMA port        dma_row_i selects one row; dma_we_i writes dma_wdata_i to it, and
//                   dma_rdata_o shows it in the next cycle.
//   read port p     rd_row_i[p] = r; rd_data_o[p] = {row r + 1, row r} in the next cycle (one fp32 tile
//                   row, or a bf16 row in the low half). Row r + 1 past the end reads as zero.
//   write port w    wr_row_i[w] = r; wmask_i[w] has one bit per bf16 element of {row r + 1, row r}:
//                   bit e writes element e of wr_data_i[w] (e < LANES: row r, element e; else row
//                   r + 1, element e - LANES; row r + 1 ignored past the end), as an SRAM's byte
//                   enables would.
//
// This module is the storage: each bank is one memory with a registered read address (synchronous
// SRAM); a read of a row written in the same cycle returns the new data (write-first). The ports
// a bank has per cycle are enforced in front of it by sp_arbiter.sv, which never lets more than
// the configured reads and writes reach one bank in a cycle. When ports write one row in the same cycle the higher-numbered compute
// port wins, and any compute port wins over the DMA (the command ordering rules make that a
// program error anyway: the GEMM unit and the vector unit, on ports 0 and 1, never write one row
// at once).
module scratchpad #(
    parameter int SP_ROWS = 4096,
    parameter int ROW_BYTES = 16,
    parameter int SP_BANKS = 8,  // must divide SP_ROWS
    parameter int NUM_RD = 3,
    parameter int NUM_WR = 1,
    localparam int RowBits = 8 * ROW_BYTES,
    localparam int Lanes = ROW_BYTES / 2,
    localparam int RowW = $clog2(SP_ROWS)
) (
    input  logic                                 clk_i,
    // DMA port
    input  logic                                 dma_we_i,
    input  logic [          RowW-1:0]            dma_row_i,
    input  logic [       RowBits-1:0]            dma_wdata_i,
    output logic [       RowBits-1:0]            dma_rdata_o,
    // compute read ports
    input  logic [        NUM_RD-1:0][RowW-1:0]  rd_row_i,
    output logic [        NUM_RD-1:0][2*RowBits-1:0] rd_data_o,
    // compute write ports
    input  logic [        NUM_WR-1:0][2*Lanes-1:0]  wmask_i,
    input  logic [        NUM_WR-1:0][RowW-1:0]     wr_row_i,
    input  logic [        NUM_WR-1:0][2*RowBits-1:0] wr_data_i
);

  localparam int BankRows = SP_ROWS / SP_BANKS;
  localparam int BankW = SP_BANKS > 1 ? $clog2(SP_BANKS) : 1;
  localparam int IdxW = BankRows > 1 ? $clog2(BankRows) : 1;
  // Read slots: 0 is the DMA port, 1 + 2p + s is row (rd_row_i[p] + s) of read port p.
  localparam int NumSlots = 1 + 2 * NUM_RD;

  initial begin
    if (SP_ROWS % SP_BANKS != 0) $fatal(1, "scratchpad: SP_BANKS must divide SP_ROWS");
  end

  function automatic logic [BankW-1:0] bank_of(logic [RowW:0] row);
    return BankW'(row % (RowW + 1)'(SP_BANKS));
  endfunction
  function automatic logic [IdxW-1:0] index_of(logic [RowW:0] row);
    return IdxW'(row / (RowW + 1)'(SP_BANKS));
  endfunction

  // Rows asked for by each read slot this cycle (RowW + 1 bits: rd_row_i + 1 may be SP_ROWS).
  logic [NumSlots-1:0][RowW:0] slot_row;
  always_comb begin
    slot_row[0] = {1'b0, dma_row_i};
    for (int p = 0; p < NUM_RD; p++) begin
      slot_row[1+2*p] = {1'b0, rd_row_i[p]};
      slot_row[2+2*p] = {1'b0, rd_row_i[p]} + 1'b1;
    end
  end

  // The registered read address of every slot (shared by all banks) and which bank answers it.
  logic [NumSlots-1:0][IdxW-1:0]  slot_idx_q;
  logic [NumSlots-1:0][BankW-1:0] slot_bank_q;
  logic [NumSlots-1:0]            slot_zero_q;  // row past the end
  always_ff @(posedge clk_i) begin
    for (int s = 0; s < NumSlots; s++) begin
      slot_zero_q[s] <= slot_row[s] >= (RowW + 1)'(SP_ROWS);
      slot_idx_q[s]  <= index_of(slot_row[s]);
      slot_bank_q[s] <= bank_of(slot_row[s]);
    end
  end

  // The banks, one memory each ([bank][index]), so each read slot reads its one bank directly.
  logic [RowBits-1:0] mem[SP_BANKS][BankRows];

  // Writes this cycle: the DMA row, then each compute port's row and row + 1.
  always_ff @(posedge clk_i) begin
    if (dma_we_i) mem[bank_of({1'b0, dma_row_i})][index_of({1'b0, dma_row_i})] <= dma_wdata_i;
    for (int w = 0; w < NUM_WR; w++) begin
      // Row r + h takes the mask's h-th half, h = 0, 1 (row r + 1 ignored past the end).
      for (int h = 0; h < 2; h++) begin
        logic [RowW:0] row;
        logic [Lanes-1:0] mask;
        row = {1'b0, wr_row_i[w]} + (RowW + 1)'(h);
        mask = wmask_i[w][h*Lanes +: Lanes];
        // A whole row in one write (the common case: the simulator then skips the element loop).
        if (row < (RowW + 1)'(SP_ROWS)) begin
          if (&mask) mem[bank_of(row)][index_of(row)] <= wr_data_i[w][h*RowBits +: RowBits];
          else if (|mask)
            for (int e = 0; e < Lanes; e++)
              if (mask[e]) mem[bank_of(row)][index_of(row)][16*e +: 16] <= wr_data_i[w][h*RowBits+16*e +: 16];
        end
      end
    end
  end

  // Each slot takes the answer of its bank.
  logic [NumSlots-1:0][RowBits-1:0] slot_data;
  always_comb begin
    for (int s = 0; s < NumSlots; s++) slot_data[s] = slot_zero_q[s] ? '0 : mem[slot_bank_q[s]][slot_idx_q[s]];
  end

  assign dma_rdata_o = slot_data[0];
  for (genvar p = 0; p < NUM_RD; p++) begin : g_rd
    assign rd_data_o[p] = {slot_data[2+2*p], slot_data[1+2*p]};
  end

endmodule

// Testbench top for the DMA: dram + scratchpad + dma, with the clock and reset made here so that
// Python only ever waits on events. Everything per cycle happens in SystemVerilog:
//
//   descriptor   Python sets d_*_i and toggles go_i; the programmer below writes the eight registers
//                through the DMA's register port (one per cycle), waits while busy_o, strobes start and
//                pulses prog_ack_o. done_valid_o / done_ticket_o are the DMA's completion.
//   backdoor     Python toggles bd_go_i with bd_write_i, bd_row_i, bd_rows_i: rows move between the
//                scratchpad and the testbench staging buffer of dram_model.cpp (row r at byte
//                r * ROW_BYTES; Python views it with NumPy), through the scratchpad's compute ports
//                (two rows per cycle per port), so they never collide with the DMA port. bd_done_o
//                pulses at the end; bd_err_o latches if a read of row + 1 past the end was not zero.
//   fetch        Python toggles f_go_i with f_addr_i: a 32-byte read on DRAM port 1 (the command
//                fetch port); f_done_o pulses with the bytes in f_data_o.
module dma_tb #(
    parameter int ROW_BYTES = 16,
    parameter int SP_ROWS = 4096,
    parameter int SP_BANKS = 8,
    parameter int BEAT_BYTES = 16,
    parameter DRAM_BYTES = 64'd16777216,  // untyped: -G passes a 32-bit number
    parameter int DRAM_LATENCY = 20,
    localparam int NumRd = 3
) (
    output logic        rst_done_o,
    output logic [31:0] cycle_o,
    // descriptor programming
    input  logic        go_i,
    input  logic [31:0] d_direction_i,
    input  logic [31:0] d_sp_addr_i,
    input  logic [31:0] d_dram_addr_i,
    input  logic [31:0] d_rows_i,
    input  logic [31:0] d_cols_i,
    input  logic [31:0] d_row_stride_i,
    input  logic [31:0] d_col_stride_i,
    input  logic [31:0] d_ticket_i,
    output logic        prog_ack_o,
    output logic [31:0] start_cycle_o,
    output logic        busy_o,
    output logic        idle_o,
    output logic        done_valid_o,
    output logic [ 7:0] done_ticket_o,
    // scratchpad backdoor
    input  logic        bd_go_i,
    input  logic        bd_write_i,
    input  logic [31:0] bd_row_i,
    input  logic [31:0] bd_rows_i,
    output logic        bd_done_o,
    output logic        bd_err_o,
    // command-fetch port
    input  logic         f_go_i,
    input  logic [ 31:0] f_addr_i,
    output logic         f_done_o,
    output logic [255:0] f_data_o
);

  import "DPI-C" function void atalla_tb_buf_dpi_init(input longint bytes);
  import "DPI-C" function void atalla_tb_buf_dpi_read(input longint addr, input int nbytes,
                                                      output bit [511:0] beat);
  import "DPI-C" function void atalla_tb_buf_dpi_write(input longint addr, input bit [511:0] beat,
                                                       input longint strb);

  localparam int RowBits = 8 * ROW_BYTES;
  localparam int BeatBits = 8 * BEAT_BYTES;
  localparam int RowW = $clog2(SP_ROWS);

  logic clk;
  logic rst_n;
  initial begin
    clk = 1'b0;
    forever #5 clk = ~clk;
  end
  initial begin
    rst_n = 1'b0;
    if (ROW_BYTES > 64) $fatal(1, "dma_tb: rows wider than 64 bytes do not fit the DPI beat");
    atalla_tb_buf_dpi_init(longint'(SP_ROWS) * ROW_BYTES);
    repeat (4) @(posedge clk);
    @(negedge clk) rst_n = 1'b1;
  end
  assign rst_done_o = rst_n;

  logic [31:0] cycle_q;
  always_ff @(posedge clk) cycle_q <= rst_n ? cycle_q + 1 : '0;
  assign cycle_o = cycle_q;

  // ---------------------------------------------------------------- the design
  logic                  reg_we, start;
  logic [2:0]            reg_idx;
  logic [31:0]           reg_wdata;
  logic                  p0_valid, p0_ready, p0_write, p0_rvalid, p0_wack;
  logic [31:0]           p0_addr;
  logic [15:0]           p0_len;
  logic [BeatBits-1:0]   p0_wdata, p0_rdata;
  logic [BEAT_BYTES-1:0] p0_wstrb;
  logic                  p1_valid, p1_ready, p1_rvalid, p1_rlast;
  /* verilator lint_off UNUSEDSIGNAL */
  logic                  p0_rlast;  // the DMA's requests are one beat each
  /* verilator lint_on UNUSEDSIGNAL */
  logic [31:0]           p1_addr;
  /* verilator lint_off UNUSEDSIGNAL */
  logic [BeatBits-1:0]   p1_rdata;  // a fetch is 32 bytes: a wider beat uses its low 256 bits
  /* verilator lint_on UNUSEDSIGNAL */
  logic                  sp_we, p0_rready;
  // The DMA alone on the scratchpad: always granted, so its read request is not needed.
  /* verilator lint_off UNUSEDSIGNAL */
  logic                  sp_re;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [RowW-1:0]       sp_row;
  logic [RowBits-1:0]    sp_wdata, sp_rdata;
  logic [NumRd-1:0][RowW-1:0]      rd_row;
  logic [NumRd-1:0][2*RowBits-1:0] rd_data;
  logic [1:0]            wmask;
  logic [RowW-1:0]       wr_row;
  logic [2*RowBits-1:0]  wr_data;

  dram #(
      .DRAM_BYTES(64'(DRAM_BYTES)), .DRAM_LATENCY(DRAM_LATENCY), .BEAT_BYTES(BEAT_BYTES)
  ) u_dram (
      .clk_i(clk), .rst_ni(rst_n),
      .p0_req_valid_i(p0_valid), .p0_req_ready_o(p0_ready), .p0_req_write_i(p0_write),
      .p0_req_addr_i(p0_addr), .p0_req_len_i(p0_len), .p0_req_wdata_i(p0_wdata),
      .p0_req_wstrb_i(p0_wstrb), .p0_rvalid_o(p0_rvalid), .p0_rready_i(p0_rready), .p0_rdata_o(p0_rdata),
      .p0_rlast_o(p0_rlast), .p0_wack_o(p0_wack),
      .p1_req_valid_i(p1_valid), .p1_req_ready_o(p1_ready), .p1_req_addr_i(p1_addr),
      .p1_req_len_i(16'd32), .p1_rvalid_o(p1_rvalid), .p1_rdata_o(p1_rdata), .p1_rlast_o(p1_rlast)
  );

  scratchpad #(
      .SP_ROWS(SP_ROWS), .ROW_BYTES(ROW_BYTES), .SP_BANKS(SP_BANKS), .NUM_RD(NumRd)
  ) u_sp (
      .clk_i(clk),
      .dma_we_i(sp_we), .dma_row_i(sp_row), .dma_wdata_i(sp_wdata), .dma_rdata_o(sp_rdata),
      .rd_row_i(rd_row), .rd_data_o(rd_data),
      .wmask_i({{ROW_BYTES / 2{wmask[1]}}, {ROW_BYTES / 2{wmask[0]}}}), .wr_row_i(wr_row), .wr_data_i(wr_data)
  );

  dma #(
      .ROW_BYTES(ROW_BYTES), .SP_ROWS(SP_ROWS), .BEAT_BYTES(BEAT_BYTES), .DRAM_BYTES(64'(DRAM_BYTES))
  ) u_dma (
      .clk_i(clk), .rst_ni(rst_n),
      .reg_we_i(reg_we), .reg_idx_i(reg_idx), .reg_wdata_i(reg_wdata), .start_i(start),
      .busy_o(busy_o), .idle_o(idle_o), .done_valid_o(done_valid_o), .done_ticket_o(done_ticket_o),
      .dram_req_valid_o(p0_valid), .dram_req_ready_i(p0_ready), .dram_req_write_o(p0_write),
      .dram_req_addr_o(p0_addr), .dram_req_len_o(p0_len), .dram_req_wdata_o(p0_wdata),
      .dram_req_wstrb_o(p0_wstrb), .dram_rvalid_i(p0_rvalid), .dram_rready_o(p0_rready), .dram_rdata_i(p0_rdata),
      .dram_wack_i(p0_wack),
      .sp_re_o(sp_re), .sp_we_o(sp_we), .sp_gnt_i(1'b1), .sp_row_o(sp_row), .sp_wdata_o(sp_wdata), .sp_rdata_i(sp_rdata)
  );

  // ---------------------------------------------------------------- register programmer
  logic       go_seen, prog_busy;
  logic [3:0] prog_step;  // 0..7 register writes, 8 start
  logic [7:0][31:0] args;
  assign args = {d_ticket_i, d_col_stride_i, d_row_stride_i, d_cols_i, d_rows_i, d_dram_addr_i,
                 d_sp_addr_i, d_direction_i};
  assign reg_we    = prog_busy && prog_step < 8;
  assign reg_idx   = prog_step[2:0];
  assign reg_wdata = args[prog_step[2:0]];
  assign start     = prog_busy && prog_step == 8 && !busy_o;

  always_ff @(posedge clk) begin
    prog_ack_o <= 1'b0;
    if (!rst_n) begin
      go_seen   <= go_i;
      prog_busy <= 1'b0;
      prog_step <= '0;
    end else if (!prog_busy) begin
      if (go_i != go_seen) begin
        go_seen   <= go_i;
        prog_busy <= 1'b1;
        prog_step <= '0;
      end
    end else if (prog_step < 8) begin
      prog_step <= prog_step + 1'b1;
    end else if (start) begin
      prog_busy     <= 1'b0;
      prog_ack_o    <= 1'b1;
      start_cycle_o <= cycle_q;
    end
  end

  // ---------------------------------------------------------------- scratchpad backdoor
  logic        bd_seen, bd_busy, bd_wr, bd_pend;
  logic [31:0] bd_next, bd_end, bd_pend_row;
  /* verilator lint_off UNUSEDSIGNAL */
  bit   [511:0] lo, hi;  // DPI beats; a row uses the low RowBits
  /* verilator lint_on UNUSEDSIGNAL */
  logic [1:0]           wmask_q;
  logic [RowW-1:0]      wr_row_q;
  logic [2*RowBits-1:0] wr_data_q;

  always_ff @(posedge clk) begin
    bd_done_o <= 1'b0;
    wmask_q   <= '0;
    if (!rst_n) begin
      bd_seen  <= bd_go_i;
      bd_busy  <= 1'b0;
      bd_pend  <= 1'b0;
      bd_err_o <= 1'b0;
    end else begin
      // Read data of the previous cycle's reads: NumRd ports x two rows.
      if (bd_pend) begin
        for (int p = 0; p < NumRd; p++) begin
          for (int s = 0; s < 2; s++) begin
            if (bd_pend_row + 32'(2 * p + s) < bd_end)
              atalla_tb_buf_dpi_write(64'(bd_pend_row + 32'(2 * p + s)) * ROW_BYTES,
                                      512'(rd_data[p][s*RowBits+:RowBits]), ~64'(0) >> (64 - ROW_BYTES));
            else if (s == 1 && bd_pend_row + 32'(2 * p) == SP_ROWS - 1 &&
                     rd_data[p][s*RowBits+:RowBits] != '0)
              bd_err_o <= 1'b1;  // row + 1 past the end must read as zero
          end
        end
      end
      bd_pend <= 1'b0;
      if (!bd_busy) begin
        if (bd_go_i != bd_seen) begin
          bd_seen <= bd_go_i;
          bd_busy <= 1'b1;
          bd_wr   <= bd_write_i;
          bd_next <= bd_row_i;
          bd_end  <= bd_row_i + bd_rows_i;
        end
      end else if (bd_next < bd_end) begin
        if (!bd_wr) begin
          bd_pend     <= 1'b1;
          bd_pend_row <= bd_next;
          bd_next     <= bd_next + 32'(2 * NumRd);
        end else begin
          // Backdoor writes: two rows per cycle through the compute write port, a cycle later.
          atalla_tb_buf_dpi_read(64'(bd_next) * ROW_BYTES, ROW_BYTES, lo);
          atalla_tb_buf_dpi_read(64'(bd_next + 1) * ROW_BYTES, ROW_BYTES, hi);
          wmask_q   <= {bd_next + 1 < bd_end, 1'b1};
          wr_row_q  <= RowW'(bd_next);
          wr_data_q <= {hi[RowBits-1:0], lo[RowBits-1:0]};
          bd_next   <= bd_next + 2;
        end
      end else if (!bd_pend) begin
        bd_busy   <= 1'b0;
        bd_done_o <= 1'b1;
      end
    end
  end

  assign wmask   = wmask_q;
  assign wr_row  = wr_row_q;
  assign wr_data = wr_data_q;
  always_comb begin
    for (int p = 0; p < NumRd; p++) rd_row[p] = RowW'(bd_next + 32'(2 * p));
  end

  // ---------------------------------------------------------------- command fetch on port 1
  logic        f_seen, f_wait;
  logic [31:0] f_beat;
  assign p1_valid = f_go_i != f_seen && !f_wait;
  assign p1_addr  = f_addr_i;

  always_ff @(posedge clk) begin
    f_done_o <= 1'b0;
    if (!rst_n) begin
      f_seen <= f_go_i;
      f_wait <= 1'b0;
    end else begin
      if (p1_valid && p1_ready) begin
        f_seen   <= f_go_i;
        f_wait   <= 1'b1;
        f_beat   <= '0;
        f_data_o <= '0;
      end
      if (p1_rvalid) begin
        f_data_o <= f_data_o | (256'(p1_rdata) << (f_beat * BeatBits));
        f_beat   <= f_beat + 1;
        if (p1_rlast) begin
          f_wait   <= 1'b0;
          f_done_o <= 1'b1;
        end
      end
    end
  end

endmodule

// DRAM timing model over the C++ storage of rtl/dram_model.cpp (DPI-C: this models the off-chip part).
//
// One channel, two request ports with fixed priority (port 1 wins: command fetch is a line now and
// then, and the command processor waits for it), one beat of BEAT_BYTES per cycle
// shared by both ports, requests served strictly in the order they were accepted.
//
//   port 0 (DMA)            reads and writes
//   port 1 (command fetch)  reads only
//
// Request (valid/ready; a request moves when p*_req_valid_i && p*_req_ready_o):
//   read : addr (bytes, any alignment), len (bytes, 1..65535). The response is ceil(len / BEAT_BYTES)
//          beats (a len of 0 gives one beat of zeros); beat k holds bytes addr + k*BEAT_BYTES + i in byte
//          lane i, and the lanes past the end of the request read as zero. The first beat comes
//          DRAM_LATENCY cycles after the request is accepted (p*_rvalid_o high for one cycle per beat,
//          p*_rlast_o with the final one); more beats, and later requests, follow one per cycle.
//          Port 0 may hold a beat back (p0_rready_i low while p0_rvalid_o is high: the DMA waits for
//          the scratchpad): the beat stays on the outputs and the channel serves nothing else until it
//          is taken. Port 1 must take every beat it asked for.
//   write: (port 0 only) one beat per request: wdata byte lane i goes to addr + i where wstrb[i] is set;
//          len is ignored. The write happens DRAM_LATENCY cycles after it is accepted and
//          p0_wack_o pulses in that cycle; from then on reads see it. Reads and writes never pass each
//          other, so a read accepted after a write returns the written data.
// Acceptance: a port is ready while the request queue (QUEUE_DEPTH entries) has room; port 0 only
// when port 1 is not requesting. With one-beat requests a queue at least DRAM_LATENCY deep keeps the
// channel at one beat per cycle.
//
// Addresses outside DRAM_BYTES read zeros and drop writes (the C++ model warns once).
module dram #(
    parameter longint DRAM_BYTES = 64'd16777216,
    parameter int DRAM_LATENCY = 20,  // cycles from an accepted request to its first beat, >= 2
    parameter int BEAT_BYTES = 16,  // bytes per beat (dma_bytes_per_cycle), 1..64
    parameter int QUEUE_DEPTH = 64,  // accepted requests not yet served, a power of two
    localparam int BeatBits = 8 * BEAT_BYTES
) (
    input  logic                  clk_i,
    input  logic                  rst_ni,
    // port 0: DMA
    input  logic                  p0_req_valid_i,
    output logic                  p0_req_ready_o,
    input  logic                  p0_req_write_i,
    input  logic [          31:0] p0_req_addr_i,
    input  logic [          15:0] p0_req_len_i,
    input  logic [  BeatBits-1:0] p0_req_wdata_i,
    input  logic [BEAT_BYTES-1:0] p0_req_wstrb_i,
    output logic                  p0_rvalid_o,
    input  logic                  p0_rready_i,
    output logic [  BeatBits-1:0] p0_rdata_o,
    output logic                  p0_rlast_o,
    output logic                  p0_wack_o,
    // port 1: command fetch (reads only)
    input  logic                  p1_req_valid_i,
    output logic                  p1_req_ready_o,
    input  logic [          31:0] p1_req_addr_i,
    input  logic [          15:0] p1_req_len_i,
    output logic                  p1_rvalid_o,
    output logic [  BeatBits-1:0] p1_rdata_o,
    output logic                  p1_rlast_o
);

  import "DPI-C" function void atalla_dram_dpi_init(input longint bytes);
  import "DPI-C" function void atalla_dram_dpi_read(input longint addr, input int nbytes,
                                                    output bit [511:0] beat);
  import "DPI-C" function void atalla_dram_dpi_write(input longint addr, input bit [511:0] beat,
                                                     input longint strb);

  localparam int PtrW = $clog2(QUEUE_DEPTH);

  typedef struct packed {
    logic                  port;   // 0 or 1: where the response goes
    logic                  write;
    logic [31:0]           addr;
    logic [15:0]           len;
    logic [BeatBits-1:0]   wdata;
    logic [BEAT_BYTES-1:0] wstrb;
    logic [31:0]           stamp;  // cycle of acceptance
  } req_t;

  initial begin
    if (DRAM_LATENCY < 2) $fatal(1, "dram: DRAM_LATENCY must be >= 2");
    if (BEAT_BYTES < 1 || BEAT_BYTES > 64) $fatal(1, "dram: BEAT_BYTES must be 1..64");
    if (QUEUE_DEPTH != (1 << PtrW)) $fatal(1, "dram: QUEUE_DEPTH must be a power of two");
    atalla_dram_dpi_init(DRAM_BYTES);
  end

  req_t            queue_q[QUEUE_DEPTH];
  logic [PtrW-1:0] wr_ptr_q, rd_ptr_q;
  logic [  PtrW:0] count_q;
  logic [    31:0] cycle_q;
  logic [    15:0] served_q;  // bytes of the head request already returned

  // Acceptance: port 1 first.
  logic not_full, push;
  req_t incoming;
  assign not_full       = count_q != (PtrW + 1)'(QUEUE_DEPTH);
  assign p0_req_ready_o = not_full && !p1_req_valid_i;
  assign p1_req_ready_o = not_full;
  assign push           = not_full && (p0_req_valid_i || p1_req_valid_i);

  always_comb begin
    if (p1_req_valid_i) begin
      incoming = '{port: 1'b1, write: 1'b0, addr: p1_req_addr_i, len: p1_req_len_i, wdata: '0,
                   wstrb: '0, stamp: cycle_q};
    end else begin
      incoming = '{port: 1'b0, write: p0_req_write_i, addr: p0_req_addr_i, len: p0_req_len_i,
                   wdata: p0_req_wdata_i, wstrb: p0_req_wstrb_i, stamp: cycle_q};
    end
  end

  // Service: the head, once DRAM_LATENCY - 1 cycles old, yields one beat per cycle (registered, so
  // the beat is visible DRAM_LATENCY cycles after acceptance).
  req_t        head;
  logic        serve, last, pop;
  logic [15:0] remaining;
  logic        hold;  // port 0's beat on the outputs is not taken yet
  logic [31:0] beat_addr;
  assign head      = queue_q[rd_ptr_q];
  assign serve     = count_q != 0 && (cycle_q - head.stamp) >= 32'(DRAM_LATENCY - 1) && !hold;
  assign remaining = head.len - served_q;
  assign last      = head.write || remaining <= 16'(BEAT_BYTES);
  assign pop       = serve && last;
  assign beat_addr = head.addr + 32'(served_q);

  logic                rvalid_q[2];
  assign hold = rvalid_q[0] && !p0_rready_i;
  logic                rlast_q;
  logic                wack_q;
  logic [BeatBits-1:0] rdata_q;
  // The DPI beat is always 64 bytes; a narrower channel uses its low BEAT_BYTES.
  /* verilator lint_off UNUSEDSIGNAL */
  bit   [       511:0] beat;
  /* verilator lint_on UNUSEDSIGNAL */

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      wr_ptr_q <= '0;
      rd_ptr_q <= '0;
      count_q  <= '0;
      cycle_q  <= '0;
      served_q <= '0;
      rvalid_q <= '{1'b0, 1'b0};
      rlast_q  <= 1'b0;
      wack_q   <= 1'b0;
    end else begin
      cycle_q  <= cycle_q + 1;
      wack_q   <= 1'b0;
      if (!hold) begin
        rvalid_q <= '{1'b0, 1'b0};
        rlast_q  <= 1'b0;
      end
      if (push) begin
        queue_q[wr_ptr_q] <= incoming;
        wr_ptr_q          <= wr_ptr_q + 1;
      end
      if (serve) begin
        if (head.write) begin
          atalla_dram_dpi_write({32'b0, beat_addr}, 512'(head.wdata), 64'(head.wstrb));
          wack_q <= 1'b1;  // only port 0 writes
        end else begin
          atalla_dram_dpi_read({32'b0, beat_addr}, last ? 32'(remaining) : BEAT_BYTES, beat);
          rdata_q                <= beat[BeatBits-1:0];
          rvalid_q[head.port]    <= 1'b1;
          rlast_q                <= last;
        end
        served_q <= last ? '0 : served_q + 16'(BEAT_BYTES);
      end
      if (pop) rd_ptr_q <= rd_ptr_q + 1;
      count_q <= count_q + (PtrW + 1)'(push) - (PtrW + 1)'(pop);
    end
  end

  assign p0_rvalid_o = rvalid_q[0];
  assign p1_rvalid_o = rvalid_q[1];
  assign p0_rdata_o  = rdata_q;
  assign p1_rdata_o  = rdata_q;
  assign p0_rlast_o  = rlast_q && rvalid_q[0];
  assign p1_rlast_o  = rlast_q && rvalid_q[1];
  assign p0_wack_o   = wack_q;

endmodule

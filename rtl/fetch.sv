// Command fetch: reads the program ahead, in lines of LINE_COMMANDS commands, into LINES line
// buffers, and hands the command processor one command per request.
//
// A program is linear (docs/isa.md), so from start_i on the unit streams lines from prog_base_i,
// with up to LINES requests in flight, while buffers are free. A command costs the command processor
// no DRAM latency once the stream is ahead of it; without the read-ahead every command paid a full
// DRAM round trip, which short GEMM commands cannot hide. The stream stops at the end of the DRAM.
//
// Command processor side: req_i with addr_i asks for the command at addr_i; valid_o pulses with
// data_o the cycle after it is taken. Commands are served in stream order only: addr_i must be the
// next command's address, which it always is in a linear program (otherwise no answer comes, and
// the testbench's watchdog names the command).
module fetch #(
  parameter longint DRAM_BYTES = 64'd16777216,
  parameter int     BEAT_BYTES = 16,
  parameter int     COMMAND_BYTES = 32,
  parameter int     LINE_COMMANDS = 4,
  parameter int     LINES = 4,  // a power of two
  localparam int    BeatBits = 8 * BEAT_BYTES
) (
  input  logic                       clk_i,
  input  logic                       rst_ni,
  input  logic                       start_i,
  input  logic [31:0]                prog_base_i,
  // command processor
  input  logic                       req_i,
  input  logic [31:0]                addr_i,
  output logic                       valid_o,
  output logic [8*COMMAND_BYTES-1:0] data_o,
  // DRAM read port
  output logic                       dram_req_valid_o,
  input  logic                       dram_req_ready_i,
  output logic [31:0]                dram_req_addr_o,
  output logic [15:0]                dram_req_len_o,
  input  logic                       dram_rvalid_i,
  input  logic [BeatBits-1:0]        dram_rdata_i,
  input  logic                       dram_rlast_i
);
  localparam int LineBytes = COMMAND_BYTES * LINE_COMMANDS;
  localparam int Beats = (LineBytes + BEAT_BYTES - 1) / BEAT_BYTES;
  localparam int LW = $clog2(LINES);
  localparam int CW = LINE_COMMANDS > 1 ? $clog2(LINE_COMMANDS) : 1;

  initial begin
    if (LineBytes % BEAT_BYTES != 0 && BEAT_BYTES % LineBytes != 0) $fatal(1, "fetch: lines and beats must nest");
  end

  logic [Beats*BeatBits-1:0] line_q[LINES];
  // Line pointers with a wrap bit: requested, filled (all beats in), consumed.
  logic [LW:0]   req_ptr, fill_ptr, head_ptr;
  logic [$clog2(Beats + 1)-1:0] beat;
  logic [CW-1:0] cmd;  // next command within the head line
  logic          streaming;
  logic [63:0]   next_addr;  // of the next line to request
  logic [31:0]   head_addr;  // of the next command to hand over

  logic room, take;
  assign room             = (req_ptr - head_ptr) < (LW + 1)'(LINES);
  assign dram_req_valid_o = streaming && room && next_addr < 64'(DRAM_BYTES);
  assign dram_req_addr_o  = next_addr[31:0];
  assign dram_req_len_o   = 16'((64'(DRAM_BYTES) - next_addr < 64'(LineBytes)) ? 64'(DRAM_BYTES) - next_addr
                                                                                 : 64'(LineBytes));
  assign take             = req_i && !valid_o && head_ptr != fill_ptr && addr_i == head_addr;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      streaming <= 1'b0;
      req_ptr   <= '0;
      fill_ptr  <= '0;
      head_ptr  <= '0;
      beat      <= '0;
      cmd       <= '0;
      valid_o   <= 1'b0;
    end else begin
      valid_o <= take;
      if (start_i) begin
        streaming <= 1'b1;
        next_addr <= 64'(prog_base_i);
        head_addr <= prog_base_i;
      end
      if (dram_req_valid_o && dram_req_ready_i) begin
        req_ptr   <= req_ptr + 1'b1;
        next_addr <= next_addr + 64'(LineBytes);
      end
      if (dram_rvalid_i) begin
        line_q[fill_ptr[LW-1:0]][32'(beat)*BeatBits +: BeatBits] <= dram_rdata_i;
        beat <= dram_rlast_i ? '0 : beat + 1'b1;
        if (dram_rlast_i) fill_ptr <= fill_ptr + 1'b1;
      end
      if (take) begin
        data_o    <= line_q[head_ptr[LW-1:0]][32'(cmd)*8*COMMAND_BYTES +: 8*COMMAND_BYTES];
        head_addr <= head_addr + 32'(COMMAND_BYTES);
        cmd       <= (32'(cmd) == LINE_COMMANDS - 1) ? '0 : cmd + 1'b1;
        if (32'(cmd) == LINE_COMMANDS - 1) head_ptr <= head_ptr + 1'b1;
      end
    end
  end
endmodule

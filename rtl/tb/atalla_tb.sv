// Co-simulation testbench around atalla_top: clock, reset, the firmware's side of the mailbox
// and of the DMA register port, a cycle watchdog, and an event recorder for the trace.
//
// Python (cocotb_tests/tb_cosim.py) wakes only on the mailbox doorbell and on the end of the
// run. Everything per cycle stays here:
// - it answers a call by writing the response and flipping fw_resp_toggle_i; this bench rings the
//   response doorbell fw_resp_delay_i cycles later (the firmware's service latency);
// - it programs the DMA engine by writing a descriptor and flipping fw_dma_toggle_i;
// - the watchdog raises watchdog_o when no command completes for WATCHDOG_CYCLES cycles;
// - every command start, DMA completion and mailbox request/response is recorded with its cycle
//   through DPI-C (trace_recorder.cpp) for the Perfetto timeline.
module atalla_tb
  import atalla_pkg::*;
#(
  parameter int     ARRAY_ROWS = 8,
  parameter int     ARRAY_COLS = 8,
  parameter int     SP_BYTES = 65536,
  parameter int     SP_ROW_BYTES = 16,
  parameter int     SP_BANKS = 8,
  parameter longint DRAM_BYTES = 64'd16777216,
  parameter int     DRAM_LATENCY = 20,
  parameter int     DMA_BYTES_PER_CYCLE = 16,
  parameter int     NUM_HANDLES = 64,
  parameter int     NUM_TICKETS = 16,
  parameter int     WATCHDOG_CYCLES = 1000000
);
  import "DPI-C" function void trace_event(input longint cycle, input int kind, input int a, input int b);

  logic clk_i = 1'b0;
  always #5 clk_i = ~clk_i;
  logic rst_ni = 1'b0;
  initial begin
    repeat (4) @(posedge clk_i);
    rst_ni = 1'b1;
  end

  // Driven by the cocotb test.
  logic        start_i = 1'b0;
  logic [31:0] prog_base_i = '0;
  logic        fw_resp_toggle_i = 1'b0;
  logic [31:0] fw_resp_status_i = '0, fw_resp_value_i = '0, fw_resp_delay_i = '0;
  logic        fw_dma_toggle_i = 1'b0;
  logic [DMA_ARG_COUNT-1:0][31:0] fw_dma_desc_i = '0;

  logic                              done_o, fault_o, mb_doorbell_o, fw_dma_idle_o;
  fault_e                            fault_code_o;
  status_e                           fault_status_o;
  logic [31:0]                       cmd_index_o;
  opcode_e                           opcode_o;
  mailbox_call_e                     mb_call_o;
  logic [MAILBOX_MAX_ARGS-1:0][31:0] mb_args_o;
  logic [31:0]                       cycles_o, fetch_cycles_o, gemm_cycles_o, vec_cycles_o, mailbox_cycles_o,
                                     wait_cycles_o, interlock_cycles_o;
  logic [NUM_OPCODES-1:0][31:0]      op_count_o;
  logic [63:0]                       mac_count_o, array_busy_cycles_o;

  // The firmware's answer, rung after its service latency.
  logic        resp_seen, resp_pending, resp_doorbell;
  logic [31:0] resp_countdown;
  always_ff @(posedge clk_i) begin
    resp_doorbell <= 1'b0;
    if (!rst_ni) begin
      resp_seen    <= 1'b0;
      resp_pending <= 1'b0;
    end else if (fw_resp_toggle_i != resp_seen) begin
      resp_seen      <= fw_resp_toggle_i;
      resp_pending   <= 1'b1;
      resp_countdown <= fw_resp_delay_i;
    end else if (resp_pending) begin
      if (resp_countdown <= 1) begin
        resp_pending  <= 1'b0;
        resp_doorbell <= 1'b1;
      end else resp_countdown <= resp_countdown - 1;
    end
  end

  logic dma_seen, dma_start;
  always_ff @(posedge clk_i) begin
    if (!rst_ni) dma_seen <= 1'b0;
    else dma_seen <= fw_dma_toggle_i;
  end
  assign dma_start = rst_ni && fw_dma_toggle_i != dma_seen;

  atalla_top #(
    .ARRAY_ROWS(ARRAY_ROWS), .ARRAY_COLS(ARRAY_COLS), .SP_BYTES(SP_BYTES), .SP_ROW_BYTES(SP_ROW_BYTES),
    .SP_BANKS(SP_BANKS), .DRAM_BYTES(DRAM_BYTES), .DRAM_LATENCY(DRAM_LATENCY),
    .DMA_BYTES_PER_CYCLE(DMA_BYTES_PER_CYCLE), .NUM_HANDLES(NUM_HANDLES), .NUM_TICKETS(NUM_TICKETS)
  ) dut (
    .clk_i, .rst_ni, .start_i, .prog_base_i, .done_o, .fault_o, .fault_code_o, .fault_status_o, .cmd_index_o,
    .opcode_o,
    .mb_doorbell_o, .mb_call_o, .mb_args_o, .mb_resp_doorbell_i(resp_doorbell),
    .mb_resp_status_i(status_e'(fw_resp_status_i)), .mb_resp_value_i(fw_resp_value_i),
    .fw_dma_start_i(dma_start), .fw_dma_desc_i, .fw_dma_idle_o,
    .cycles_o, .fetch_cycles_o, .gemm_cycles_o, .vec_cycles_o, .mailbox_cycles_o, .wait_cycles_o,
    .interlock_cycles_o, .op_count_o,
    .mac_count_o, .array_busy_cycles_o
  );

  // -- watchdog and trace --------------------------------------------------------------------
  longint      cycle = 0;
  logic [31:0] last_index = '1;
  logic        last_doorbell = 1'b0, ended = 1'b0;
  int          idle_cycles = 0;
  logic        watchdog_o = 1'b0;
  always_ff @(posedge clk_i) begin
    if (dut.u_cmdproc.running) begin
      cycle <= cycle + 1;
      if (dut.u_cmdproc.exec && cmd_index_o != last_index) begin  // a new command starts
        trace_event(cycle, int'(TRACE_COMMAND), int'(cmd_index_o), int'(opcode_o));
        last_index  <= cmd_index_o;
        idle_cycles <= 0;
      end else begin
        idle_cycles <= idle_cycles + 1;
        if (idle_cycles >= WATCHDOG_CYCLES) watchdog_o <= 1'b1;
      end
      if (dut.dma_done) trace_event(cycle, int'(TRACE_DMA_DONE), int'(dut.dma_done_ticket), 0);
      if (mb_doorbell_o && !last_doorbell) trace_event(cycle, int'(TRACE_MB_REQUEST), int'(mb_call_o), 0);
      if (!mb_doorbell_o && last_doorbell) trace_event(cycle, int'(TRACE_MB_RESPONSE), int'(fw_resp_status_i), 0);
      last_doorbell <= mb_doorbell_o;
    end
    if (rst_ni && (done_o || fault_o) && !ended) begin
      trace_event(cycle, int'(TRACE_END), int'(cmd_index_o), int'(fault_o));
      ended <= 1'b1;
    end
  end
endmodule

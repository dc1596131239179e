// Co-simulation testbench around atalla_top: clock, reset, the firmware's side of the mailbox
// and of the DMA register port, a cycle watchdog, and an event recorder for the trace.
//
// Python (runtime/rtl/tb_cosim.py) waits for two signals only, the end of the run and
// fw_request_toggle; the firmware is reached through the firmware port (firmware_port.cpp), C
// memory behind DPI-C, not through signals:
// - once a request can be served (a DMA call also needs the DMA register port idle) this bench
//   hands it to the port and flips fw_request_toggle; Python wakes on the flip, after this time
//   slot's evaluation, takes the request from the port and serves it. (The DPI call itself may
//   run on any of Verilator's threads, so it must not call into Python: a worker thread would
//   wait for the interpreter lock the simulation's main thread holds.)
// - the firmware posts its answer and DMA descriptors there; this bench takes them at the next
//   falling edge, rings the response doorbell the answer's service latency later and starts the
//   DMA engine's register port at the next rising edge;
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
  parameter int     BANK_RD_PORTS = 2,
  parameter int     BANK_WR_PORTS = 1,
  parameter longint DRAM_BYTES = 64'd16777216,
  parameter int     DRAM_LATENCY = 20,
  parameter int     DMA_BYTES_PER_CYCLE = 16,
  parameter int     NUM_HANDLES = 64,
  parameter int     NUM_TICKETS = 16,
  parameter int     DIV_LATENCY = 1,
  parameter int     REDUCE_LATENCY = 1,
  parameter int     WATCHDOG_CYCLES = 1000000
);
  import "DPI-C" function void trace_event(input longint cycle, input int kind, input int a, input int b);
  import "DPI-C" function void fw_port_request(input int call, input bit [MAILBOX_MAX_ARGS*32-1:0] args,
                                               input int command, input longint cycle);
  import "DPI-C" function bit fw_port_take_answer(output int status, output int value, output int delay);
  import "DPI-C" function bit fw_port_take_dma(output bit [DMA_ARG_COUNT*32-1:0] desc);

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
  logic [31:0]                       gemm_bank_stall_cycles_o, vec_bank_stall_cycles_o, dma_bank_stall_cycles_o;

  longint cycle = 0;  // cycles the program has run: the clock of the trace and of the firmware

  // The request in the mailbox goes to the firmware once it can be served, and once.
  // fw_failed: driven by Python when the firmware raised (the run ends; tb_cosim reports it).
  logic fw_served = 1'b0, fw_failed = 1'b0, fw_request_toggle = 1'b0, fw_ready;
  assign fw_ready = mb_doorbell_o && !fw_served && (mb_call_o != CALL_DMA || fw_dma_idle_o);
  always @(posedge fw_ready) begin
    fw_port_request(int'(mb_call_o), mb_args_o, int'(cmd_index_o), cycle);
    fw_request_toggle = !fw_request_toggle;
  end

  // What the firmware posted, taken half a cycle before the design samples it.
  logic                           fw_answer = 1'b0, fw_dma_start = 1'b0;
  int                             fw_answer_status = 0, fw_answer_value = 0, fw_answer_delay = 0;
  logic [DMA_ARG_COUNT-1:0][31:0] fw_dma_desc = '0;
  always @(negedge clk_i) begin
    fw_answer    = fw_port_take_answer(fw_answer_status, fw_answer_value, fw_answer_delay);
    fw_dma_start = fw_port_take_dma(fw_dma_desc) && rst_ni;
    fw_served    = mb_doorbell_o && (fw_served || fw_answer);  // until the doorbell drops
  end

  // The firmware's answer, rung after its service latency.
  logic        resp_pending, resp_doorbell;
  logic [31:0] resp_countdown;
  always_ff @(posedge clk_i) begin
    resp_doorbell <= 1'b0;
    if (!rst_ni) begin
      resp_pending <= 1'b0;
    end else if (fw_answer) begin
      resp_pending   <= 1'b1;
      resp_countdown <= fw_answer_delay;
    end else if (resp_pending) begin
      if (resp_countdown <= 1) begin
        resp_pending  <= 1'b0;
        resp_doorbell <= 1'b1;
      end else resp_countdown <= resp_countdown - 1;
    end
  end

  atalla_top #(
    .ARRAY_ROWS(ARRAY_ROWS), .ARRAY_COLS(ARRAY_COLS), .SP_BYTES(SP_BYTES), .SP_ROW_BYTES(SP_ROW_BYTES),
    .SP_BANKS(SP_BANKS), .BANK_RD_PORTS(BANK_RD_PORTS), .BANK_WR_PORTS(BANK_WR_PORTS), .DRAM_BYTES(DRAM_BYTES), .DRAM_LATENCY(DRAM_LATENCY),
    .DMA_BYTES_PER_CYCLE(DMA_BYTES_PER_CYCLE), .NUM_HANDLES(NUM_HANDLES), .NUM_TICKETS(NUM_TICKETS),
    .DIV_LATENCY(DIV_LATENCY), .REDUCE_LATENCY(REDUCE_LATENCY)
  ) dut (
    .clk_i, .rst_ni, .start_i, .prog_base_i, .done_o, .fault_o, .fault_code_o, .fault_status_o, .cmd_index_o,
    .opcode_o,
    .mb_doorbell_o, .mb_call_o, .mb_args_o, .mb_resp_doorbell_i(resp_doorbell),
    .mb_resp_status_i(status_e'(fw_answer_status)), .mb_resp_value_i(fw_answer_value),
    .fw_dma_start_i(fw_dma_start), .fw_dma_desc_i(fw_dma_desc), .fw_dma_idle_o,
    .cycles_o, .fetch_cycles_o, .gemm_cycles_o, .vec_cycles_o, .mailbox_cycles_o, .wait_cycles_o,
    .interlock_cycles_o, .op_count_o,
    .mac_count_o, .array_busy_cycles_o, .gemm_bank_stall_cycles_o, .vec_bank_stall_cycles_o, .dma_bank_stall_cycles_o
  );

  // -- watchdog and trace --------------------------------------------------------------------
  logic [31:0] last_index = '1;
  logic        last_doorbell = 1'b0, ended = 1'b0;
  int          idle_cycles = 0;
  logic        watchdog_o = 1'b0;
  logic        ended_o;
  // Python waits on this and fw_request_toggle only (each signal waited on costs every time slot).
  assign ended_o = done_o || fault_o || watchdog_o || fw_failed;
  // A reset starts the bench over too: runtime/verify runs many programs in one simulation.
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      cycle         <= 0;
      last_index    <= '1;
      idle_cycles   <= 0;
      watchdog_o    <= 1'b0;
      last_doorbell <= 1'b0;
      ended         <= 1'b0;
    end else if (dut.u_cmdproc.running) begin
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
      if (!mb_doorbell_o && last_doorbell) trace_event(cycle, int'(TRACE_MB_RESPONSE), fw_answer_status, 0);
      last_doorbell <= mb_doorbell_o;
    end
    if (rst_ni && (done_o || fault_o) && !ended) begin
      trace_event(cycle, int'(TRACE_END), int'(cmd_index_o), int'(fault_o));
      ended <= 1'b1;
    end
  end
endmodule

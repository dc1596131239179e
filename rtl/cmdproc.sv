// Command processor: fetches the program from DRAM, decodes each command, keeps the handle
// table (handle -> scratchpad address) and the DMA tickets in flight, dispatches to the GEMM
// unit, the vector unit and the mailbox, and counts where the cycles go.
//
// Commands take effect in order (docs/isa.md, "Ordering"). A GEMM is pushed to the GEMM unit's
// queue and the next command follows at once; a command that would touch rows a queued GEMM has
// yet to read or write waits (the unit's hazard outputs), and VEC, FREE, HOST and END wait for
// the queue to drain. A DMA call is posted: the request goes into the mailbox queue and the
// transfer runs on its own until the WAIT on its ticket; its answer, checked when it comes,
// faults the program at the DMA's index if the firmware refused it. ALLOC, FREE and HOST wait
// for their answer.
module cmdproc
  import atalla_pkg::*;
#(
  parameter int ROW_BYTES = 16,
  parameter int ROW_ADDR_BITS = 12,
  parameter int NUM_HANDLES = 64,
  parameter int NUM_TICKETS = 16
) (
  input  logic                              clk_i,
  input  logic                              rst_ni,
  // control
  input  logic                              start_i,
  input  logic [31:0]                       prog_base_i,
  output logic                              done_o,
  output logic                              fault_o,
  output fault_e                            fault_code_o,
  output status_e                           fault_status_o,   // with FAULT_FIRMWARE
  output logic [31:0]                       cmd_index_o,      // the command executing, or that faulted
  output opcode_e                           opcode_o,
  // command fetch (a 32-byte read from DRAM)
  output logic                              fetch_req_o,
  output logic [31:0]                       fetch_addr_o,
  input  logic                              fetch_valid_i,
  input  logic [COMMAND_WORDS-1:0][31:0]    fetch_data_i,
  // mailbox (a queue: requests are answered in order, each with the tag it was posted with)
  output logic                              mb_req_o,
  output mailbox_call_e                     mb_call_o,
  output logic [MAILBOX_MAX_ARGS-1:0][31:0] mb_args_o,
  output logic [31:0]                       mb_tag_o,         // the command index
  input  logic                              mb_full_i,
  input  logic                              mb_empty_i,       // nothing queued or being served
  input  logic                              mb_resp_valid_i,
  input  status_e                           mb_resp_status_i,
  input  logic [31:0]                       mb_resp_value_i,
  input  logic [31:0]                       mb_resp_tag_i,
  // DMA completion
  input  logic                              dma_done_i,
  input  logic [$clog2(NUM_TICKETS)-1:0]   dma_done_ticket_i,
  // GEMM unit: a push queues the command on the fields
  output logic                              gemm_push_o,
  output logic [ROW_ADDR_BITS-1:0]          gemm_a_row_o,
  output logic [7:0]                        gemm_a_step_o,
  output logic [ROW_ADDR_BITS-1:0]          gemm_b_row_o,
  output logic [ROW_ADDR_BITS-1:0]          gemm_c_row_o,
  output logic [ROW_ADDR_BITS-1:0]          gemm_d_row_o,
  output logic [31:0]                       gemm_m_o,
  output logic [31:0]                       gemm_k_o,
  output logic [31:0]                       gemm_n_o,
  output logic                              gemm_accumulate_o,
  output logic                              gemm_c_bf16_o,
  output logic                              gemm_c_row_bcast_o,
  output logic                              gemm_d_bf16_o,
  input  logic                              gemm_ready_i,     // the queue has room
  input  logic                              gemm_busy_i,      // commands queued
  input  logic                              gemm_hazard_i,    // the GEMM on the fields reads a queued D
  output logic [31:0]                       dma_lo_o,         // the DMA command's scratchpad rows
  output logic [31:0]                       dma_hi_o,
  output logic                              dma_write_o,
  input  logic                              dma_hazard_i,     // ... touch rows a queued GEMM uses
  // vector unit (fields stable until vec_done_i)
  output logic                              vec_start_o,
  output vec_func_e                         vec_func_o,
  output logic                              vec_dst_fp32_o,
  output logic                              vec_a_fp32_o,
  output logic                              vec_b_fp32_o,
  output bmode_e                            vec_bmode_o,
  output logic [ROW_ADDR_BITS-1:0]          vec_dst_row_o,
  output logic [ROW_ADDR_BITS-1:0]          vec_a_row_o,
  output logic [31:0]                       vec_b_word_o,
  output logic [23:0]                       vec_rows_o,
  output logic [15:0]                       vec_cols_o,
  input  logic                              vec_done_i,
  // performance counters
  output logic [31:0]                       cycles_o,
  output logic [31:0]                       fetch_cycles_o,
  output logic [31:0]                       gemm_cycles_o,
  output logic [31:0]                       vec_cycles_o,
  output logic [31:0]                       mailbox_cycles_o,
  output logic [31:0]                       wait_cycles_o,
  output logic [31:0]                       interlock_cycles_o,  // waiting for the GEMM queue
  output logic [NUM_OPCODES-1:0][31:0]      op_count_o
);
  typedef enum logic [2:0] {S_IDLE, S_FETCH, S_EXEC, S_MAILBOX, S_UNIT, S_TICKET, S_DONE, S_FAULT} state_e;
  localparam int HANDLE_BITS = $clog2(NUM_HANDLES);
  localparam int TICKET_BITS = $clog2(NUM_TICKETS);

  state_e                               state;
  logic [COMMAND_WORDS-1:0][31:0]       cmd;
  logic [31:0]                          pc;
  logic [NUM_HANDLES-1:0]               bound;
  logic [NUM_HANDLES-1:0][31:0]         handle_addr;
  logic [NUM_TICKETS-1:0]               in_flight;

  // -- decode ----------------------------------------------------------------------------------
  opcode_e   op;
  vec_func_e func;
  logic [FLAGS_BITS-1:0] flags;
  assign op    = opcode_e'(cmd[0][OPCODE_BITS-1:0]);
  assign func  = vec_func_e'(cmd[0][FUNC_SHIFT +: FUNC_BITS]);
  assign flags = cmd[0][FLAGS_SHIFT +: FLAGS_BITS];
  assign opcode_o = op;

  // A buffer reference is handle[31:24] | row[23:0].
  function automatic logic is_bound(logic [7:0] handle);
    return 32'(handle) < NUM_HANDLES && bound[HANDLE_BITS'(handle)];
  endfunction

  // Absolute scratchpad row of a buffer reference: the buffer's first row plus the offset.
  function automatic logic [ROW_ADDR_BITS-1:0] row_of(logic [31:0] ref_word);
    return ROW_ADDR_BITS'(handle_addr[HANDLE_BITS'(ref_word[31:REF_HANDLE_SHIFT])] / ROW_BYTES)
         + ROW_ADDR_BITS'(ref_word[REF_HANDLE_SHIFT-1:0]);
  endfunction

  bmode_e bmode;
  logic   b_is_ref;
  assign bmode    = bmode_e'((flags & BMODE_MASK) >> BMODE_SHIFT);
  assign b_is_ref = bmode != BMODE_SCALAR && !is_unary_func(func);

  // Which handles and ticket the command uses, and whether they are valid.
  logic       refs_ok;
  logic [31:0] ticket;
  logic       ticket_ok;
  always_comb begin
    refs_ok = 1'b1;
    unique case (op)
      OP_FREE:                 refs_ok = cmd[FREE_HANDLE_WORD] < NUM_HANDLES && bound[HANDLE_BITS'(cmd[FREE_HANDLE_WORD])];
      OP_DMA_LOAD, OP_DMA_STORE: refs_ok = is_bound(cmd[DMA_LOAD_SP_WORD][31:REF_HANDLE_SHIFT]);
      OP_GEMM:                 refs_ok = is_bound(cmd[GEMM_A_WORD][31:REF_HANDLE_SHIFT]) && is_bound(cmd[GEMM_B_WORD][31:REF_HANDLE_SHIFT])
                                         && is_bound(cmd[GEMM_D_WORD][31:REF_HANDLE_SHIFT])
                                         && (!gemm_accumulate_o || is_bound(cmd[GEMM_C_WORD][31:REF_HANDLE_SHIFT]));
      OP_VEC:                  refs_ok = is_bound(cmd[VEC_DST_WORD][31:REF_HANDLE_SHIFT]) && is_bound(cmd[VEC_A_WORD][31:REF_HANDLE_SHIFT])
                                         && (!b_is_ref || is_bound(cmd[VEC_B_WORD][31:REF_HANDLE_SHIFT]));
      default:                 refs_ok = 1'b1;
    endcase
    ticket    = (op == OP_WAIT) ? cmd[WAIT_TICKET_WORD] : cmd[DMA_LOAD_TICKET_WORD];
    ticket_ok = ticket < NUM_TICKETS && (op == OP_WAIT || !in_flight[TICKET_BITS'(ticket)]);
  end

  // -- outputs to the units (from the held command) -------------------------------------------
  assign fetch_req_o  = state == S_FETCH;
  assign fetch_addr_o = pc;

  assign gemm_a_row_o      = row_of(cmd[GEMM_A_WORD]);
  assign gemm_b_row_o      = row_of(cmd[GEMM_B_WORD]);
  assign gemm_c_row_o      = row_of(cmd[GEMM_C_WORD]);
  assign gemm_d_row_o      = row_of(cmd[GEMM_D_WORD]);
  assign gemm_a_step_o     = cmd[0][FUNC_SHIFT +: FUNC_BITS];
  assign gemm_m_o          = cmd[GEMM_M_WORD];
  assign gemm_k_o          = cmd[GEMM_K_WORD];
  assign gemm_n_o          = cmd[GEMM_N_WORD];
  assign gemm_accumulate_o = |(flags & FLAG_ACCUMULATE);
  assign gemm_c_bf16_o      = |(flags & FLAG_C_BF16);
  assign gemm_c_row_bcast_o = |(flags & FLAG_C_ROW);
  assign gemm_d_bf16_o      = |(flags & FLAG_D_BF16);

  assign dma_lo_o    = 32'(row_of(cmd[DMA_LOAD_SP_WORD]));
  assign dma_hi_o    = 32'(row_of(cmd[DMA_LOAD_SP_WORD])) + cmd[DMA_LOAD_ROWS_WORD];
  assign dma_write_o = op == OP_DMA_LOAD;

  assign vec_func_o     = func;
  assign vec_dst_fp32_o = |(flags & FLAG_DST_FP32);
  assign vec_a_fp32_o   = |(flags & FLAG_A_FP32);
  assign vec_b_fp32_o   = |(flags & FLAG_B_FP32);
  assign vec_bmode_o    = bmode;
  assign vec_dst_row_o  = row_of(cmd[VEC_DST_WORD]);
  assign vec_a_row_o    = row_of(cmd[VEC_A_WORD]);
  assign vec_b_word_o   = b_is_ref ? 32'(row_of(cmd[VEC_B_WORD])) : cmd[VEC_B_WORD];
  assign vec_rows_o     = cmd[VEC_ROWS_WORD][23:0];
  assign vec_cols_o     = cmd[VEC_COLS_WORD][15:0];

  // The mailbox request of the command being executed.
  always_comb begin
    mb_call_o = CALL_ALLOC;
    mb_args_o = '0;
    unique case (op)
      OP_ALLOC: begin
        mb_call_o = CALL_ALLOC;
        mb_args_o[ALLOC_ARG_HANDLE] = cmd[ALLOC_HANDLE_WORD];
        mb_args_o[ALLOC_ARG_BYTES]  = cmd[ALLOC_BYTES_WORD];
      end
      OP_FREE: begin
        mb_call_o = CALL_FREE;
        mb_args_o[FREE_ARG_HANDLE]  = cmd[FREE_HANDLE_WORD];
        mb_args_o[FREE_ARG_SP_ADDR] = handle_addr[HANDLE_BITS'(cmd[FREE_HANDLE_WORD])];
      end
      OP_DMA_LOAD, OP_DMA_STORE: begin
        mb_call_o = CALL_DMA;
        mb_args_o[DMA_ARG_DIRECTION]  = op == OP_DMA_STORE      ? DMA_DIR_STORE
                                      : |(flags & FLAG_GATHER) ? DMA_DIR_GATHER : DMA_DIR_LOAD;
        mb_args_o[DMA_ARG_SP_ADDR]    = 32'(row_of(cmd[DMA_LOAD_SP_WORD])) * ROW_BYTES;
        mb_args_o[DMA_ARG_DRAM_ADDR]  = cmd[DMA_LOAD_DRAM_ADDR_WORD];
        mb_args_o[DMA_ARG_ROWS]       = cmd[DMA_LOAD_ROWS_WORD];
        mb_args_o[DMA_ARG_COLS]       = cmd[DMA_LOAD_COLS_WORD];
        mb_args_o[DMA_ARG_ROW_STRIDE] = cmd[DMA_LOAD_ROW_STRIDE_WORD];
        mb_args_o[DMA_ARG_COL_STRIDE] = cmd[DMA_LOAD_COL_STRIDE_WORD];
        mb_args_o[DMA_ARG_TICKET]     = cmd[DMA_LOAD_TICKET_WORD];
      end
      OP_HOST: begin
        mb_call_o = CALL_HOST;
        mb_args_o[HOST_ARG_INDEX] = cmd[HOST_INDEX_WORD];
      end
      default: ;
    endcase
  end

  // -- the state machine ------------------------------------------------------------------------
  logic exec, uses_mailbox, posted, bad;
  assign exec         = state == S_EXEC;
  assign uses_mailbox = op inside {OP_ALLOC, OP_FREE, OP_DMA_LOAD, OP_DMA_STORE, OP_HOST};
  assign posted       = op inside {OP_DMA_LOAD, OP_DMA_STORE};
  assign bad          = !(op inside {OP_NOP, OP_END, OP_ALLOC, OP_FREE, OP_DMA_LOAD, OP_DMA_STORE, OP_WAIT,
                                     OP_GEMM, OP_VEC, OP_HOST});
  logic alloc_in_use;
  assign alloc_in_use = op == OP_ALLOC
                        && (cmd[ALLOC_HANDLE_WORD] >= NUM_HANDLES || bound[HANDLE_BITS'(cmd[ALLOC_HANDLE_WORD])]);

  logic dma_ticket_bad;
  assign dma_ticket_bad = op inside {OP_DMA_LOAD, OP_DMA_STORE, OP_WAIT} && !ticket_ok;

  // A posted call's answer may come in any state: a refusal faults at that call's command.
  logic firmware_fault;
  assign firmware_fault = mb_resp_valid_i && mb_resp_status_i != STATUS_OK;

  // What the command waits for before it may go: the GEMM queue (room, no hazard, or drained),
  // the mailbox queue (room; a call that waits for its answer also for the calls before it).
  logic interlocked, mailbox_blocked, valid_cmd, go;
  always_comb begin
    unique case (op)
      OP_GEMM:                   interlocked = !gemm_ready_i || gemm_hazard_i;
      OP_DMA_LOAD, OP_DMA_STORE: interlocked = dma_hazard_i;
      OP_VEC, OP_FREE, OP_HOST:  interlocked = gemm_busy_i;
      OP_END:                    interlocked = gemm_busy_i || in_flight != '0 || !mb_empty_i;
      default:                   interlocked = 1'b0;
    endcase
  end
  assign mailbox_blocked = uses_mailbox && mb_full_i;
  assign valid_cmd       = !bad && refs_ok && !alloc_in_use && !dma_ticket_bad;
  assign go              = exec && valid_cmd && !interlocked && !mailbox_blocked && !firmware_fault;

  assign mb_req_o     = go && uses_mailbox;
  assign mb_tag_o     = cmd_index_o;
  assign gemm_push_o  = go && op == OP_GEMM;
  assign vec_start_o  = go && op == OP_VEC;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      state          <= S_IDLE;
      cmd            <= '0;
      pc             <= '0;
      cmd_index_o    <= '0;
      bound          <= '0;
      handle_addr    <= '0;
      in_flight      <= '0;
      fault_code_o   <= FAULT_NONE;
      fault_status_o <= STATUS_OK;
    end else begin
      if (dma_done_i) in_flight[dma_done_ticket_i] <= 1'b0;
      if (firmware_fault && !(state inside {S_IDLE, S_DONE, S_FAULT})) begin
        state          <= S_FAULT;
        fault_code_o   <= FAULT_FIRMWARE;
        fault_status_o <= mb_resp_status_i;
        cmd_index_o    <= mb_resp_tag_i;
      end else begin
        unique case (state)
          S_IDLE: if (start_i) begin
            state       <= S_FETCH;
            pc          <= prog_base_i;
            cmd_index_o <= '0;
          end
          S_FETCH: if (fetch_valid_i) begin
            cmd   <= fetch_data_i;
            state <= S_EXEC;
          end
          S_EXEC: begin
            if (bad) begin
              state <= S_FAULT;
              fault_code_o <= FAULT_BAD_OPCODE;
            end else if (!refs_ok) begin
              state <= S_FAULT;
              fault_code_o <= FAULT_UNBOUND_HANDLE;
            end else if (alloc_in_use) begin
              state <= S_FAULT;
              fault_code_o <= FAULT_HANDLE_IN_USE;
            end else if (dma_ticket_bad) begin
              state <= S_FAULT;
              fault_code_o <= FAULT_BAD_TICKET;
            end else if (go) begin
              // The engine may finish before the firmware's answer arrives: the ticket is in
              // flight from the request on.
              if (posted) in_flight[TICKET_BITS'(ticket)] <= 1'b1;
              if (uses_mailbox && !posted) state <= S_MAILBOX;
              else if (op == OP_VEC) state <= S_UNIT;
              else if (op == OP_WAIT) state <= S_TICKET;
              else if (op == OP_END) state <= S_DONE;
              else begin  // NOP, GEMM, DMA: on to the next command
                state <= S_FETCH;
                pc <= pc + COMMAND_BYTES;
                cmd_index_o <= cmd_index_o + 1;
              end
            end
          end
          // Answers come in order: the one tagged with this command is its own.
          S_MAILBOX: if (mb_resp_valid_i && mb_resp_tag_i == cmd_index_o) begin
            if (op == OP_ALLOC) begin
              bound[HANDLE_BITS'(cmd[ALLOC_HANDLE_WORD])]       <= 1'b1;
              handle_addr[HANDLE_BITS'(cmd[ALLOC_HANDLE_WORD])] <= mb_resp_value_i;
            end
            if (op == OP_FREE) bound[HANDLE_BITS'(cmd[FREE_HANDLE_WORD])] <= 1'b0;
            state <= S_FETCH;
            pc <= pc + COMMAND_BYTES;
            cmd_index_o <= cmd_index_o + 1;
          end
          S_UNIT: if (vec_done_i) begin
            state <= S_FETCH;
            pc <= pc + COMMAND_BYTES;
            cmd_index_o <= cmd_index_o + 1;
          end
          S_TICKET: if (!in_flight[TICKET_BITS'(ticket)]) begin
            state <= S_FETCH;
            pc <= pc + COMMAND_BYTES;
            cmd_index_o <= cmd_index_o + 1;
          end
          S_DONE, S_FAULT: ;
          default: state <= S_FAULT;
        endcase
      end
    end
  end

  assign done_o  = state == S_DONE;
  assign fault_o = state == S_FAULT;

  // -- performance counters ---------------------------------------------------------------------
  logic running;
  assign running = !(state inside {S_IDLE, S_DONE, S_FAULT});
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      cycles_o           <= '0;
      fetch_cycles_o     <= '0;
      gemm_cycles_o      <= '0;
      vec_cycles_o       <= '0;
      mailbox_cycles_o   <= '0;
      wait_cycles_o      <= '0;
      interlock_cycles_o <= '0;
      op_count_o         <= '0;
    end else begin
      if (running) cycles_o <= cycles_o + 1;
      if (state == S_FETCH) fetch_cycles_o <= fetch_cycles_o + 1;
      if (running && gemm_busy_i) gemm_cycles_o <= gemm_cycles_o + 1;
      if (state == S_UNIT) vec_cycles_o <= vec_cycles_o + 1;
      if (state == S_MAILBOX || (exec && valid_cmd && !interlocked && mailbox_blocked))
        mailbox_cycles_o <= mailbox_cycles_o + 1;
      if (state == S_TICKET) wait_cycles_o <= wait_cycles_o + 1;
      if (exec && valid_cmd && interlocked) interlock_cycles_o <= interlock_cycles_o + 1;
      if (go) op_count_o[op] <= op_count_o[op] + 1;
    end
  end
endmodule

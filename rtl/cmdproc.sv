// Command processor: fetches the program from DRAM, decodes each command, keeps the handle
// table (handle -> scratchpad address) and the DMA tickets in flight, dispatches to the GEMM
// unit, the vector unit and the mailbox, and counts where the cycles go.
//
// Commands take effect in order (docs/isa.md, "Ordering"). A GEMM is pushed to the GEMM unit's
// queue and the next command follows at once; a GEMM, DMA or VEC that would touch rows a queued
// GEMM has yet to read or write waits (the unit's hazard outputs), and FREE, HOST and END wait for
// the queue to drain. A VEC then runs beside the queued GEMMs, and the next command follows it. A DMA call is posted: the request goes into the mailbox queue and the
// transfer runs on its own until the WAIT on its ticket; its answer, checked when it comes,
// faults the program at the DMA's index if the firmware refused it. ALLOC, FREE and HOST wait
// for their answer.
//
// Every command is checked before it goes, in the order of docs/isa.md ("Faults"): the first rule
// it breaks stops the program with that fault code at its index, the code the emulator gives for
// the same command, once the posted calls before it have been answered (a refused DMA before it is
// the fault then). Nothing is truncated: a field the datapath could not hold faults instead.
module cmdproc
  import atalla_pkg::*;
#(
  parameter int ARRAY_ROWS = 8,
  parameter int ARRAY_COLS = 8,
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
  // The scratchpad rows [touch_lo_o[i], touch_hi_o[i]) the DMA or VEC command reads; range 0 it
  // also writes when touch_write_o (a DMA load's rows, a VEC's destination). Unused ranges are empty.
  output logic [2:0][31:0]                  touch_lo_o,
  output logic [2:0][31:0]                  touch_hi_o,
  output logic                              touch_write_o,
  input  logic                              touch_hazard_i,   // ... touch rows a queued GEMM uses
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
  logic [NUM_HANDLES-1:0][31:0]         handle_bytes;  // the size ALLOC asked for
  logic [NUM_TICKETS-1:0]               in_flight;     // the engine has not completed the transfer
  logic [NUM_TICKETS-1:0]               outstanding;   // posted and not yet waited for

  // -- decode ----------------------------------------------------------------------------------
  opcode_e   op;
  vec_func_e func;
  logic [FLAGS_BITS-1:0] flags;
  assign op    = opcode_e'(cmd[0][OPCODE_BITS-1:0]);
  assign func  = vec_func_e'(cmd[0][FUNC_SHIFT +: FUNC_BITS]);
  assign flags = cmd[0][FLAGS_SHIFT +: FLAGS_BITS];
  assign opcode_o = op;

  // A buffer reference is handle[31:24] | row[23:0].
  // Absolute scratchpad row of a buffer reference: the buffer's first row plus the offset.
  function automatic logic [ROW_ADDR_BITS-1:0] row_of(logic [31:0] ref_word);
    return ROW_ADDR_BITS'(handle_addr[HANDLE_BITS'(ref_word[31:REF_HANDLE_SHIFT])] / ROW_BYTES)
         + ROW_ADDR_BITS'(ref_word[REF_HANDLE_SHIFT-1:0]);
  endfunction

  bmode_e bmode;
  logic   b_is_ref;
  assign bmode    = bmode_e'((flags & BMODE_MASK) >> BMODE_SHIFT);
  assign b_is_ref = bmode != BMODE_SCALAR && !is_unary_func(func);

  // -- the checks (docs/isa.md, "Faults") ----------------------------------------------------
  localparam int LANES = ROW_BYTES / BF16_BYTES;
  typedef logic [63:0] row_t;  // row arithmetic wide enough that no 32-bit field can wrap it

  logic [31:0] ticket;
  assign ticket = (op == OP_WAIT) ? cmd[WAIT_TICKET_WORD] : cmd[DMA_LOAD_TICKET_WORD];

  // Which reference words name a handle (atalla.command_rules.handle_fields): bit w for word w.
  logic [4:1] uses_ref;
  always_comb begin
    unique case (op)
      OP_DMA_LOAD, OP_DMA_STORE: uses_ref = 4'b0001;
      OP_GEMM:                   uses_ref = gemm_accumulate_o ? 4'b1111 : 4'b1011;
      OP_VEC:                    uses_ref = b_is_ref ? 4'b0111 : 4'b0011;
      default:                   uses_ref = 4'b0000;
    endcase
  end

  function automatic logic handle_ok(logic [31:0] handle);
    return handle < NUM_HANDLES;
  endfunction
  function automatic logic bound_at(logic [HANDLE_BITS-1:0] handle);  // a handle < NUM_HANDLES
    return bound[handle];
  endfunction

  // A reference's scratchpad rows [lo, lo + n) and whether they lie inside its handle's buffer.
  function automatic logic [31:0] whole_rows(logic [31:0] bytes);
    return bytes / ROW_BYTES;
  endfunction
  function automatic row_t ref_lo(logic [31:0] ref_word);
    return row_t'(whole_rows(handle_addr[HANDLE_BITS'(ref_word[31:REF_HANDLE_SHIFT])]))
         + row_t'(ref_word[REF_HANDLE_SHIFT-1:0]);
  endfunction
  function automatic logic inside_buffer(logic [31:0] ref_word, row_t n);
    return row_t'(ref_word[REF_HANDLE_SHIFT-1:0]) + n
           <= row_t'(whole_rows(handle_bytes[HANDLE_BITS'(ref_word[31:REF_HANDLE_SHIFT])]));
  endfunction
  function automatic logic overlap(row_t lo_x, row_t n_x, row_t lo_y, row_t n_y);
    return lo_x < lo_y + n_y && lo_y < lo_x + n_x;
  endfunction
  function automatic row_t tile_rows(logic [31:0] rows, logic fp32);
    return fp32 ? row_t'(rows) * SP_ROWS_PER_FP32_ROW : row_t'(rows);
  endfunction

  // The rows the reference in word w spans (runtime/emulator/units.py: gemm_a_rows, ...): GEMM
  // words 1..4 are A, B, C, D; VEC words 1..3 are dst, a, b; a DMA's word 1 is its scratchpad side.
  row_t n_rows [1:4];
  always_comb begin
    for (int w = 1; w <= 4; w++) n_rows[w] = '0;
    unique case (op)
      OP_DMA_LOAD, OP_DMA_STORE: n_rows[1] = row_t'(cmd[DMA_LOAD_ROWS_WORD]);
      OP_GEMM: begin
        n_rows[GEMM_A_WORD] = (row_t'(cmd[GEMM_M_WORD]) - 1) * row_t'(gemm_a_step_o) + 1;
        n_rows[GEMM_B_WORD] = row_t'(cmd[GEMM_K_WORD]);
        n_rows[GEMM_C_WORD] = tile_rows(gemm_c_row_bcast_o ? 32'd1 : cmd[GEMM_M_WORD], !gemm_c_bf16_o);
        n_rows[GEMM_D_WORD] = tile_rows(cmd[GEMM_M_WORD], !gemm_d_bf16_o);
      end
      OP_VEC: begin
        n_rows[VEC_DST_WORD] = tile_rows(cmd[VEC_ROWS_WORD], vec_dst_fp32_o);
        n_rows[VEC_A_WORD]   = tile_rows(cmd[VEC_ROWS_WORD], vec_a_fp32_o);
        n_rows[VEC_B_WORD]   = tile_rows(bmode == BMODE_ROW ? 32'd1 : cmd[VEC_ROWS_WORD], vec_b_fp32_o);
      end
      default: ;
    endcase
  end

  // Whether the destination (word dst) overlaps the operand in word w other than exactly.
  function automatic logic partial_overlap(int dst, int w);
    return overlap(ref_lo(cmd[dst]), n_rows[dst], ref_lo(cmd[w]), n_rows[w])
           && (ref_lo(cmd[dst]) != ref_lo(cmd[w]) || n_rows[dst] != n_rows[w]);
  endfunction

  logic bad_func, bad_flags, unused_word, bad_handle, ticket_range, bad_shape, ticket_state, alloc_in_use,
        unbound, not_waited, out_of_buffer, operand_overlap;
  always_comb begin
    bad_func = op == OP_VEC ? 32'(cmd[0][FUNC_SHIFT +: FUNC_BITS]) >= NUM_VEC_FUNCS
                            : op != OP_GEMM && cmd[0][FUNC_SHIFT +: FUNC_BITS] != '0;
    bad_flags = (flags & ~defined_flags(op)) != '0;
    unused_word = 1'b0;
    for (int w = 1; w < COMMAND_WORDS; w++)
      if (w > command_fields(op) && cmd[w] != '0) unused_word = 1'b1;
    bad_handle = (op inside {OP_ALLOC, OP_FREE}) && !handle_ok(cmd[ALLOC_HANDLE_WORD]);
    for (int w = 1; w <= 4; w++)
      if (uses_ref[w] && !handle_ok(32'(cmd[w][31:REF_HANDLE_SHIFT]))) bad_handle = 1'b1;
    ticket_range = op inside {OP_DMA_LOAD, OP_DMA_STORE, OP_WAIT} && ticket >= NUM_TICKETS;
    unique case (op)
      OP_GEMM: bad_shape = cmd[GEMM_M_WORD] == '0 || cmd[GEMM_K_WORD] == '0 || cmd[GEMM_K_WORD] > ARRAY_ROWS
                           || cmd[GEMM_N_WORD] == '0 || cmd[GEMM_N_WORD] > ARRAY_COLS;
      OP_VEC:  bad_shape = cmd[VEC_ROWS_WORD] == '0 || cmd[VEC_COLS_WORD] == '0 || cmd[VEC_COLS_WORD] > LANES;
      default: bad_shape = 1'b0;
    endcase
    unique case (op)
      OP_DMA_LOAD, OP_DMA_STORE: ticket_state = outstanding[TICKET_BITS'(ticket)];
      OP_WAIT:                   ticket_state = !outstanding[TICKET_BITS'(ticket)];
      default:                   ticket_state = 1'b0;
    endcase
    alloc_in_use = op == OP_ALLOC && bound_at(HANDLE_BITS'(cmd[ALLOC_HANDLE_WORD]));
    unbound = op == OP_FREE && !bound_at(HANDLE_BITS'(cmd[FREE_HANDLE_WORD]));
    for (int w = 1; w <= 4; w++)
      if (uses_ref[w] && !bound_at(HANDLE_BITS'(cmd[w][31:REF_HANDLE_SHIFT]))) unbound = 1'b1;
    not_waited = op inside {OP_END, OP_HOST} && outstanding != '0;
    out_of_buffer = 1'b0;
    for (int w = 1; w <= 4; w++)
      if (uses_ref[w] && !inside_buffer(cmd[w], n_rows[w])) out_of_buffer = 1'b1;
    unique case (op)
      // D apart from A and B; C exactly D in the same format (in place), or apart from it.
      OP_GEMM: operand_overlap = overlap(ref_lo(cmd[GEMM_D_WORD]), n_rows[GEMM_D_WORD], ref_lo(cmd[GEMM_A_WORD]),
                                         n_rows[GEMM_A_WORD])
                              || overlap(ref_lo(cmd[GEMM_D_WORD]), n_rows[GEMM_D_WORD], ref_lo(cmd[GEMM_B_WORD]),
                                         n_rows[GEMM_B_WORD])
                              || (gemm_accumulate_o && (partial_overlap(GEMM_D_WORD, GEMM_C_WORD)
                                  || (ref_lo(cmd[GEMM_C_WORD]) == ref_lo(cmd[GEMM_D_WORD])
                                      && gemm_c_bf16_o != gemm_d_bf16_o)));
      // The destination exactly an operand (b only as a tile), or apart from it.
      OP_VEC: operand_overlap = partial_overlap(VEC_DST_WORD, VEC_A_WORD)
                             || (b_is_ref && (partial_overlap(VEC_DST_WORD, VEC_B_WORD)
                                 || (bmode != BMODE_TILE && overlap(ref_lo(cmd[VEC_DST_WORD]), n_rows[VEC_DST_WORD],
                                                                   ref_lo(cmd[VEC_B_WORD]), n_rows[VEC_B_WORD]))));
      default: operand_overlap = 1'b0;
    endcase
  end

  // The first rule the command breaks, in the order of docs/isa.md.
  fault_e cmd_fault;
  always_comb begin
    if (bad)                  cmd_fault = FAULT_BAD_OPCODE;
    else if (bad_func)        cmd_fault = FAULT_BAD_FUNC;
    else if (bad_flags)       cmd_fault = FAULT_BAD_FLAGS;
    else if (unused_word)     cmd_fault = FAULT_UNUSED_WORD;
    else if (bad_handle)      cmd_fault = FAULT_BAD_HANDLE;
    else if (ticket_range)    cmd_fault = FAULT_BAD_TICKET;
    else if (bad_shape)       cmd_fault = FAULT_BAD_SHAPE;
    else if (ticket_state)    cmd_fault = FAULT_BAD_TICKET;
    else if (alloc_in_use)    cmd_fault = FAULT_HANDLE_IN_USE;
    else if (unbound)         cmd_fault = FAULT_UNBOUND_HANDLE;
    else if (not_waited)      cmd_fault = FAULT_DMA_NOT_WAITED;
    else if (out_of_buffer)   cmd_fault = FAULT_OUT_OF_BUFFER;
    else if (operand_overlap) cmd_fault = FAULT_OPERAND_OVERLAP;
    else                      cmd_fault = FAULT_NONE;
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

  // A DMA's rows (word 1); a VEC's destination, a and (as a tile, row or column) b (words 1..3).
  always_comb begin
    touch_lo_o = '0;
    touch_hi_o = '0;
    for (int w = 1; w <= 3; w++) begin
      if ((op inside {OP_DMA_LOAD, OP_DMA_STORE} && w == 1) || (op == OP_VEC && uses_ref[w])) begin
        touch_lo_o[w-1] = 32'(row_of(cmd[w]));
        touch_hi_o[w-1] = 32'(row_of(cmd[w])) + 32'(n_rows[w]);
      end
    end
  end
  assign touch_write_o = op inside {OP_DMA_LOAD, OP_VEC};

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
  // A posted call's answer may come in any state: a refusal faults at that call's command.
  logic firmware_fault;
  assign firmware_fault = mb_resp_valid_i && mb_resp_status_i != STATUS_OK;

  // What the command waits for before it may go: the GEMM queue (room, no hazard, or drained),
  // the mailbox queue (room; a call that waits for its answer also for the calls before it).
  logic interlocked, mailbox_blocked, valid_cmd, go;
  always_comb begin
    unique case (op)
      OP_GEMM:                   interlocked = !gemm_ready_i || gemm_hazard_i;
      OP_DMA_LOAD, OP_DMA_STORE,
      OP_VEC:                    interlocked = touch_hazard_i;
      OP_FREE, OP_HOST:          interlocked = gemm_busy_i;
      OP_END:                    interlocked = gemm_busy_i || in_flight != '0 || !mb_empty_i;
      default:                   interlocked = 1'b0;
    endcase
  end
  assign mailbox_blocked = uses_mailbox && mb_full_i;
  assign valid_cmd       = cmd_fault == FAULT_NONE;
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
      handle_bytes   <= '0;
      in_flight      <= '0;
      outstanding    <= '0;
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
            if (!valid_cmd) begin
              // Faults are reported in program order: a posted DMA before this command may still
              // be refused (the branch above), so the command's own fault waits for its answer.
              if (mb_empty_i) begin
                state <= S_FAULT;
                fault_code_o <= cmd_fault;
              end
            end else if (go) begin
              // The engine may finish before the firmware's answer arrives: the ticket is in
              // flight from the request on.
              if (posted) begin
                in_flight[TICKET_BITS'(ticket)]   <= 1'b1;
                outstanding[TICKET_BITS'(ticket)] <= 1'b1;
              end
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
              bound[HANDLE_BITS'(cmd[ALLOC_HANDLE_WORD])]        <= 1'b1;
              handle_addr[HANDLE_BITS'(cmd[ALLOC_HANDLE_WORD])]  <= mb_resp_value_i;
              handle_bytes[HANDLE_BITS'(cmd[ALLOC_HANDLE_WORD])] <= cmd[ALLOC_BYTES_WORD];
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
            outstanding[TICKET_BITS'(ticket)] <= 1'b0;
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

// DMA engine: moves a 2-D strided block between the DRAM (dram.sv port 0) and the scratchpad's DMA
// port. Element (r, c) is the bf16 at DRAM byte dram_addr + 2*(r*row_stride + c*col_stride) and at
// scratchpad row sp_addr / ROW_BYTES + r, bytes 2c..2c+1 (docs/isa.md). A load writes every row of the
// block whole: cols elements, then zeros. A store writes only the cols elements of each row. A gather
// is a load whose row r is table row ids[r]: DRAM byte dram_addr + 2*(ids[r]*row_stride + c), ids the
// int32s at DRAM byte col_stride (its register holds their address).
//
// Programming (the firmware): write the registers, then pulse start_i.
//   reg_we_i / reg_idx_i / reg_wdata_i  one 32-bit register per cycle; indices = the mailbox DMA
//                                       arguments: 0 direction (DMA_DIR_*), 1 sp_addr (bytes, a
//                                       multiple of ROW_BYTES), 2 dram_addr (bytes, even), 3 rows,
//                                       4 cols (1..ROW_BYTES/2), 5 row_stride, 6 col_stride (elements,
//                                       two's complement, 0 allowed; a gather's ids address),
//                                       7 ticket (low TICKET_W bits)
//   start_i                             queue the descriptor held by the registers (as written in
//                                       earlier cycles; the registers keep their values)
//   busy_o                              the descriptor queue is full: a start_i now is ignored.
//                                       The firmware starts the next transfer only while busy_o is low.
//   idle_o                              nothing queued or in flight
//   done_valid_o / done_ticket_o        one-cycle pulse when a transfer has completed: a load's rows
//                                       are in the scratchpad, a store's bytes are in the DRAM
// Descriptors run in start order and complete in it; QUEUE_DEPTH more may wait behind the running
// one. rows == 0 or cols == 0 completes at once without moving anything. Back-to-back loads overlap:
// once a load (not a gather, not transposed) has made its last request, the next such load starts
// requesting while the first one's beats still arrive, so a queue of them streams without paying
// the DRAM latency again (the DRAM answers in order, so the second's beats follow the first's).
// Everything else starts when the descriptor before it has completed.
//
// Bandwidth: with col_stride == 1 a row moves as DRAM requests of up to BEAT_BYTES bytes, one per
// cycle, and the requests of successive rows follow back to back, so a long block streams at
// BEAT_BYTES per cycle after the DRAM latency. A load with row_stride == 1 (and col_stride != 1:
// a transposed block, whose columns are contiguous in DRAM) goes through a transpose buffer: for
// a chunk of up to BEAT_BYTES / 2 rows, one request per column reads the chunk's elements of that
// column, and once every column is in, the chunk's rows are written one per cycle (the DRAM's
// beats wait meanwhile). Otherwise every element is its own one-beat request.
// A gather reads the ids of up to BEAT_BYTES / INDEX_BYTES rows in one beat, then requests those
// rows back to back: a group's rows wait one DRAM latency for its ids.
module dma
  import atalla_pkg::*;
#(
    parameter int ROW_BYTES = 16,
    parameter int SP_ROWS = 4096,
    parameter int BEAT_BYTES = 16,
    parameter longint DRAM_BYTES = 64'd16777216,
    parameter int TICKET_W = 8,
    parameter int QUEUE_DEPTH = 2,  // descriptors waiting behind the running one, a power of two
    localparam int RowBits = 8 * ROW_BYTES,
    localparam int BeatBits = 8 * BEAT_BYTES,
    localparam int RowW = $clog2(SP_ROWS)
) (
    input  logic                  clk_i,
    input  logic                  rst_ni,
    // register port
    input  logic                  reg_we_i,
    input  logic [           2:0] reg_idx_i,
    input  logic [          31:0] reg_wdata_i,
    input  logic                  start_i,
    output logic                  busy_o,
    output logic                  idle_o,
    // completion, to the command processor
    output logic                  done_valid_o,
    output logic [  TICKET_W-1:0] done_ticket_o,
    // DRAM port 0 (see dram.sv)
    output logic                  dram_req_valid_o,
    input  logic                  dram_req_ready_i,
    output logic                  dram_req_write_o,
    output logic [          31:0] dram_req_addr_o,
    output logic [          15:0] dram_req_len_o,
    output logic [  BeatBits-1:0] dram_req_wdata_o,
    output logic [BEAT_BYTES-1:0] dram_req_wstrb_o,
    input  logic                  dram_rvalid_i,
    output logic                  dram_rready_o,   // a beat is taken when valid and ready
    input  logic [  BeatBits-1:0] dram_rdata_i,
    input  logic                  dram_wack_i,
    // scratchpad DMA port (see scratchpad.sv): a read (sp_re_o) or a write (sp_we_o) goes only
    // in a cycle in which the bank arbiter grants it (sp_gnt_i); a refused write holds the DRAM beat
    output logic                  sp_re_o,
    output logic                  sp_we_o,
    input  logic                  sp_gnt_i,
    output logic [      RowW-1:0] sp_row_o,
    output logic [   RowBits-1:0] sp_wdata_o,
    input  logic [   RowBits-1:0] sp_rdata_i
);

  localparam int RowsW = $clog2(SP_ROWS + 1);
  localparam int ColsW = $clog2(ROW_BYTES / 2 + 1);
  localparam int QPtrW = QUEUE_DEPTH > 1 ? $clog2(QUEUE_DEPTH) : 1;
  localparam int IdsPerBeat = BEAT_BYTES / INDEX_BYTES;
  localparam int IdxW = IdsPerBeat > 1 ? $clog2(IdsPerBeat) : 1;

  initial begin
    if (DRAM_BYTES > 64'h1_0000_0000) $fatal(1, "dma: DRAM addresses are 32 bits");
    if (BEAT_BYTES < INDEX_BYTES || BEAT_BYTES % INDEX_BYTES != 0)
      $fatal(1, "dma: BEAT_BYTES must hold whole row ids");
    if (QUEUE_DEPTH < 1 || QUEUE_DEPTH != (1 << $clog2(QUEUE_DEPTH)))
      $fatal(1, "dma: QUEUE_DEPTH must be a power of two");
  end

  typedef struct packed {
    logic [1:0]          mode;  // a DMA_DIR_* value
    logic [RowW-1:0]     sp_row;
    logic [31:0]         dram_addr;
    logic [RowsW-1:0]    rows;
    logic [ColsW-1:0]    cols;
    logic [31:0]         row_stride;
    logic [31:0]         col_stride;
    logic [TICKET_W-1:0] ticket;
  } desc_t;

  // ---------------------------------------------------------------- registers and descriptor queue
  desc_t regs_q;
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      regs_q <= '0;
    end else if (reg_we_i) begin
      unique case (reg_idx_i)
        3'd0: regs_q.mode <= reg_wdata_i[1:0];
        3'd1: regs_q.sp_row <= RowW'(reg_wdata_i / ROW_BYTES);
        3'd2: regs_q.dram_addr <= reg_wdata_i;
        3'd3: regs_q.rows <= RowsW'(reg_wdata_i);
        3'd4: regs_q.cols <= ColsW'(reg_wdata_i);
        3'd5: regs_q.row_stride <= reg_wdata_i;
        3'd6: regs_q.col_stride <= reg_wdata_i;
        default: regs_q.ticket <= TICKET_W'(reg_wdata_i);
      endcase
    end
  end

  desc_t             queue_q[QUEUE_DEPTH];
  logic [QPtrW-1:0]  q_wr_q, q_rd_q;
  logic [QPtrW:0]    q_cnt_q;
  logic              q_push, q_pop, active_q, finish, early;
  assign busy_o = q_cnt_q == (QPtrW + 1)'(QUEUE_DEPTH);
  assign q_push = start_i && !busy_o;
  assign q_pop  = q_cnt_q != 0 && !active_q || early;
  assign idle_o = !active_q && q_cnt_q == 0;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      q_wr_q  <= '0;
      q_rd_q  <= '0;
      q_cnt_q <= '0;
    end else begin
      if (q_push) begin
        queue_q[q_wr_q] <= regs_q;
        q_wr_q <= q_wr_q + 1'b1;
      end
      if (q_pop) q_rd_q <= q_rd_q + 1'b1;
      q_cnt_q <= q_cnt_q + (QPtrW + 1)'(q_push) - (QPtrW + 1)'(q_pop);
    end
  end

  // ---------------------------------------------------------------- the running transfer
  // What the running transfer still needs of its descriptor (the rest seeds the walkers below).
  typedef struct packed {
    logic                store;
    logic                gather;
    logic [31:0]         dram_addr;  // a gather's table
    logic [ColsW-1:0]    cols;
    logic [31:0]         row_stride;
    logic [31:0]         col_stride;
  } run_t;
  run_t cur_q;  // the request side's; the response side reads its kind (the same while loads overlap)
  logic  contig;  // col_stride == 1: pieces of up to BEAT_BYTES, else one element per piece
  logic  tpose;   // a load with row_stride == 1 (and not contig): through the transpose buffer
  logic [15:0] iss_row_bytes, iss_step;
  logic [31:0] row_step, col_step;  // DRAM bytes between rows / elements
  assign contig        = cur_q.gather || cur_q.col_stride == 32'd1;
  assign tpose         = !cur_q.store && !contig && cur_q.row_stride == 32'd1;
  assign iss_row_bytes = 16'(cur_q.cols) << 1;
  assign iss_step      = contig ? 16'(BEAT_BYTES) : 16'd2;
  assign row_step      = cur_q.row_stride << 1;
  assign col_step      = contig ? 32'(BEAT_BYTES) : cur_q.col_stride << 1;

  // Request side: walks rows and pieces, one DRAM request per piece (loads: reads; stores: writes).
  logic             iss_busy_q;
  logic [31:0]      iss_row_base_q, iss_addr_q;
  logic [15:0]      iss_off_q;  // byte offset of the piece in its row
  logic [RowsW-1:0] iss_rows_left_q;
  logic [15:0]      iss_left;
  logic             iss_last, iss_fire;
  assign iss_left = iss_row_bytes - iss_off_q;
  assign iss_last = iss_left <= iss_step;  // (transposed: a chunk's last request is its last column's)

  // Gather: the ids of a group of rows come in one beat; the request side issues the group's rows
  // once they are there and asks for the next group's after its last row.
  logic [31:0]         ids_q[IdsPerBeat];
  logic                ids_valid_q;      // ids_q holds the current group's ids
  logic                iss_want_ids_q;   // the next request reads ids
  logic [31:0]         iss_ids_addr_q;   // DRAM byte of the next group's ids
  logic [IdxW:0]       iss_grp_left_q;   // rows of the current group still to request
  logic [IdxW-1:0]     iss_grp_idx_q;    // the id of the row being requested
  logic                rsp_want_ids_q;   // the next beat holds ids
  logic [IdxW:0]       rsp_grp_left_q;   // rows of the current group still to arrive
  logic [IdxW:0]       grp_rows;         // rows in the group whose ids the request side asks for
  logic [31:0]         gather_row;       // DRAM byte of the requested row's first element
  logic                ids_req, ids_beat;
  assign grp_rows   = iss_rows_left_q > RowsW'(IdsPerBeat) ? (IdxW + 1)'(IdsPerBeat) : (IdxW + 1)'(iss_rows_left_q);
  assign gather_row = cur_q.dram_addr + ids_q[iss_grp_idx_q] * row_step;
  assign ids_req    = cur_q.gather && iss_want_ids_q;
  assign ids_beat   = cur_q.gather && rsp_want_ids_q && dram_rvalid_i;

  // Load response side: collects the beats of a row and writes it to the scratchpad. What it needs of
  // its descriptor is its own (rsp_q): the next load's request side may run beside it (early), its
  // own kept in next_q until the response side takes it.
  typedef struct packed {
    logic [ColsW-1:0]    cols;
    logic                contig;
    logic [TICKET_W-1:0] ticket;
  } rsp_t;
  rsp_t             rsp_q, next_q;
  logic [RowW-1:0]  next_row_q;
  logic [RowsW-1:0] next_rows_q;
  logic             next_valid_q;
  logic [15:0]      rsp_row_bytes, rsp_step;
  assign rsp_row_bytes = 16'(rsp_q.cols) << 1;
  assign rsp_step      = rsp_q.contig ? 16'(BEAT_BYTES) : 16'd2;
  logic [15:0]      rsp_off_q;
  logic [RowsW-1:0] rsp_rows_left_q;
  logic [RowW-1:0]  rsp_row_q;
  logic [RowBits-1:0] rowbuf_q, merged;
  logic             rsp_last;
  assign rsp_last = rsp_row_bytes - rsp_off_q <= rsp_step;
  // A beat's bytes past its request are zero, so OR-ing it in at its offset assembles the row.
  assign merged   = rowbuf_q | (RowBits'(dram_rdata_i) << {rsp_off_q, 3'b000});

  // Transpose buffer: row i of the chunk being assembled (element c of it from column c's beat).
  localparam int ChunkRows = BEAT_BYTES / 2;
  localparam int ChunkW = $clog2(ChunkRows + 1);
  localparam int ColW = ColsW > 1 ? ColsW : 1;
  localparam int ChunkIdxW = ChunkRows > 1 ? $clog2(ChunkRows) : 1;
  logic [RowBits-1:0] tbuf_q[ChunkRows];
  logic [ColW-1:0]    iss_col_q, rsp_col_q;  // the column whose beat is requested / arrives next
  logic [ChunkW-1:0]  iss_chunk;             // rows of the chunk being requested
  logic               drain_q;               // writing the chunk's rows to the scratchpad
  logic [ChunkIdxW-1:0] drain_idx_q;
  logic               tpose_last_col;        // the beat requested / arriving is the chunk's last column
  logic               rsp_last_col;
  logic               drain_end;             // the chunk's last row is written now (if granted)
  logic [RowBits-1:0] tpose_cols_mask;       // the elements of a row the block has
  assign iss_chunk = iss_rows_left_q > RowsW'(ChunkRows) ? ChunkW'(ChunkRows) : ChunkW'(iss_rows_left_q);
  assign tpose_last_col = 32'(iss_col_q) + 1 == 32'(cur_q.cols);
  assign rsp_last_col   = 32'(rsp_col_q) + 1 == 32'(rsp_q.cols);
  assign drain_end      = drain_idx_q == ChunkIdxW'(ChunkRows - 1) || rsp_rows_left_q == 1;
  assign tpose_cols_mask = {RowBits{1'b1}} >> (RowBits - 16 * int'(rsp_q.cols));

  // Store side: scratchpad rows are read ahead into a two-entry buffer.
  logic [RowW-1:0]    sprd_row_q;
  logic [RowsW-1:0]   sprd_left_q;
  logic               sprd_pend_q, sprd_go;
  logic [RowBits-1:0] sbuf_q[2];
  logic               sbuf_rd_q, sbuf_wr_q;
  logic [1:0]         sbuf_cnt_q;
  logic               sbuf_pop;
  logic [15:0]        wpend_q;  // writes accepted by the DRAM and not acknowledged yet
  logic [RowBits-1:0] srow;
  assign srow     = sbuf_q[sbuf_rd_q];
  assign sbuf_pop = iss_fire && cur_q.store && iss_last;
  assign sprd_go  = active_q && cur_q.store && sprd_left_q != 0 &&
                    2'(sbuf_cnt_q + 2'(sprd_pend_q) - 2'(sbuf_pop)) < 2'd2;

  // DRAM requests.
  logic [15:0] piece_len;
  assign piece_len        = tpose ? 16'(iss_chunk) << 1 : iss_left < iss_step ? iss_left : iss_step;
  assign dram_req_valid_o = active_q && iss_busy_q && (cur_q.store ? sbuf_cnt_q != 0
                                                     : !cur_q.gather || iss_want_ids_q || ids_valid_q);
  assign dram_req_write_o = cur_q.store;
  assign dram_req_addr_o  = ids_req ? iss_ids_addr_q : cur_q.gather && iss_off_q == 0 ? gather_row : iss_addr_q;
  assign dram_req_len_o   = ids_req ? 16'(grp_rows) * 16'(INDEX_BYTES) : piece_len;
  assign dram_req_wdata_o = BeatBits'(srow >> {iss_off_q, 3'b000});
  assign dram_req_wstrb_o = ~({BEAT_BYTES{1'b1}} << piece_len);
  assign iss_fire         = dram_req_valid_o && dram_req_ready_i;

  // Scratchpad port.
  assign sp_re_o    = sprd_go;
  assign sp_we_o    = active_q && (tpose ? drain_q : !cur_q.store && dram_rvalid_i && !ids_beat && rsp_last &&
                                                    rsp_rows_left_q != 0);
  // A beat that comes as a load completes is the next (early) load's: it waits for the switch.
  assign dram_rready_o = tpose ? !drain_q : rsp_rows_left_q != 0 && (!sp_we_o || sp_gnt_i);
  assign sp_row_o   = cur_q.store ? sprd_row_q : rsp_row_q;
  assign sp_wdata_o = tpose ? tbuf_q[drain_idx_q] & tpose_cols_mask : merged;

  // Completion.
  assign finish = active_q && (cur_q.store ? !iss_busy_q && wpend_q == 0 && sbuf_cnt_q == 0
                                           : rsp_rows_left_q == 0);

  // The descriptor that starts next, and whether it is empty.
  desc_t d;
  logic  empty, plain_load, d_plain_load;
  assign d     = queue_q[q_rd_q];
  assign empty = d.rows == 0 || d.cols == 0;
  assign plain_load   = !cur_q.store && !cur_q.gather && !tpose;
  assign d_plain_load = d.mode == 2'(DMA_DIR_LOAD) && !empty && (d.col_stride == 32'd1 || d.row_stride != 32'd1);
  // The next load may start requesting: one is queued, the running one is a plain load whose
  // requests are all made and whose beats are still to come, and no early load waits already.
  assign early = q_cnt_q != 0 && active_q && plain_load && !iss_busy_q && !next_valid_q && rsp_rows_left_q != 0 &&
                 d_plain_load;

  logic                done_q;
  logic [TICKET_W-1:0] done_ticket_q;
  assign done_valid_o  = done_q;
  assign done_ticket_o = done_ticket_q;

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      active_q        <= 1'b0;
      cur_q           <= '0;
      iss_busy_q      <= 1'b0;
      iss_row_base_q  <= '0;
      iss_addr_q      <= '0;
      iss_off_q       <= '0;
      iss_rows_left_q <= '0;
      rsp_off_q       <= '0;
      rsp_rows_left_q <= '0;
      rsp_row_q       <= '0;
      rowbuf_q        <= '0;
      sprd_row_q      <= '0;
      sprd_left_q     <= '0;
      sprd_pend_q     <= 1'b0;
      sbuf_rd_q       <= 1'b0;
      sbuf_wr_q       <= 1'b0;
      sbuf_cnt_q      <= '0;
      wpend_q         <= '0;
      done_q          <= 1'b0;
      done_ticket_q   <= '0;
      ids_valid_q     <= 1'b0;
      iss_want_ids_q  <= 1'b0;
      iss_ids_addr_q  <= '0;
      iss_grp_left_q  <= '0;
      iss_grp_idx_q   <= '0;
      rsp_want_ids_q  <= 1'b0;
      rsp_grp_left_q  <= '0;
      rsp_q           <= '0;
      next_q          <= '0;
      next_row_q      <= '0;
      next_rows_q     <= '0;
      next_valid_q    <= 1'b0;
    end else begin
      done_q <= 1'b0;

      if (q_pop) begin
        // The request side takes the next descriptor (early: beside the running load's last beats,
        // its own requests all made, so nothing below moves these in the same cycle).
        cur_q           <= '{store: d.mode == 2'(DMA_DIR_STORE), gather: d.mode == 2'(DMA_DIR_GATHER),
                             dram_addr: d.dram_addr, cols: d.cols, row_stride: d.row_stride,
                             col_stride: d.col_stride};
        ids_valid_q     <= 1'b0;
        iss_want_ids_q  <= 1'b1;
        iss_ids_addr_q  <= d.col_stride;
        iss_grp_left_q  <= '0;
        iss_grp_idx_q   <= '0;
        iss_busy_q      <= !empty;
        iss_row_base_q  <= d.dram_addr;
        iss_addr_q      <= d.dram_addr;
        iss_off_q       <= '0;
        iss_col_q       <= '0;
        iss_rows_left_q <= d.rows;
      end
      if (early) begin
        next_q       <= '{cols: d.cols, contig: d.col_stride == 32'd1, ticket: d.ticket};
        next_row_q   <= d.sp_row;
        next_rows_q  <= d.rows;
        next_valid_q <= 1'b1;
      end

      if (!active_q && q_pop) begin
        // The response and store sides start with it.
        rsp_q           <= '{cols: d.cols, contig: d.mode == 2'(DMA_DIR_GATHER) || d.col_stride == 32'd1,
                             ticket: d.ticket};
        rsp_want_ids_q  <= 1'b1;
        rsp_grp_left_q  <= '0;
        active_q        <= 1'b1;
        rsp_col_q       <= '0;
        drain_q         <= 1'b0;
        drain_idx_q     <= '0;
        rsp_off_q       <= '0;
        rsp_rows_left_q <= empty ? '0 : d.rows;
        rsp_row_q       <= d.sp_row;
        rowbuf_q        <= '0;
        sprd_row_q      <= d.sp_row;
        sprd_left_q     <= empty ? '0 : d.rows;
        sprd_pend_q     <= 1'b0;
        sbuf_rd_q       <= 1'b0;
        sbuf_wr_q       <= 1'b0;
        sbuf_cnt_q      <= '0;
        wpend_q         <= '0;
      end else if (active_q) begin
        // Request side.
        if (iss_fire && ids_req) begin
          iss_want_ids_q <= 1'b0;
          iss_ids_addr_q <= iss_ids_addr_q + 32'(grp_rows) * 32'(INDEX_BYTES);
          iss_grp_left_q <= grp_rows;
          iss_grp_idx_q  <= '0;
        end else if (iss_fire && tpose) begin  // one column of a chunk
          if (tpose_last_col) begin
            iss_col_q       <= '0;
            iss_rows_left_q <= iss_rows_left_q - RowsW'(iss_chunk);
            iss_busy_q      <= iss_rows_left_q != RowsW'(iss_chunk);
            iss_row_base_q  <= iss_row_base_q + 32'(BEAT_BYTES);
            iss_addr_q      <= iss_row_base_q + 32'(BEAT_BYTES);
          end else begin
            iss_col_q  <= iss_col_q + 1'b1;
            iss_addr_q <= iss_addr_q + col_step;
          end
        end else if (iss_fire) begin
          if (cur_q.gather && iss_last) begin  // the next row comes from the next id
            iss_grp_left_q <= iss_grp_left_q - 1'b1;
            iss_grp_idx_q  <= iss_grp_idx_q + 1'b1;
            if (iss_grp_left_q == 1) begin
              ids_valid_q    <= 1'b0;
              iss_want_ids_q <= 1'b1;
            end
          end
          if (iss_last) begin
            iss_rows_left_q <= iss_rows_left_q - 1'b1;
            iss_busy_q      <= iss_rows_left_q != 1;
            iss_row_base_q  <= iss_row_base_q + row_step;
            iss_addr_q      <= iss_row_base_q + row_step;
            iss_off_q       <= '0;
          end else begin
            iss_addr_q <= dram_req_addr_o + col_step;  // a gather's first piece: from its id
            iss_off_q  <= iss_off_q + iss_step;
          end
        end

        // Load: beats in, rows out (a gather's id beats go to ids_q).
        if (ids_beat) begin
          for (int i = 0; i < IdsPerBeat; i++) ids_q[i] <= dram_rdata_i[32*i +: 32];
          ids_valid_q    <= 1'b1;
          rsp_want_ids_q <= 1'b0;
          rsp_grp_left_q <= rsp_rows_left_q > RowsW'(IdsPerBeat) ? (IdxW + 1)'(IdsPerBeat)
                                                                 : (IdxW + 1)'(rsp_rows_left_q);
        end else if (tpose && dram_rvalid_i && dram_rready_o) begin  // column rsp_col_q of the chunk
          for (int i = 0; i < ChunkRows; i++) tbuf_q[i][16*rsp_col_q +: 16] <= dram_rdata_i[16*i +: 16];
          rsp_col_q <= rsp_last_col ? '0 : rsp_col_q + 1'b1;
          drain_q   <= rsp_last_col;
        end else if (tpose && drain_q && sp_gnt_i) begin  // the chunk's rows, one a cycle
          rsp_row_q       <= rsp_row_q + 1'b1;
          rsp_rows_left_q <= rsp_rows_left_q - 1'b1;
          drain_idx_q     <= drain_end ? '0 : drain_idx_q + 1'b1;
          drain_q         <= !drain_end;
        end else if (!cur_q.store && dram_rvalid_i && dram_rready_o) begin
          if (cur_q.gather && rsp_last) begin
            rsp_grp_left_q <= rsp_grp_left_q - 1'b1;
            if (rsp_grp_left_q == 1) rsp_want_ids_q <= 1'b1;
          end
          if (rsp_last) begin
            rowbuf_q        <= '0;
            rsp_off_q       <= '0;
            rsp_row_q       <= rsp_row_q + 1'b1;
            rsp_rows_left_q <= rsp_rows_left_q - 1'b1;
          end else begin
            rowbuf_q  <= merged;
            rsp_off_q <= rsp_off_q + rsp_step;
          end
        end

        // Store: scratchpad rows in (one cycle after the read), writes out, acknowledgements back.
        if (sprd_go && sp_gnt_i) begin
          sprd_row_q  <= sprd_row_q + 1'b1;
          sprd_left_q <= sprd_left_q - 1'b1;
        end
        sprd_pend_q <= sprd_go && sp_gnt_i;
        if (sprd_pend_q) begin
          sbuf_q[sbuf_wr_q] <= sp_rdata_i;
          sbuf_wr_q         <= !sbuf_wr_q;
        end
        if (sbuf_pop) sbuf_rd_q <= !sbuf_rd_q;
        sbuf_cnt_q <= sbuf_cnt_q + 2'(sprd_pend_q) - 2'(sbuf_pop);
        wpend_q    <= wpend_q + 16'(iss_fire && cur_q.store) - 16'(dram_wack_i);

        if (finish) begin
          done_q        <= 1'b1;
          done_ticket_q <= rsp_q.ticket;
          if (next_valid_q) begin  // the early load's beats are next (its row buffer is empty)
            rsp_q           <= next_q;
            rsp_row_q       <= next_row_q;
            rsp_rows_left_q <= next_rows_q;
            next_valid_q    <= 1'b0;
          end else begin
            active_q <= 1'b0;
          end
        end
      end
    end
  end

endmodule

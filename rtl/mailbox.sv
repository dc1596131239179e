// Mailbox between the command processor and the firmware (software on a control core; in
// simulation, the Python firmware library served by the testbench).
//
// A queue of DEPTH requests, served in order. The command processor pushes a request with a tag
// (its command index; req_i, one cycle, only while !full_o). The oldest request sits in the
// request registers and rings doorbell_o until the firmware writes the response registers and
// rings resp_doorbell_i; the response goes back to the command processor as a one-cycle
// resp_valid_o with the request's tag, and the doorbell drops for a cycle before the next request
// rings, so the firmware sees one rising edge per request.
module mailbox
  import atalla_pkg::*;
#(
  parameter int DEPTH = 4  // a power of two
) (
  input  logic                                  clk_i,
  input  logic                                  rst_ni,
  // command processor side
  input  logic                                  req_i,
  input  mailbox_call_e                         call_i,
  input  logic [MAILBOX_MAX_ARGS-1:0][31:0]     args_i,
  input  logic [31:0]                           tag_i,
  output logic                                  full_o,
  output logic                                  empty_o,   // nothing queued or being served
  output logic                                  resp_valid_o,
  output status_e                               resp_status_o,
  output logic [31:0]                           resp_value_o,
  output logic [31:0]                           resp_tag_o,
  // firmware side
  output logic                                  doorbell_o,
  output mailbox_call_e                         req_call_o,
  output logic [MAILBOX_MAX_ARGS-1:0][31:0]     req_args_o,
  input  logic                                  resp_doorbell_i,
  input  status_e                               resp_status_i,
  input  logic [31:0]                           resp_value_i
);
  localparam int PW = $clog2(DEPTH);

  mailbox_call_e                     call_q[DEPTH];
  logic [MAILBOX_MAX_ARGS-1:0][31:0] args_q[DEPTH];
  logic [31:0]                       tag_q[DEPTH];
  logic [PW:0]                       wr_ptr, rd_ptr;  // with a wrap bit

  logic pop;
  assign pop        = doorbell_o && resp_doorbell_i;
  assign empty_o    = wr_ptr == rd_ptr;
  assign full_o     = wr_ptr[PW] != rd_ptr[PW] && wr_ptr[PW-1:0] == rd_ptr[PW-1:0];
  assign req_call_o = call_q[rd_ptr[PW-1:0]];
  assign req_args_o = args_q[rd_ptr[PW-1:0]];

  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      wr_ptr        <= '0;
      rd_ptr        <= '0;
      doorbell_o    <= 1'b0;
      resp_valid_o  <= 1'b0;
      resp_status_o <= STATUS_OK;
      resp_value_o  <= '0;
      resp_tag_o    <= '0;
    end else begin
      resp_valid_o <= pop;
      if (req_i && !full_o) begin
        call_q[wr_ptr[PW-1:0]] <= call_i;
        args_q[wr_ptr[PW-1:0]] <= args_i;
        tag_q[wr_ptr[PW-1:0]]  <= tag_i;
        wr_ptr                 <= wr_ptr + 1'b1;
      end
      if (pop) begin
        resp_status_o <= resp_status_i;
        resp_value_o  <= resp_value_i;
        resp_tag_o    <= tag_q[rd_ptr[PW-1:0]];
        rd_ptr        <= rd_ptr + 1'b1;
        doorbell_o    <= 1'b0;
      end else begin
        doorbell_o <= !empty_o;
      end
    end
  end
endmodule

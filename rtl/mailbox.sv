// Mailbox between the command processor and the firmware (software on a control core; in
// simulation, the Python firmware library served by the testbench).
//
// The command processor posts a request (one-cycle req_i); the mailbox holds it in its request
// registers and rings doorbell_o until the firmware writes the response registers and rings
// resp_doorbell_i; the response then goes back to the command processor as a one-cycle resp_valid_o.
module mailbox
  import atalla_pkg::*;
(
  input  logic                                  clk_i,
  input  logic                                  rst_ni,
  // command processor side
  input  logic                                  req_i,
  input  mailbox_call_e                         call_i,
  input  logic [MAILBOX_MAX_ARGS-1:0][31:0]     args_i,
  output logic                                  resp_valid_o,
  output status_e                               resp_status_o,
  output logic [31:0]                           resp_value_o,
  // firmware side
  output logic                                  doorbell_o,
  output mailbox_call_e                         req_call_o,
  output logic [MAILBOX_MAX_ARGS-1:0][31:0]     req_args_o,
  input  logic                                  resp_doorbell_i,
  input  status_e                               resp_status_i,
  input  logic [31:0]                           resp_value_i
);
  always_ff @(posedge clk_i) begin
    if (!rst_ni) begin
      doorbell_o    <= 1'b0;
      resp_valid_o  <= 1'b0;
      req_call_o    <= CALL_ALLOC;
      req_args_o    <= '0;
      resp_status_o <= STATUS_OK;
      resp_value_o  <= '0;
    end else begin
      resp_valid_o <= 1'b0;
      if (req_i) begin
        req_call_o <= call_i;
        req_args_o <= args_i;
        doorbell_o <= 1'b1;
      end else if (doorbell_o && resp_doorbell_i) begin
        resp_status_o <= resp_status_i;
        resp_value_o  <= resp_value_i;
        resp_valid_o  <= 1'b1;
        doorbell_o    <= 1'b0;
      end
    end
  end
endmodule

// Testbench scratchpad for the compute units: the ports of docs/rtl.md (three pair-read ports with
// one cycle of latency, one pair-write port with a mask bit per bf16 element) over storage in
// scratchpad_model.cpp.
module scratchpad_model #(
  parameter int LANES = 8,
  parameter int ROW_ADDR_BITS = 10
) (
  input  logic                              clk_i,
  input  logic [2:0]                        rd_en_i,
  input  logic [2:0][ROW_ADDR_BITS-1:0]     rd_row_i,
  output logic [2:0][2*LANES*16-1:0]        rd_data_o,
  input  logic                              wr_en_i,
  input  logic [ROW_ADDR_BITS-1:0]          wr_row_i,
  input  logic [2*LANES-1:0]                wr_mask_i,
  input  logic [2*LANES*16-1:0]             wr_data_i
);
  import "DPI-C" function void spm_read_pair(input int row, output bit [1023:0] data);
  import "DPI-C" function void spm_write_pair(input int row, input longint mask, input bit [1023:0] data);

  // Write first, like rtl/scratchpad.sv: a read of the row written in the same cycle sees the new data.
  always_ff @(posedge clk_i) begin
    if (wr_en_i) spm_write_pair(int'(wr_row_i), 64'(wr_mask_i), 1024'(wr_data_i));
    for (int p = 0; p < 3; p++) begin
      if (rd_en_i[p]) begin
        bit [1023:0] pair;
        spm_read_pair(int'(rd_row_i[p]), pair);
        rd_data_o[p] <= pair[2*LANES*16-1:0];
      end
    end
  end
endmodule

// Testbench of the fp32 units: walks the operand pairs that Python loaded into
// rtl/tb/fp_vectors.cpp, one pair per clock, op by op, stores each result back there through
// DPI-C, and raises done. Python waits only for done, then reads all results at once.
module fp_tb;
  // Op codes: the index of the op in OPS of cocotb_tests/tb_fp.py.
  localparam int OP_ADD = 0, OP_SUB = 1, OP_MUL = 2, OP_DIV = 3, OP_MAX = 4, OP_MIN = 5;
  localparam int OP_ROUND = 6, OP_LDEXP = 7, OP_TO_BF16 = 8, OP_SQRT = 9, OP_EXP = 10;
  localparam int NUM_OPS = 11;
  localparam logic [31:0] SIGN = 32'h8000_0000;

  import "DPI-C" function int fp_vectors_count(input int op);
  import "DPI-C" function int fp_vectors_a(input int op, input int i);
  import "DPI-C" function int fp_vectors_b(input int op, input int i);
  import "DPI-C" function void fp_vectors_store(input int op, input int i, input int y);

  logic clk;
  /* verilator lint_off UNDRIVEN */
  logic start;  // driven by Python once the vectors are loaded (Verilator starts it at 0)
  /* verilator lint_on UNDRIVEN */
  /* verilator lint_off UNUSEDSIGNAL */
  logic done;  // read by Python
  /* verilator lint_on UNUSEDSIGNAL */
  int op = 0;
  logic [31:0] a = '0, b = '0;
  logic [31:0] y_add, y_mul, y_div, y_minmax, y_round, y_ldexp, y_sqrt, y_exp;
  logic [15:0] y_bf16;
  logic [31:0] y;

  initial begin
    clk = 1'b0;
    forever #5 clk = ~clk;
  end

  fp32_add u_add (.a_i(a), .b_i(op == OP_SUB ? b ^ SIGN : b), .y_o(y_add));
  fp32_mul u_mul (.a_i(a), .b_i(b), .y_o(y_mul));
  fp32_div u_div (.a_i(a), .b_i(b), .y_o(y_div));
  fp32_minmax u_minmax (.a_i(a), .b_i(b), .max_i(op == OP_MAX), .y_o(y_minmax));
  fp32_round u_round (.a_i(a), .y_o(y_round));
  fp32_ldexp u_ldexp (.a_i(a), .n_i(b), .y_o(y_ldexp));
  fp32_to_bf16 u_to_bf16 (.a_i(a), .y_o(y_bf16));
  fp32_sqrt u_sqrt (.a_i(a), .y_o(y_sqrt));
  fp32_exp u_exp (.a_i(a), .y_o(y_exp));

  always_comb
    case (op)
      OP_ADD, OP_SUB: y = y_add;
      OP_MUL: y = y_mul;
      OP_DIV: y = y_div;
      OP_MAX, OP_MIN: y = y_minmax;
      OP_ROUND: y = y_round;
      OP_LDEXP: y = y_ldexp;
      OP_TO_BF16: y = {16'b0, y_bf16};
      OP_SQRT: y = y_sqrt;
      OP_EXP: y = y_exp;
      default: y = '0;
    endcase

  initial begin
    done = 1'b0;
    do @(posedge clk); while (!start);
    for (int o = 0; o < NUM_OPS; o++)
      for (int i = 0; i < fp_vectors_count(o); i++) begin
        @(posedge clk);
        op = o;
        a = fp_vectors_a(o, i);
        b = fp_vectors_b(o, i);
        @(negedge clk);  // the units are combinational: the result has settled
        fp_vectors_store(o, i, y);
      end
    @(posedge clk);
    done = 1'b1;
  end
endmodule

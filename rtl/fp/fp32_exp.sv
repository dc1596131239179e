// fp32 exp (docs/numerics.md: the fixed sequence of primitives); the arithmetic is fp32_pkg::fp32_exp.
// A thin wrapper, evaluated every cycle by a cycle-based simulator: inside a clocked block
// under an enable, call the function instead. Needs atalla_pkg.sv and fp/fp32_pkg.sv compiled first.
module fp32_exp (
    input  logic [31:0] a_i,
    output logic [31:0] y_o
);
  assign y_o = fp32_pkg::fp32_exp(a_i);
endmodule

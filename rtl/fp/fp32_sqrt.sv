// fp32 square root (docs/numerics.md); the arithmetic is fp32_pkg::fp32_sqrt.
// A thin wrapper, evaluated every cycle by a cycle-based simulator: inside a clocked block
// under an enable, call the function instead. Needs fp/fp32_pkg.sv compiled first.
module fp32_sqrt (
    input  logic [31:0] a_i,
    output logic [31:0] y_o
);
  assign y_o = fp32_pkg::fp32_sqrt(a_i);
endmodule

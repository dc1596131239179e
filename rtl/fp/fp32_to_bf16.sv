// fp32 -> bf16 (docs/numerics.md); the arithmetic is fp32_pkg::fp32_to_bf16.
// A thin wrapper, evaluated every cycle by a cycle-based simulator: inside a clocked block
// under an enable, call the function instead. Needs fp/fp32_pkg.sv compiled first.
module fp32_to_bf16 (
    input  logic [31:0] a_i,
    output logic [15:0] y_o
);
  assign y_o = fp32_pkg::fp32_to_bf16(a_i);
endmodule

// fp32 addition (docs/numerics.md); the arithmetic is fp32_pkg::fp32_add.
// Subtraction is this unit with b's sign bit flipped.
// A thin wrapper, evaluated every cycle by a cycle-based simulator: inside a clocked block
// under an enable, call the function instead. Needs fp/fp32_pkg.sv compiled first.
module fp32_add (
    input  logic [31:0] a_i,
    input  logic [31:0] b_i,
    output logic [31:0] y_o
);
  assign y_o = fp32_pkg::fp32_add(a_i, b_i);
endmodule

// Operand and result arrays of rtl/tb/fp_tb.sv. Python fills and reads them through ctypes, one
// call per array; the SystemVerilog testbench reads operands and writes results through DPI-C.
#include <cstdint>
#include <cstring>
#include <vector>

namespace {
constexpr int kOps = 16;  // room for every op code of fp_tb.sv
struct Vectors {
  std::vector<uint32_t> a, b, y;
};
Vectors vectors[kOps];
bool valid(int op) { return op >= 0 && op < kOps; }
}  // namespace

extern "C" {
// Python side.
void fp_vectors_load(int op, const uint32_t* a, const uint32_t* b, int n) {
  if (!valid(op) || n < 0) return;
  Vectors& v = vectors[op];
  v.a.assign(a, a + n);
  v.b.assign(b, b + n);
  v.y.assign(n, 0);
}
void fp_vectors_results(int op, uint32_t* y) {
  if (valid(op)) std::memcpy(y, vectors[op].y.data(), vectors[op].y.size() * sizeof(uint32_t));
}

// DPI-C side (imported by fp_tb.sv).
int fp_vectors_count(int op) { return valid(op) ? static_cast<int>(vectors[op].a.size()) : 0; }
int fp_vectors_a(int op, int i) { return static_cast<int>(vectors[op].a[i]); }
int fp_vectors_b(int op, int i) { return static_cast<int>(vectors[op].b[i]); }
void fp_vectors_store(int op, int i, int y) { vectors[op].y[i] = static_cast<uint32_t>(y); }
}

// Scratchpad storage for the compute-unit testbenches: a byte array Python reaches through ctypes.
#include <cstdint>
#include <cstring>
#include <vector>
#include "svdpi.h"

static std::vector<uint8_t> sp;
static int row_bytes = 0;

extern "C" {
// Python: size the scratchpad and get its address for a zero-copy NumPy view.
uint8_t* spm_init(int rows, int bytes_per_row) {
  row_bytes = bytes_per_row;
  sp.assign(static_cast<size_t>(rows) * bytes_per_row, 0);
  return sp.data();
}

// SV: rows `row` and `row + 1` (zeros past the end), low row in the low bits.
void spm_read_pair(int row, svBitVecVal* data) {
  std::memset(data, 0, 1024 / 8);
  uint8_t* out = reinterpret_cast<uint8_t*>(data);
  for (int i = 0; i < 2; i++) {
    size_t at = static_cast<size_t>(row + i) * row_bytes;
    if (at + row_bytes <= sp.size()) std::memcpy(out + i * row_bytes, &sp[at], row_bytes);
  }
}

void spm_write_pair(int row, int mask, const svBitVecVal* data) {
  const uint8_t* in = reinterpret_cast<const uint8_t*>(data);
  for (int i = 0; i < 2; i++) {
    size_t at = static_cast<size_t>(row + i) * row_bytes;
    if ((mask >> i & 1) && at + row_bytes <= sp.size()) std::memcpy(&sp[at], in + i * row_bytes, row_bytes);
  }
}
}

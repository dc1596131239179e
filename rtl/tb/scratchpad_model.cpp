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

// mask: bit e writes bf16 element e of the pair (row_bytes / 2 elements a row).
void spm_write_pair(int row, long long mask, const svBitVecVal* data) {
  const uint8_t* in = reinterpret_cast<const uint8_t*>(data);
  const size_t lanes = row_bytes / 2;
  for (size_t e = 0; e < 2 * lanes; e++) {
    size_t at = static_cast<size_t>(row) * row_bytes + 2 * e;
    if ((static_cast<unsigned long long>(mask) >> e & 1) && at + 2 <= sp.size()) std::memcpy(&sp[at], in + 2 * e, 2);
  }
}
}

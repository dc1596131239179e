// Program memory for cmdproc_tb: Python places the command stream at its DRAM offset.
#include <cstdint>
#include <cstring>
#include <vector>
#include "svdpi.h"

static std::vector<uint8_t> mem;

extern "C" {
uint8_t* ctb_init(uint32_t bytes) {
  mem.assign(bytes, 0);
  return mem.data();
}

void ctb_fetch(int addr, svBitVecVal* data) {
  std::memset(data, 0, 32);
  if (addr >= 0 && static_cast<size_t>(addr) + 32 <= mem.size()) std::memcpy(data, &mem[addr], 32);
}
}

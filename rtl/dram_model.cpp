// The DRAM's storage: a C++ byte array behind DPI-C (the off-chip part; rtl/dram.sv adds the timing).
//
// Python reaches the extern "C" functions through ctypes.CDLL(None) (the simulator is linked with
// --export-dynamic) and wraps atalla_dram_base() with NumPy, so loading a whole image or reading
// outputs is one NumPy copy:
//
//     lib = ctypes.CDLL(None)
//     lib.atalla_dram_init(ctypes.c_uint64(nbytes))          # idempotent for the same size
//     lib.atalla_dram_base.restype = ctypes.c_void_p
//     dram = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(lib.atalla_dram_base()))
//
// dram.sv calls atalla_dram_dpi_init(DRAM_BYTES) at time 0 too, so whichever side comes first
// allocates and the other finds the array already there. Re-initialising with another size
// reallocates (zeroed) and invalidates earlier NumPy views.
//
// The same file holds a testbench staging buffer (atalla_tb_buf_*): a second byte array through
// which SystemVerilog testbenches move bulk state (the scratchpad, say) to and from Python with
// one NumPy copy. It is not part of the design.
//
// Beats cross the DPI boundary as `bit [511:0]` (svBitVecVal words, least significant first);
// on a little-endian host byte i of the beat is byte i of the word array.

#include <svdpi.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

namespace {

constexpr int kBeatBytesMax = 64;  // bit [511:0]

struct ByteArray {
    std::unique_ptr<uint8_t[]> data;
    uint64_t size = 0;
    bool warned = false;

    int init(uint64_t bytes) {
        if (data && size == bytes) return 0;
        data.reset(new (std::nothrow) uint8_t[bytes ? bytes : 1]());
        if (!data) {
            size = 0;
            std::fprintf(stderr, "atalla dram_model: cannot allocate %llu bytes\n",
                         static_cast<unsigned long long>(bytes));
            return -1;
        }
        size = bytes;
        warned = false;
        return 0;
    }

    // Bytes [addr, addr + n) inside the array? Warn once per array otherwise.
    bool inside(uint64_t addr, uint64_t n, const char* what) {
        if (data && addr <= size && n <= size - addr) return true;
        if (!warned) {
            std::fprintf(stderr, "atalla dram_model: %s of %llu bytes at %#llx outside %llu bytes%s\n", what,
                         static_cast<unsigned long long>(n), static_cast<unsigned long long>(addr),
                         static_cast<unsigned long long>(size), data ? "" : " (not initialised)");
            warned = true;
        }
        return false;
    }

    // Beat read: bytes [0, nbytes) from addr, the rest of the 64-byte beat zero. Out of range reads zeros.
    void read(uint64_t addr, int nbytes, svBitVecVal* beat) {
        uint8_t tmp[kBeatBytesMax] = {};
        if (nbytes < 0) nbytes = 0;
        if (nbytes > kBeatBytesMax) nbytes = kBeatBytesMax;
        if (inside(addr, static_cast<uint64_t>(nbytes), "read")) std::memcpy(tmp, data.get() + addr, nbytes);
        std::memcpy(beat, tmp, sizeof tmp);
    }

    // Beat write: byte i of the beat goes to addr + i where bit i of strb is set. Out of range writes are dropped.
    void write(uint64_t addr, const svBitVecVal* beat, uint64_t strb) {
        if (!strb) return;
        const int hi = 63 - __builtin_clzll(strb);  // highest enabled byte
        if (!inside(addr, static_cast<uint64_t>(hi) + 1, "write")) return;
        uint8_t tmp[kBeatBytesMax];
        std::memcpy(tmp, beat, sizeof tmp);
        for (int i = 0; i <= hi; ++i)
            if (strb >> i & 1) data[addr + i] = tmp[i];
    }
};

ByteArray g_dram;
ByteArray g_tb_buf;

}  // namespace

extern "C" {

// ---- Python side (ctypes) --------------------------------------------------------------------

// Allocate `bytes` of zeroed DRAM (no-op when already that size). Returns 0, or -1 on failure.
int atalla_dram_init(uint64_t bytes) { return g_dram.init(bytes); }
uint64_t atalla_dram_size() { return g_dram.size; }
uint8_t* atalla_dram_base() { return g_dram.data.get(); }

int atalla_tb_buf_init(uint64_t bytes) { return g_tb_buf.init(bytes); }
uint64_t atalla_tb_buf_size() { return g_tb_buf.size; }
uint8_t* atalla_tb_buf_base() { return g_tb_buf.data.get(); }

// ---- SystemVerilog side (DPI-C imports) ------------------------------------------------------

// import "DPI-C" function void atalla_dram_dpi_init(input longint bytes);
void atalla_dram_dpi_init(long long bytes) { g_dram.init(static_cast<uint64_t>(bytes)); }

// import "DPI-C" function void atalla_dram_dpi_read(input longint addr, input int nbytes, output bit [511:0] beat);
void atalla_dram_dpi_read(long long addr, int nbytes, svBitVecVal* beat) {
    g_dram.read(static_cast<uint64_t>(addr), nbytes, beat);
}

// import "DPI-C" function void atalla_dram_dpi_write(input longint addr, input bit [511:0] beat, input longint strb);
void atalla_dram_dpi_write(long long addr, const svBitVecVal* beat, long long strb) {
    g_dram.write(static_cast<uint64_t>(addr), beat, static_cast<uint64_t>(strb));
}

// Testbench staging buffer, same conventions.
void atalla_tb_buf_dpi_init(long long bytes) { g_tb_buf.init(static_cast<uint64_t>(bytes)); }
void atalla_tb_buf_dpi_read(long long addr, int nbytes, svBitVecVal* beat) {
    g_tb_buf.read(static_cast<uint64_t>(addr), nbytes, beat);
}
void atalla_tb_buf_dpi_write(long long addr, const svBitVecVal* beat, long long strb) {
    g_tb_buf.write(static_cast<uint64_t>(addr), beat, static_cast<uint64_t>(strb));
}

}  // extern "C"

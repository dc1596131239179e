// The firmware's side of the mailbox and of the DMA register port, in C memory (atalla_tb).
//
// Python serves the mailbox through these functions (ctypes, as the DRAM model) instead of reading
// and driving the mailbox's signals through VPI, which cost tens of microseconds per call:
//   - when a request can be served the testbench hands it over (fw_port_request) and flips a
//     signal; Python wakes on the flip after the time slot's evaluation and takes the request
//     (atalla_fw_take_request). The hand-over only stores: Verilator may run it on a worker
//     thread, which must not enter Python;
//   - it posts its answer (atalla_fw_answer) and DMA descriptors (atalla_fw_dma) and the
//     testbench takes them at the next falling clock edge (fw_port_take_*), so the design sees
//     them at the next rising edge, as a register written by a control core would be.
// rtl/tb/replay_main.cpp takes no request and posts the recorded answers and descriptors through
// the same functions.

#include <svdpi.h>

#include <cstdint>
#include <cstring>

#include "../../include/atalla_abi.h"

static_assert(ATALLA_DMA_ARG_COUNT <= ATALLA_MAILBOX_MAX_ARGS, "a DMA descriptor is a DMA call's arguments");

namespace {

struct Posted {
    uint32_t words[ATALLA_MAILBOX_MAX_ARGS] = {};
    bool pending = false;  // posted and not yet taken by the testbench
};

// The request handed over last: its call kind, argument words, and the command index and cycle it
// was handed over at. The bench hands over the next one only after the answer to this one.
struct Request {
    uint32_t call = 0;
    uint32_t args[ATALLA_MAILBOX_MAX_ARGS] = {};
    uint32_t command = 0;
    uint64_t cycle = 0;
    bool pending = false;  // handed over and not yet taken by Python
};

struct FirmwarePort {
    Request request;
    Posted answer;  // status, value, service latency in cycles
    Posted dma;     // ATALLA_DMA_ARG_COUNT descriptor words
};

FirmwarePort g_port;

// -1 if the previous post is still there: its poster (tb_cosim.py, replay_main.cpp) names the error.
int post(Posted& slot, const uint32_t* words, int n) {
    if (slot.pending) return -1;
    std::memcpy(slot.words, words, sizeof(uint32_t) * n);
    slot.pending = true;
    return 0;
}

// Hands the posted words to the testbench; the words of the last one stay on the outputs.
int take(Posted& slot) {
    const bool fresh = slot.pending;
    slot.pending = false;
    return fresh;
}

}  // namespace

extern "C" {

// ---- Python side (ctypes) --------------------------------------------------------------------

// The request handed over since the last call: 1 and its fields, or 0.
int atalla_fw_take_request(uint32_t* call, uint32_t* args, uint32_t* command, uint64_t* cycle) {
    Request& r = g_port.request;
    if (!r.pending) return 0;
    *call = r.call;
    std::memcpy(args, r.args, sizeof r.args);
    *command = r.command;
    *cycle = r.cycle;
    r.pending = false;
    return 1;
}

// Returns 0, or -1 if the previous answer has not been taken (a testbench bug).
int atalla_fw_answer(uint32_t status, uint32_t value, uint32_t delay) {
    const uint32_t words[3] = {status, value, delay};
    return post(g_port.answer, words, 3);
}

// desc: ATALLA_DMA_ARG_COUNT words. Returns 0, or -1 if the previous descriptor has not been taken.
int atalla_fw_dma(const uint32_t* desc) { return post(g_port.dma, desc, ATALLA_DMA_ARG_COUNT); }

// ---- SystemVerilog side (DPI-C imports) ------------------------------------------------------

// import "DPI-C" function void fw_port_request(input int call, input bit [MAILBOX_MAX_ARGS*32-1:0] args,
//                                              input int command, input longint cycle);
void fw_port_request(int call, const svBitVecVal* args, int command, long long cycle) {
    static_assert(sizeof(svBitVecVal) == sizeof(uint32_t), "DPI packs bit vectors in 32-bit words");
    Request& r = g_port.request;
    r.call = static_cast<uint32_t>(call);
    std::memcpy(r.args, args, sizeof r.args);
    r.command = static_cast<uint32_t>(command);
    r.cycle = static_cast<uint64_t>(cycle);
    r.pending = true;
}

// import "DPI-C" function bit fw_port_take_answer(output int status, output int value, output int delay);
svBit fw_port_take_answer(int* status, int* value, int* delay) {
    *status = static_cast<int>(g_port.answer.words[0]);
    *value = static_cast<int>(g_port.answer.words[1]);
    *delay = static_cast<int>(g_port.answer.words[2]);
    return take(g_port.answer);
}

// import "DPI-C" function bit fw_port_take_dma(output bit [DMA_ARG_COUNT*32-1:0] desc);
svBit fw_port_take_dma(svBitVecVal* desc) {
    std::memcpy(desc, g_port.dma.words, sizeof(uint32_t) * ATALLA_DMA_ARG_COUNT);
    return take(g_port.dma);
}

}  // extern "C"

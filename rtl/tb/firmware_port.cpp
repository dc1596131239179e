// The firmware's side of the mailbox and of the DMA register port, in C memory (atalla_tb).
//
// Python serves the mailbox through these functions (ctypes, as the DRAM model) instead of reading
// and driving signals through VPI, which cost tens of microseconds per call:
//   - at a request's doorbell the testbench copies the request in (fw_port_request) and Python,
//     woken by the doorbell, reads it (atalla_fw_request);
//   - Python posts its answer (atalla_fw_answer) and DMA descriptors (atalla_fw_dma) and the
//     testbench takes them at the next falling clock edge (fw_port_take_*), so the design sees
//     them at the rising edge after the one that rang, as a register written by a CPU would be.
// rtl/tb/replay_main.cpp posts the recorded answers and descriptors through the same functions.

#include <svdpi.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "../../include/atalla_abi.h"

static_assert(ATALLA_DMA_ARG_COUNT <= ATALLA_MAILBOX_MAX_ARGS, "a DMA descriptor is a DMA call's arguments");

namespace {

struct Posted {
    uint32_t words[ATALLA_MAILBOX_MAX_ARGS] = {};
    bool pending = false;  // posted and not yet taken by the testbench
};

struct FirmwarePort {
    uint32_t call = 0;
    uint32_t args[ATALLA_MAILBOX_MAX_ARGS] = {};
    uint32_t dma_idle = 0;  // the DMA register port was ready when the request rang
    Posted answer;          // status, value, service latency in cycles
    Posted dma;             // ATALLA_DMA_ARG_COUNT descriptor words
};

FirmwarePort g_port;

int post(Posted& slot, const uint32_t* words, int n, const char* what) {
    if (slot.pending) {
        std::fprintf(stderr, "atalla firmware_port: %s posted before the testbench took the previous one\n", what);
        return -1;
    }
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

// The request that rang last: its call kind, and its ATALLA_MAILBOX_MAX_ARGS argument words in args.
uint32_t atalla_fw_request(uint32_t* args, uint32_t* dma_idle) {
    std::memcpy(args, g_port.args, sizeof g_port.args);
    *dma_idle = g_port.dma_idle;
    return g_port.call;
}

// Returns 0, or -1 if the previous answer has not been taken (a testbench bug).
int atalla_fw_answer(uint32_t status, uint32_t value, uint32_t delay) {
    const uint32_t words[3] = {status, value, delay};
    return post(g_port.answer, words, 3, "an answer");
}

// desc: ATALLA_DMA_ARG_COUNT words. Returns 0, or -1 if the previous descriptor has not been taken.
int atalla_fw_dma(const uint32_t* desc) { return post(g_port.dma, desc, ATALLA_DMA_ARG_COUNT, "a DMA descriptor"); }

// ---- SystemVerilog side (DPI-C imports) ------------------------------------------------------

// import "DPI-C" function void fw_port_request(input int call, input bit [MAILBOX_MAX_ARGS*32-1:0] args,
//                                              input bit dma_idle);
void fw_port_request(int call, const svBitVecVal* args, svBit dma_idle) {
    g_port.call = static_cast<uint32_t>(call);
    std::memcpy(g_port.args, args, sizeof g_port.args);
    g_port.dma_idle = dma_idle;
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

// Pure-Verilator replay of a co-simulation run: the same atalla_tb design and program with no
// Python. The co-simulation recorded everything Python put into the run (rtl_recording.bin, format
// in atalla/tb_formats.py); this main applies it at the recorded simulation times and runs
// the timed model until done_o, fault_o or watchdog_o, as fast as Verilator alone goes.
//
//     replay <rtl_recording.bin> <out_dir>
//
// writes to out_dir:
//   replay_result.json  status, sim_time (ps), wall_seconds of the window the co-simulation timed
//                       (recording window_start to the end), and the final value of every public
//                       signal of atalla_tb as a hex string
//   replay_dram.bin     the DRAM up to its last nonzero byte (the rest is zero)
//   replay_trace.bin    the trace recorder's events, atalla_trace_record after atalla_trace_record
// runtime/rtl/replay.py builds this (with the co-simulation's sources, parameters and flags) and
// compares the results with the co-simulation's.
//
// Applying a recorded value: the co-simulation drove signals from callbacks that ran after the
// time slot's evaluation, then evaluated again before time moved on; the replay does the same.
// Signals are reached through Verilator's symbol table (they are public through atalla_tb.vlt) and
// written in place, which is all vpi_put_value does besides asking for another evaluation. Answers
// and DMA descriptors are posted to the firmware port (firmware_port.cpp) through the functions
// the firmware used; it posted them (and wrote host-op results to DRAM) during the slot's
// evaluation, but the bench reads neither before the next clock edge, so after it is the same.

#include <verilated.h>
#include <verilated_syms.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../include/atalla_abi.h"
#include "Vtop.h"
#include "atalla_tb_formats.h"

extern "C" {
int atalla_dram_init(uint64_t bytes);     // dram_model.cpp
uint64_t atalla_dram_size();
uint8_t* atalla_dram_base();
uint64_t trace_count();                   // trace_recorder.cpp
const atalla_trace_record* trace_data();
int atalla_fw_answer(uint32_t status, uint32_t value, uint32_t delay);  // firmware_port.cpp
int atalla_fw_dma(const uint32_t* desc);
}

namespace {

constexpr const char* kScope = "TOP.atalla_tb";

struct Record {
    uint64_t time;
    uint32_t tag;
    uint64_t address = 0;                // DRAM records
    std::vector<uint32_t> words;         // signal writes and posts
    std::vector<uint8_t> bytes;          // DRAM records
};

struct Recording {
    uint64_t dram_bytes = 0, window_start = 0, end_time = 0;
    std::vector<std::string> signals;
    std::vector<Record> records;
};

class Reader {
  public:
    Reader(const std::string& path) : path_(path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error(path + ": cannot open");
        data_.assign(std::istreambuf_iterator<char>(in), {});
    }
    bool done() const { return at_ == data_.size(); }
    template <typename T> T get() {
        T v;
        std::memcpy(&v, take(sizeof v), sizeof v);  // little-endian host, as the format
        return v;
    }
    const char* take(size_t n) {
        if (n > data_.size() - at_)
            throw std::runtime_error(path_ + ": truncated at byte " + std::to_string(at_));
        const char* p = data_.data() + at_;
        at_ += n;
        return p;
    }

  private:
    std::string path_;
    std::vector<char> data_;
    size_t at_ = 0;
};

Recording load(const std::string& path) {
    Reader r(path);
    const auto header = r.get<atalla_replay_header>();
    if (std::memcmp(header.magic, ATALLA_REPLAY_MAGIC, sizeof header.magic))
        throw std::runtime_error(path + ": not a co-simulation recording (bad magic)");
    Recording rec;
    rec.dram_bytes = header.dram_bytes;
    rec.window_start = header.window_start;
    rec.end_time = header.end_time;
    const uint32_t n_signals = header.signal_count;
    for (uint32_t i = 0; i < n_signals; ++i) {
        const uint32_t length = r.get<uint32_t>();
        rec.signals.emplace_back(r.take(length), length);
    }
    while (!r.done()) {
        const auto head = r.get<atalla_replay_record>();
        Record x{head.time, head.tag};
        if (!rec.records.empty() && x.time < rec.records.back().time)
            throw std::runtime_error(path + ": records out of time order at time " + std::to_string(x.time));
        if (x.tag == ATALLA_REPLAY_DRAM_TAG) {
            const auto dram = r.get<atalla_replay_dram>();
            x.address = dram.address;
            if (x.address + dram.length > rec.dram_bytes)
                throw std::runtime_error(path + ": DRAM record outside the DRAM at address " +
                                         std::to_string(x.address));
            const char* p = r.take(dram.length);
            x.bytes.assign(p, p + dram.length);
        } else {
            if (x.tag >= n_signals && x.tag != ATALLA_REPLAY_PORT_ANSWER && x.tag != ATALLA_REPLAY_PORT_DMA)
                throw std::runtime_error(path + ": write to unknown signal tag " + std::to_string(x.tag));
            const uint32_t n = r.get<uint32_t>();
            for (uint32_t i = 0; i < n; ++i) x.words.push_back(r.get<uint32_t>());
            if ((x.tag == ATALLA_REPLAY_PORT_ANSWER && n != 3) ||
                (x.tag == ATALLA_REPLAY_PORT_DMA && n != ATALLA_DMA_ARG_COUNT))
                throw std::runtime_error(path + ": a post of " + std::to_string(n) + " words at time " +
                                         std::to_string(x.time));
        }
        rec.records.push_back(std::move(x));
    }
    return rec;
}

// A public signal of atalla_tb, read and written in place.
struct Signal {
    std::string name;
    const VerilatedVar* var;

    uint32_t bits() const { return var->entBits(); }
    bool integral() const {
        const auto t = var->vltype();
        return var->udims() == 0 && t >= VLVT_UINT8 && t <= VLVT_WDATA;
    }
    uint32_t storage_words() const {
        const auto t = var->vltype();
        return t == VLVT_WDATA ? (bits() + 31) / 32 : t == VLVT_UINT64 ? 2 : 1;
    }

    std::vector<uint32_t> read() const {
        std::vector<uint32_t> w(storage_words(), 0);
        switch (var->vltype()) {
            case VLVT_UINT8: w[0] = *static_cast<const CData*>(var->datap()); break;
            case VLVT_UINT16: w[0] = *static_cast<const SData*>(var->datap()); break;
            case VLVT_UINT32: w[0] = *static_cast<const IData*>(var->datap()); break;
            case VLVT_UINT64: std::memcpy(w.data(), var->datap(), 8); break;
            default: std::memcpy(w.data(), var->datap(), 4 * w.size()); break;  // WDATA: words, LSW first
        }
        return w;
    }

    void write(const std::vector<uint32_t>& value) const {
        std::vector<uint32_t> w(storage_words(), 0);
        for (size_t i = 0; i < value.size(); ++i) {
            const uint32_t fits = i * 32 >= bits() ? 0 : bits() - i * 32 >= 32 ? ~0u : (1u << (bits() - i * 32)) - 1;
            if (value[i] & ~fits) throw std::runtime_error("the value recorded for " + name + " is wider than its " +
                                                           std::to_string(bits()) + " bits");
            if (i < w.size()) w[i] = value[i];
        }
        switch (var->vltype()) {
            case VLVT_UINT8: *static_cast<CData*>(var->datap()) = static_cast<CData>(w[0]); break;
            case VLVT_UINT16: *static_cast<SData*>(var->datap()) = static_cast<SData>(w[0]); break;
            case VLVT_UINT32: *static_cast<IData*>(var->datap()) = w[0]; break;
            case VLVT_UINT64: std::memcpy(var->datap(), w.data(), 8); break;
            default: std::memcpy(var->datap(), w.data(), 4 * w.size()); break;
        }
    }

    std::string hex() const {
        const auto w = read();
        std::string out;
        char buf[9];
        for (size_t i = w.size(); i-- > 0;) {
            std::snprintf(buf, sizeof buf, "%08" PRIx32, w[i]);
            out += buf;
        }
        return out;
    }
};

Signal find(const VerilatedScope* scope, const std::string& name) {
    const VerilatedVar* var = scope->varFind(name.c_str());
    if (!var) throw std::runtime_error("signal " + name + " of the recording is not a public signal of atalla_tb");
    Signal s{name, var};
    if (!s.integral()) throw std::runtime_error("signal " + name + " is not a packed integral signal");
    return s;
}

void write_file(const std::string& path, const void* data, size_t n) {
    std::ofstream out(path, std::ios::binary);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    if (!out) throw std::runtime_error(path + ": cannot write");
}

int replay(const std::string& recording_path, const std::string& out_dir) {
    const Recording rec = load(recording_path);
    if (atalla_dram_init(rec.dram_bytes)) throw std::runtime_error("cannot allocate the DRAM model");

    auto context = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vtop>(context.get(), "TOP");
    const VerilatedScope* scope = context->scopeFind(kScope);
    if (!scope) throw std::runtime_error(std::string("no scope ") + kScope + " in the design");
    std::vector<Signal> targets;
    for (const auto& name : rec.signals) targets.push_back(find(scope, name));
    const CData* ends[] = {static_cast<const CData*>(find(scope, "done_o").var->datap()),
                           static_cast<const CData*>(find(scope, "fault_o").var->datap()),
                           static_cast<const CData*>(find(scope, "watchdog_o").var->datap())};

    constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
    size_t next = 0;
    bool timing = false, ended = false;
    std::chrono::steady_clock::time_point started;
    uint64_t now = 0;
    while (true) {
        top->eval();
        if (timing && (*ends[0] || *ends[1] || *ends[2])) {
            ended = true;
            break;
        }
        if (next < rec.records.size() && rec.records[next].time == now) {
            for (; next < rec.records.size() && rec.records[next].time == now; ++next) {
                const Record& r = rec.records[next];
                if (r.tag == ATALLA_REPLAY_DRAM_TAG) {
                    if (atalla_dram_size() != rec.dram_bytes)
                        throw std::runtime_error("the design's DRAM size differs from the recording's " +
                                                 std::to_string(rec.dram_bytes));
                    std::memcpy(atalla_dram_base() + r.address, r.bytes.data(), r.bytes.size());
                } else if (r.tag == ATALLA_REPLAY_PORT_ANSWER || r.tag == ATALLA_REPLAY_PORT_DMA) {
                    const int failed = r.tag == ATALLA_REPLAY_PORT_ANSWER
                                           ? atalla_fw_answer(r.words[0], r.words[1], r.words[2])
                                           : atalla_fw_dma(r.words.data());
                    if (failed) throw std::runtime_error("a post at time " + std::to_string(r.time) +
                                                         " before the testbench took the previous one");
                } else {
                    targets[r.tag].write(r.words);
                }
            }
            top->eval();
        }
        if (!timing && now >= rec.window_start) {
            timing = true;
            started = std::chrono::steady_clock::now();
        }
        uint64_t then = top->eventsPending() ? top->nextTimeSlot() : kNever;
        if (next < rec.records.size() && rec.records[next].time < then) then = rec.records[next].time;
        if (then == kNever || then > rec.end_time) break;  // the run should have ended by now
        now = then;
        context->time(now);
    }
    const double wall = timing ? std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() : 0;
    top->final();

    const char* status = !ended ? "overran" : *ends[0] ? "done" : *ends[1] ? "fault" : "watchdog";
    std::string json = "{\"status\": \"" + std::string(status) + "\", \"sim_time\": " + std::to_string(now) +
                       ", \"wall_seconds\": ";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", wall);
    json += std::string(buf) + ", \"signals\": {";
    bool first = true;
    for (const auto& [name, var] : *scope->varsp()) {
        const Signal s{name, &var};
        if (!s.integral()) continue;
        json += std::string(first ? "" : ", ") + "\"" + name + "\": \"" + s.hex() + "\"";
        first = false;
    }
    json += "}}\n";
    write_file(out_dir + "/replay_result.json", json.data(), json.size());

    const uint8_t* dram = atalla_dram_base();
    uint64_t used = atalla_dram_size();
    while (used && !dram[used - 1]) --used;
    write_file(out_dir + "/replay_dram.bin", dram, used);
    write_file(out_dir + "/replay_trace.bin", trace_data(), trace_count() * sizeof(atalla_trace_record));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s <rtl_recording.bin> <out_dir>\n", argv[0]);
        return 2;
    }
    try {
        return replay(argv[1], argv[2]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "replay: %s\n", e.what());
        return 1;
    }
}

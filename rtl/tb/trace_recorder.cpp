// Event recorder for atalla_tb: trace records (atalla/tb_formats.py) that Python reads in one copy.
#include <cstdint>
#include <vector>

#include "atalla_tb_formats.h"

static std::vector<atalla_trace_record> events;

extern "C" {
void trace_event(int64_t cycle, int kind, int a, int b) { events.push_back({cycle, kind, a, b, 0}); }
uint64_t trace_count() { return events.size(); }
const atalla_trace_record* trace_data() { return events.data(); }
}

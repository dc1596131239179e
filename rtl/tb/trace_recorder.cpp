// Event recorder for atalla_tb: (cycle, kind, a, b) records that Python reads in one copy.
#include <cstdint>
#include <vector>

struct Event {
  int64_t cycle;
  int32_t kind, a, b, pad;
};
static std::vector<Event> events;

extern "C" {
void trace_event(int64_t cycle, int kind, int a, int b) { events.push_back({cycle, kind, a, b, 0}); }
uint64_t trace_count() { return events.size(); }
const Event* trace_data() { return events.data(); }
}

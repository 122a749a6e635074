// Deadlines: the engine's due times (lease expiry, blocked-get timeouts, delayed redelivery) in
// one min-heap, polled by the engine's tick. An event is a hint: the engine checks on pop that
// what it names is still due (a lease extended or acked since leaves a stale event behind).
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

namespace saker::queue {

class Deadlines {
 public:
  enum class Kind : uint8_t {
    kLease,      // id = lease id
    kWaiter,     // id = get handle
    kRedeliver,  // id = subscription uid: a delayed offset may be deliverable now
  };
  struct Event {
    int64_t due_ms = 0;  // monotonic
    Kind kind = Kind::kLease;
    uint64_t id = 0;
  };

  void Add(int64_t due_ms, Kind kind, uint64_t id) { heap_.push(Event{due_ms, kind, id}); }
  // The earliest event due at or before `now_ms`, removed; nullopt when none is due.
  std::optional<Event> PopDue(int64_t now_ms);
  size_t size() const { return heap_.size(); }

 private:
  struct Later {
    bool operator()(const Event& a, const Event& b) const { return a.due_ms > b.due_ms; }
  };
  std::priority_queue<Event, std::vector<Event>, Later> heap_;
};

}  // namespace saker::queue

// Clock: the only source of time for queue logic, so tests can use a FakeClock
// (tests/testutil/fake_clock.h). Monotonic for deadlines and leases; wall time for item
// timestamps and expiry (Unix milliseconds, as stored on disk).
#pragma once

#include <chrono>
#include <cstdint>

namespace saker {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds since an arbitrary start; never goes backwards.
  virtual int64_t NowMonoMs() const = 0;
  // Wall-clock Unix time in milliseconds.
  virtual int64_t NowWallMs() const = 0;
};

// Monotonic microseconds, for request latency histograms (not queue logic: use a Clock there).
inline int64_t MonotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class SystemClock final : public Clock {
 public:
  int64_t NowMonoMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t NowWallMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  // The process-wide instance.
  static SystemClock* Get() {
    static SystemClock clock;
    return &clock;
  }
};

}  // namespace saker

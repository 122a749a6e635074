// FakeClock: time that moves only when a test says so.
#pragma once

#include "server/common/clock.h"

namespace saker::test {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t wall_ms = 1'700'000'000'000, int64_t mono_ms = 1'000'000)
      : wall_ms_(wall_ms), mono_ms_(mono_ms) {}
  int64_t NowMonoMs() const override { return mono_ms_; }
  int64_t NowWallMs() const override { return wall_ms_; }
  void Advance(int64_t ms) {
    mono_ms_ += ms;
    wall_ms_ += ms;
  }

 private:
  int64_t wall_ms_;
  int64_t mono_ms_;
};

}  // namespace saker::test

// Histogram: latency distribution with fixed log-spaced buckets (microseconds), cheap enough for
// every request on the loop thread: one branch-free bucket search and an increment. Exported as
// a Prometheus histogram and as quantiles. Single-threaded (loop thread) unless said.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace saker {

class Histogram {
 public:
  // Upper bounds in µs: 50, 100, 250, 500, 1 ms, 2.5, 5, 10, 25, 50, 100, 250, 500 ms, 1 s,
  // 2.5, 5, 10 s, +Inf.
  static constexpr std::array<uint64_t, 17> kBoundsUs = {
      50,    100,    250,    500,    1000,    2500,    5000,    10000,   25000,
      50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

  void Record(uint64_t us) {
    size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) i++;
    counts_[i]++;
    count_++;
    sum_us_ += us;
  }
  uint64_t count() const { return count_; }
  uint64_t sum_us() const { return sum_us_; }
  // Cumulative count of observations <= kBoundsUs[i] (i == size(): all).
  uint64_t CumulativeCount(size_t i) const;
  // Upper bound (µs) of the bucket holding quantile q (0..1); an estimate, 0 if empty.
  uint64_t QuantileUs(double q) const;

  // Appends a Prometheus histogram (seconds) named `name` with `labels` ("" or `a="b"`).
  void AppendPrometheus(std::string* out, const std::string& name, const std::string& labels) const;

 private:
  std::array<uint64_t, kBoundsUs.size() + 1> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_us_ = 0;
};

}  // namespace saker

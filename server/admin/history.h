// History: a short per-queue record of (time, items put, items handed out, depth), sampled by the
// server on a timer, from which the status page draws put/get rates and a depth trend. Memory is
// bounded: at most kMaxSamples samples for each of at most `max_queues` queues (a few KiB each).
// Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "server/queue/queue_manager.h"

namespace saker::admin {

class History {
 public:
  // 60 samples: the last 10 minutes at the default status_sample_ms of 10 s.
  static constexpr size_t kMaxSamples = 60;
  // Rates are taken over up to this many sample intervals (a minute at the default).
  static constexpr size_t kRateSpan = 6;

  struct Sample {
    int64_t wall_ms = 0;
    uint64_t put = 0;        // QueueStats::put
    uint64_t delivered = 0;  // sum of the subscriptions' delivered
    uint64_t depth = 0;      // QueueStats::depth
  };

  // Items per second over the newest samples; 0 with fewer than two.
  struct Rates {
    double put_per_s = 0;
    double get_per_s = 0;
  };

  explicit History(size_t max_queues = 1000) : max_queues_(max_queues) {}

  // Appends one sample per queue of `queues` (taken at `now_wall_ms`), dropping the oldest beyond
  // kMaxSamples. Queues no longer listed are forgotten; queues beyond `max_queues` (in the order
  // given) are not tracked. A queue whose counters went backwards (deleted and created again)
  // starts over.
  void Record(int64_t now_wall_ms, const std::vector<queue::QueueStats>& queues);

  // Samples of `queue`, oldest first; empty if it is not tracked.
  std::vector<Sample> Samples(std::string_view queue) const;
  Rates RatesOf(std::string_view queue) const;
  size_t tracked() const { return rings_.size(); }

 private:
  // Up to kMaxSamples samples; once full, `next` is the oldest, overwritten by the next one.
  struct Ring {
    std::vector<Sample> samples;
    size_t next = 0;
    const Sample& newest() const { return samples[(next + samples.size() - 1) % samples.size()]; }
  };

  size_t max_queues_;
  std::map<std::string, Ring, std::less<>> rings_;
};

// An inline SVG sparkline (`width` x `height` px, no external assets) of the samples' depth,
// scaled to their maximum; "" with no samples.
std::string DepthSparkline(const std::vector<History::Sample>& samples, int width = 120,
                           int height = 24);

}  // namespace saker::admin

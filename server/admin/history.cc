// History's rings and the status page's sparkline. Sampling is a few integers per queue every
// status_sample_ms, so the page can show rates without keeping per-request state anywhere.
#include "server/admin/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace saker::admin {

void History::Record(int64_t now_wall_ms, const std::vector<queue::QueueStats>& queues) {
  std::set<std::string_view> listed;
  for (const auto& q : queues) {
    auto it = rings_.find(q.name);
    if (it == rings_.end()) {
      if (rings_.size() >= max_queues_) continue;
      it = rings_.emplace(q.name, Ring{}).first;
    }
    listed.insert(it->first);
    Sample sample{now_wall_ms, q.put, 0, q.depth};
    for (const auto& sub : q.subscriptions) sample.delivered += sub.delivered;
    Ring& ring = it->second;
    if (!ring.samples.empty() &&
        (sample.put < ring.newest().put || sample.delivered < ring.newest().delivered)) {
      ring = Ring{};
    }
    if (ring.samples.size() < kMaxSamples) {
      ring.samples.push_back(sample);
    } else {
      ring.samples[ring.next] = sample;
      ring.next = (ring.next + 1) % kMaxSamples;
    }
  }
  std::erase_if(rings_, [&](const auto& entry) { return !listed.contains(entry.first); });
}

std::vector<History::Sample> History::Samples(std::string_view queue) const {
  auto it = rings_.find(queue);
  if (it == rings_.end()) return {};
  const Ring& ring = it->second;
  std::vector<Sample> out;
  out.reserve(ring.samples.size());
  for (size_t i = 0; i < ring.samples.size(); ++i) {
    out.push_back(ring.samples[(ring.next + i) % ring.samples.size()]);
  }
  return out;
}

History::Rates History::RatesOf(std::string_view queue) const {
  std::vector<Sample> samples = Samples(queue);
  if (samples.size() < 2) return {};
  const Sample& last = samples.back();
  const Sample& first = samples[samples.size() - 1 - std::min(kRateSpan, samples.size() - 1)];
  double seconds = static_cast<double>(last.wall_ms - first.wall_ms) / 1e3;
  if (seconds <= 0) return {};
  return {static_cast<double>(last.put - first.put) / seconds,
          static_cast<double>(last.delivered - first.delivered) / seconds};
}

std::string DepthSparkline(const std::vector<History::Sample>& samples, int width, int height) {
  if (samples.empty()) return "";
  uint64_t max_depth = 0;
  for (const auto& s : samples) max_depth = std::max(max_depth, s.depth);
  // One slot per possible sample, right-aligned: a young history grows in from the right and
  // every queue's line has the same time scale.
  double step = static_cast<double>(width - 2) / static_cast<double>(History::kMaxSamples - 1);
  double x0 = 1 + step * static_cast<double>(History::kMaxSamples - samples.size());
  auto y = [&](uint64_t depth) {
    double fraction =
        max_depth == 0 ? 0 : static_cast<double>(depth) / static_cast<double>(max_depth);
    return 1 + static_cast<double>(height - 2) * (1 - fraction);
  };
  // A lone sample shows as a short flat segment.
  std::string points =
      samples.size() == 1 ? fmt::format("{:.1f},{:.1f} ", x0 - step, y(samples[0].depth)) : "";
  for (size_t i = 0; i < samples.size(); ++i) {
    points += fmt::format("{}{:.1f},{:.1f}", i ? " " : "", x0 + step * static_cast<double>(i),
                          y(samples[i].depth));
  }
  return fmt::format(
      "<svg width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\"><title>depth, max {2}</title><polyline fill=\"none\" "
      "stroke=\"#36c\" stroke-width=\"1.5\" points=\"{3}\"/></svg>",
      width, height, max_depth, points);
}

}  // namespace saker::admin

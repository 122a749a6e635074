#include "server/common/histogram.h"

#include <fmt/format.h>

namespace saker {

uint64_t Histogram::CumulativeCount(size_t i) const {
  uint64_t n = 0;
  for (size_t k = 0; k <= i && k < counts_.size(); k++) n += counts_[k];
  return n;
}

uint64_t Histogram::QuantileUs(double q) const {
  if (count_ == 0) return 0;
  auto target = static_cast<uint64_t>(q * static_cast<double>(count_));
  if (target == 0) target = 1;
  uint64_t n = 0;
  for (size_t i = 0; i < counts_.size(); i++) {
    n += counts_[i];
    if (n >= target) return i < kBoundsUs.size() ? kBoundsUs[i] : kBoundsUs.back() * 2;
  }
  return kBoundsUs.back() * 2;
}

void Histogram::AppendPrometheus(std::string* out, const std::string& name,
                                 const std::string& labels) const {
  std::string sep = labels.empty() ? "" : ",";
  uint64_t n = 0;
  for (size_t i = 0; i < kBoundsUs.size(); i++) {
    n += counts_[i];
    *out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                        static_cast<double>(kBoundsUs[i]) / 1e6, n);
  }
  *out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, count_);
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  *out += fmt::format("{}_sum{} {}\n", name, braces, static_cast<double>(sum_us_) / 1e6);
  *out += fmt::format("{}_count{} {}\n", name, braces, count_);
}

}  // namespace saker

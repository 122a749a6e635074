// DedupeIndex: see dedupe_index.h.
#include "server/queue/dedupe_index.h"

#include <algorithm>

namespace saker::queue {

void DedupeIndex::Expire(int64_t wall_ms, int64_t window_ms) {
  while (!order_.empty() && order_.front().first < wall_ms - window_ms) {
    auto it = keys_.find(order_.front().second);
    if (it != keys_.end() && it->second.second == order_.front().first) keys_.erase(it);
    order_.pop_front();
  }
}

std::optional<uint64_t> DedupeIndex::Find(const std::string& key, int64_t wall_ms,
                                          int64_t window_ms) const {
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second.second < wall_ms - window_ms) return std::nullopt;
  return it->second.first;
}

void DedupeIndex::Add(const std::string& key, uint64_t offset, int64_t timestamp_ms) {
  keys_[key] = {offset, timestamp_ms};
  // Restored keys arrive out of time order; keep order_ sorted so Expire stays a prefix walk.
  if (order_.empty() || order_.back().first <= timestamp_ms) {
    order_.emplace_back(timestamp_ms, key);
  } else {
    order_.insert(std::upper_bound(order_.begin(), order_.end(), std::make_pair(timestamp_ms, key)),
                  std::make_pair(timestamp_ms, key));
  }
}

void DedupeIndex::ForgetFrom(uint64_t offset) {
  std::erase_if(keys_, [offset](const auto& kv) { return kv.second.first >= offset; });
  std::erase_if(durable_, [offset](const storage::DedupeRecord& d) { return d.offset >= offset; });
  if (through_ >= offset) through_ = offset - 1;
}

void DedupeIndex::MarkDurable(uint64_t queue_id, const storage::Batch& batch) {
  for (const storage::RecordView& rec : batch.records()) {
    if (!rec.key.empty()) {
      durable_.push_back({queue_id, std::string(rec.key), rec.offset, rec.timestamp_ms});
    }
  }
  through_ = std::max(through_, batch.last_offset());
}

uint64_t DedupeIndex::TakeDurable(std::vector<storage::DedupeRecord>* out) {
  for (storage::DedupeRecord& d : durable_) out->push_back(std::move(d));
  durable_.clear();
  return through_;
}

}  // namespace saker::queue

// DedupeIndex: one queue's idempotency keys put within its dedupe window (key -> offset), and
// the durable keys not yet checkpointed to meta.db. Recovery restores the keys from meta.db and
// then from the log above `through()`.
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/storage/batch.h"
#include "server/storage/meta_store.h"

namespace saker::queue {

class DedupeIndex {
 public:
  // Forgets keys put before `wall_ms - window_ms`.
  void Expire(int64_t wall_ms, int64_t window_ms);
  // The offset of `key` if it was put at or after `wall_ms - window_ms`.
  std::optional<uint64_t> Find(const std::string& key, int64_t wall_ms, int64_t window_ms) const;
  // Remembers `key` at `offset`, put at `timestamp_ms` (a later Add of the key wins).
  void Add(const std::string& key, uint64_t offset, int64_t timestamp_ms);
  // Forgets the keys at `offset` or above (the log was cut there).
  void ForgetFrom(uint64_t offset);

  // `batch` is durable: its keys are to be checkpointed, and every key up to its last offset is.
  void MarkDurable(uint64_t queue_id, const storage::Batch& batch);
  // Moves the keys to checkpoint into `out` and returns through(); 0 if nothing was ever durable.
  uint64_t TakeDurable(std::vector<storage::DedupeRecord>* out);
  uint64_t through() const { return through_; }
  void set_through(uint64_t through) { through_ = through; }

  size_t size() const { return keys_.size(); }

 private:
  std::unordered_map<std::string, std::pair<uint64_t, int64_t>> keys_;  // key -> offset, ts
  std::deque<std::pair<int64_t, std::string>> order_;                   // ts, key: put order
  std::vector<storage::DedupeRecord> durable_;
  uint64_t through_ = 0;
};

}  // namespace saker::queue

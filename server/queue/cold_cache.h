// ColdCache: batches read back from the logs for subscriptions behind the tail cache, per queue,
// under one server-wide byte budget with the oldest-added evicted first. The batches are the
// shared, immutable objects the ReaderPool returned: no copies per subscription.
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <unordered_map>
#include <vector>

#include "server/storage/batch.h"

namespace saker::queue {

class ColdCache {
 public:
  explicit ColdCache(uint64_t budget_bytes) : budget_bytes_(budget_bytes) {}
  ColdCache(const ColdCache&) = delete;
  ColdCache& operator=(const ColdCache&) = delete;

  // Keeps `batch` for `queue_id`, then evicts the oldest batches of any queue until the budget
  // holds (the newest batch always stays).
  void Add(uint64_t queue_id, storage::BatchPtr batch);
  // The batch of `queue_id` holding `offset`, or nullptr.
  storage::BatchPtr Find(uint64_t queue_id, uint64_t offset) const;
  // Batches of `queue_id` that end above `offset`, in offset order.
  std::vector<storage::BatchPtr> From(uint64_t queue_id, uint64_t offset) const;
  bool Contains(uint64_t queue_id, uint64_t base_offset) const;
  // True if `bytes` more fit in the budget.
  bool Fits(uint64_t bytes) const { return bytes_ + bytes <= budget_bytes_; }

  // Drops the batches of `queue_id` that end at or below `floor` (acked by every subscription).
  void DropBelow(uint64_t queue_id, uint64_t floor);
  // Drops the batches of `queue_id` that reach `offset` or beyond (the log was cut there).
  void DropFrom(uint64_t queue_id, uint64_t offset);
  void Drop(uint64_t queue_id);

  uint64_t size_bytes() const { return bytes_; }

 private:
  using Batches = std::map<uint64_t, storage::BatchPtr>;  // base offset -> batch
  void Erase(Batches& batches, Batches::iterator it);

  const uint64_t budget_bytes_;
  uint64_t bytes_ = 0;
  std::unordered_map<uint64_t, Batches> queues_;
  struct LruEntry {
    uint64_t queue_id;
    uint64_t base;
    const storage::Batch* batch;  // identity: the entry is stale if the map holds another
  };
  std::deque<LruEntry> lru_;
};

}  // namespace saker::queue

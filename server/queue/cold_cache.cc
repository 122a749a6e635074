// ColdCache: see cold_cache.h.
#include "server/queue/cold_cache.h"

namespace saker::queue {

void ColdCache::Erase(Batches& batches, Batches::iterator it) {
  bytes_ -= it->second->size_bytes();
  batches.erase(it);
}

void ColdCache::Add(uint64_t queue_id, storage::BatchPtr batch) {
  const uint64_t base = batch->base_offset();
  Batches& batches = queues_[queue_id];
  if (auto old = batches.find(base); old != batches.end()) Erase(batches, old);
  lru_.push_back({queue_id, base, batch.get()});
  bytes_ += batch->size_bytes();
  batches[base] = std::move(batch);
  while (bytes_ > budget_bytes_ && lru_.size() > 1) {
    LruEntry e = lru_.front();
    lru_.pop_front();
    auto q = queues_.find(e.queue_id);
    if (q == queues_.end()) continue;
    auto it = q->second.find(e.base);
    if (it == q->second.end() || it->second.get() != e.batch) continue;
    Erase(q->second, it);
    if (q->second.empty()) queues_.erase(q);
  }
}

storage::BatchPtr ColdCache::Find(uint64_t queue_id, uint64_t offset) const {
  auto q = queues_.find(queue_id);
  if (q == queues_.end()) return nullptr;
  auto it = q->second.upper_bound(offset);
  if (it == q->second.begin()) return nullptr;
  --it;
  return offset < it->second->end_offset() ? it->second : nullptr;
}

std::vector<storage::BatchPtr> ColdCache::From(uint64_t queue_id, uint64_t offset) const {
  std::vector<storage::BatchPtr> out;
  auto q = queues_.find(queue_id);
  if (q == queues_.end()) return out;
  for (const auto& [base, b] : q->second) {
    if (b->end_offset() > offset) out.push_back(b);
  }
  return out;
}

bool ColdCache::Contains(uint64_t queue_id, uint64_t base_offset) const {
  auto q = queues_.find(queue_id);
  return q != queues_.end() && q->second.count(base_offset) > 0;
}

void ColdCache::DropBelow(uint64_t queue_id, uint64_t floor) {
  auto q = queues_.find(queue_id);
  if (q == queues_.end()) return;
  while (!q->second.empty() && q->second.begin()->second->end_offset() <= floor) {
    Erase(q->second, q->second.begin());
  }
  if (q->second.empty()) queues_.erase(q);
}

void ColdCache::DropFrom(uint64_t queue_id, uint64_t offset) {
  auto q = queues_.find(queue_id);
  if (q == queues_.end()) return;
  while (!q->second.empty() && std::prev(q->second.end())->second->end_offset() > offset) {
    Erase(q->second, std::prev(q->second.end()));
  }
  if (q->second.empty()) queues_.erase(q);
}

void ColdCache::Drop(uint64_t queue_id) {
  auto q = queues_.find(queue_id);
  if (q == queues_.end()) return;
  for (const auto& [base, b] : q->second) bytes_ -= b->size_bytes();
  queues_.erase(q);
}

}  // namespace saker::queue

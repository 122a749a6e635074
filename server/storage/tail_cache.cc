// TailCache: a per-log deque of batches plus one server-wide FIFO of insertions; eviction pops
// the FIFO, which names the oldest batch of whichever log added it first.
#include "server/storage/tail_cache.h"

#include <algorithm>

namespace saker::storage {

void TailCache::Add(const Log* log, BatchPtr batch) {
  if (batch->size_bytes() > budget_bytes_) {
    Drop(log);
    return;
  }
  auto it = logs_.find(log);
  if (it != logs_.end() && it->second.back()->end_offset() != batch->base_offset()) Drop(log);
  auto& batches = logs_[log];
  size_bytes_ += batch->size_bytes();
  batches.push_back(std::move(batch));
  order_.push_back(Entry{log, batches.back().get()});
  Evict();
}

// An entry is live while its batch is the front of its log's deque: within a log, batches
// leave from the front (eviction) or the back (Truncate), and the FIFO holds them in add
// order. Dead entries (truncated or dropped batches) are popped as they reach the front.
void TailCache::Evict() {
  while (!order_.empty()) {
    const Entry& e = order_.front();
    auto it = logs_.find(e.log);
    bool live = it != logs_.end() && it->second.front().get() == e.batch;
    if (live && size_bytes_ <= budget_bytes_) break;
    order_.pop_front();
    if (!live) continue;
    size_bytes_ -= it->second.front()->size_bytes();
    it->second.pop_front();
    if (it->second.empty()) logs_.erase(it);
  }
}

std::vector<BatchPtr> TailCache::Read(const Log* log, uint64_t offset, size_t max_bytes) const {
  std::vector<BatchPtr> out;
  auto it = logs_.find(log);
  if (it == logs_.end()) return out;
  const auto& batches = it->second;
  if (offset < batches.front()->base_offset() || offset >= batches.back()->end_offset()) {
    return out;
  }
  auto b = std::upper_bound(batches.begin(), batches.end(), offset,
                            [](uint64_t o, const BatchPtr& p) { return o < p->base_offset(); });
  size_t bytes = 0;
  for (--b; b != batches.end() && (out.empty() || bytes < max_bytes); ++b) {
    bytes += (*b)->size_bytes();
    out.push_back(*b);
  }
  return out;
}

uint64_t TailCache::first_cached_offset(const Log* log) const {
  auto it = logs_.find(log);
  return it == logs_.end() ? 0 : it->second.front()->base_offset();
}

void TailCache::Truncate(const Log* log, uint64_t offset) {
  auto it = logs_.find(log);
  if (it == logs_.end()) return;
  auto& batches = it->second;
  while (!batches.empty() && batches.back()->end_offset() > offset) {
    size_bytes_ -= batches.back()->size_bytes();
    batches.pop_back();
  }
  if (batches.empty()) logs_.erase(it);
}

void TailCache::Drop(const Log* log) {
  auto it = logs_.find(log);
  if (it == logs_.end()) return;
  for (const auto& b : it->second) size_bytes_ -= b->size_bytes();
  logs_.erase(it);
}

}  // namespace saker::storage

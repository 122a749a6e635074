// TailCache: the recent batches of every log, in memory under one server-wide byte budget,
// so subscriptions reading near the tail never touch disk (DESIGN.md Storage). The batches
// are the same shared, immutable objects the storage thread wrote: no copies.
//
// Loop thread only (no locking). Eviction drops the oldest batches server-wide first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "server/storage/batch.h"

namespace saker::storage {

class Log;

class TailCache {
 public:
  explicit TailCache(size_t budget_bytes) : budget_bytes_(budget_bytes) {}
  TailCache(const TailCache&) = delete;
  TailCache& operator=(const TailCache&) = delete;

  // Adds `batch`, the batch just appended to `log`. Batches of one log must be added in
  // offset order without gaps; a batch that does not start at the end of what is cached for
  // `log` (after a truncate or a failed append) first drops that log's cached batches. Evicts
  // the oldest batches of any log until the budget holds (a batch bigger than the budget is
  // not kept).
  void Add(const Log* log, BatchPtr batch);

  // The cached batches of `log` covering `offset` onward, in order, up to about `max_bytes`
  // (at least one batch). Empty when `offset` is not cached (below what is cached, or at or
  // past its end): read it from the log with a ReaderPool then. The first batch may start
  // before `offset`.
  std::vector<BatchPtr> Read(const Log* log, uint64_t offset, size_t max_bytes) const;

  // The lowest offset cached for `log`, or 0 if none: offsets from it up to the log's end are
  // served from memory.
  uint64_t first_cached_offset(const Log* log) const;

  // Drops `log`'s batches at or above `offset` (call after Log::Truncate).
  void Truncate(const Log* log, uint64_t offset);
  // Drops every batch of `log` (the queue was deleted or closed).
  void Drop(const Log* log);

  size_t size_bytes() const { return size_bytes_; }
  size_t budget_bytes() const { return budget_bytes_; }

 private:
  struct Entry {
    const Log* log;
    const Batch* batch;  // identity only: the deque owns the batch
  };
  void Evict();

  const size_t budget_bytes_;
  size_t size_bytes_ = 0;
  std::unordered_map<const Log*, std::deque<BatchPtr>> logs_;
  // Every Add in order; entries of batches dropped by Truncate or Drop are skipped.
  std::deque<Entry> order_;
};

}  // namespace saker::storage

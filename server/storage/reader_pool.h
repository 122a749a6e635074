// ReaderPool: threads that read cold batches from segment files (pread), so the loop thread
// never waits on disk (DESIGN.md Reads). Read-ahead: each read asks the kernel to fetch what
// follows it (LogOptions::readahead_bytes, posix_fadvise WILLNEED), and the pool keeps the
// batches it read past the requested range for the next request of the same log, so a
// subscription draining a backlog mostly finds its next range ready.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/common/event_loop.h"
#include "server/common/status.h"
#include "server/storage/batch.h"
#include "server/storage/log.h"

namespace saker::storage {

using ReadDone = std::function<void(Result<std::vector<BatchPtr>>)>;

class ReaderPool {
 public:
  // Starts `threads` (>= 1) reader threads. Completions are posted to `loop`. Construct,
  // Read and Stop on the loop thread.
  ReaderPool(EventLoop* loop, int threads);
  ~ReaderPool();  // Stop()
  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;

  // Reads `log` from `offset` like Log::Read(offset, max_bytes) on a reader thread; `done`
  // runs on the loop thread with the batches (the first may start before `offset`; empty at
  // or past the log's end), NotFound below the log's first offset, or Corruption / IOError
  // naming file and position. Requests are served in order per pool, by any thread. The
  // read-ahead buffer never outlives a Truncate of the log, but a Truncate that runs after
  // the read (before `done`) may cut what `done` gets: the caller discards reads it asked
  // for before it truncated the log (Log::truncations()). A `peek` reads just what was asked
  // and neither uses nor changes the read-ahead buffer (a glance at a log's head).
  void Read(std::shared_ptr<Log> log, uint64_t offset, size_t max_bytes, ReadDone done,
            bool peek = false);

  // Stops taking work, finishes what is queued (posting its completions) and joins.
  void Stop();

  // Reads served from the read-ahead buffer without touching the log; any thread.
  uint64_t readahead_hits() const;

 private:
  struct Request {
    std::shared_ptr<Log> log;
    uint64_t offset;
    size_t max_bytes;
    ReadDone done;
    bool peek = false;
  };
  void Main();
  Result<std::vector<BatchPtr>> Serve(const Request& r);

  EventLoop* loop_;
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  // Per log: batches read ahead of the last request, contiguous. Guarded by mu_. The weak
  // pointer tells a log from a later one at the same address; `truncations` is the log's
  // Log::truncations() before they were read, so a buffer read before a Truncate is dropped.
  struct Ahead {
    std::weak_ptr<Log> log;
    uint64_t truncations = 0;
    std::vector<BatchPtr> batches;
  };
  std::unordered_map<const Log*, Ahead> ahead_;
  uint64_t readahead_hits_ = 0;  // guarded by mu_
};

}  // namespace saker::storage

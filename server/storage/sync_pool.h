// SyncPool: runs one round's fdatasyncs side by side. A device flushes its cache for every
// fdatasync; two issued one after the other cost two flushes, two issued together are merged
// by the block layer into one (docs/BENCHMARKS.md, W2 with durable acks: a queue's item log
// and cursor log are synced in the same round). The storage thread calls Run and takes part.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace saker::storage {

class SyncPool {
 public:
  // `helpers` threads besides the caller's (0: Run does everything on the caller's thread).
  explicit SyncPool(size_t helpers);
  ~SyncPool();
  SyncPool(const SyncPool&) = delete;
  SyncPool& operator=(const SyncPool&) = delete;

  // Runs work(0) ... work(n - 1), each once, spread over the helpers and the calling thread;
  // returns when all have returned. One caller at a time.
  void Run(size_t n, const std::function<void(size_t)>& work);

 private:
  void HelperMain();
  // Claims and runs indexes of the current round until none is left. Called with `lock` held;
  // runs the work without it.
  void Drain(std::unique_lock<std::mutex>& lock);

  std::mutex mu_;
  std::condition_variable start_cv_;                   // a round began, or stopping_
  std::condition_variable done_cv_;                    // a round's last index finished
  const std::function<void(size_t)>* work_ = nullptr;  // guarded by mu_
  size_t next_ = 0;                                    // guarded by mu_: next index to claim
  size_t count_ = 0;                                   // guarded by mu_: the round's n
  size_t finished_ = 0;                                // guarded by mu_
  uint64_t round_ = 0;                                 // guarded by mu_
  bool stopping_ = false;                              // guarded by mu_
  std::vector<std::thread> helpers_;
};

}  // namespace saker::storage

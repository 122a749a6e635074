// StorageThread: the thread that writes the logs — every queue's item log and cursor log
// (FORMAT.md). Group commit: everything handed over during one loop iteration reaches it as one
// hand-off (from a before-sleep hook), becomes one write per log and one fdatasync per log whose
// sync policy is `always` (issued side by side), and the completions go back to the loop thread as
// one Post, in hand-off order. A second thread, the allocator, keeps each written log's tail
// zero-filled ahead (Log::Preallocate) so those fdatasyncs write data only. The queue engine runs a
// second StorageThread, Run() only, as its meta thread: meta.db checkpoints and new queues'
// folders, so an SQLite fsync never delays the logs' appends.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/common/event_loop.h"
#include "server/common/status.h"
#include "server/storage/batch.h"
#include "server/storage/log.h"
#include "server/storage/sync_pool.h"

namespace saker::storage {

using Done = std::function<void(Status)>;

struct StorageStats {
  uint64_t appends = 0;  // batches written
  uint64_t bytes = 0;    // bytes written
  uint64_t syncs = 0;    // fdatasync calls
  uint64_t commits = 0;  // hand-offs processed
  uint64_t sync_ns_total = 0;
  uint64_t write_ns_total = 0;  // in the logs' writes (AppendAll)
};

class StorageThread {
 public:
  // Registers a before-sleep hook on `loop`. Construct and call everything but stats() on the
  // loop thread. From `syncfs_min_logs` `always` logs in one round (0 = never), one syncfs()
  // per filesystem replaces their fdatasyncs and directory fsyncs: one journal commit and one
  // cache flush instead of up to three per log. It also writes back whatever else is dirty on
  // that filesystem, so on a disk shared with heavy writers a round waits for them too.
  explicit StorageThread(EventLoop* loop, size_t syncfs_min_logs = kDefaultSyncfsLogs);

  static constexpr size_t kDefaultSyncfsLogs = 4;
  // Fewer `always` logs than that in a round are fdatasynced side by side, on up to
  // syncfs_min_logs - 1 threads (this many more when syncfs is off).
  static constexpr size_t kSyncHelpersWithoutSyncfs = 3;
  ~StorageThread();  // Stop()
  StorageThread(const StorageThread&) = delete;
  StorageThread& operator=(const StorageThread&) = delete;

  void Start();
  // Hands over what is queued, waits until the thread has written and synced all of it (every
  // log is fsynced whatever its policy), then joins. Completions already posted still run on
  // the loop if it keeps running.
  void Stop();

  // Queues `batch` for `log`. Batches of one log are written in call order. `done` runs on the
  // loop thread once the batch is durable at the log's sync policy, or with IOError if the
  // write or sync failed (the log is then fail-stop and later appends fail at once). The
  // batch is released on the loop thread after `done` ran. Completions of one hand-off run
  // in call order (Append and Run alike).
  void Append(std::shared_ptr<Log> log, BatchPtr batch, Done done);

  // Runs `work` on the storage thread after every append queued before it has been written
  // (not necessarily synced), then `done` with its Status on the loop thread. For truncation
  // and retention (and, on the meta thread, meta.db commits).
  void Run(std::function<Status()> work, Done done);

  // Counters; any thread.
  StorageStats stats() const;

 private:
  struct Op {
    // Both released on the loop thread, where they were taken: the log's reference count
    // and the batch's memory stay with one core.
    std::shared_ptr<Log> log;  // null for Run()
    BatchPtr batch;
    std::function<Status()> work;
    Done done;
    Status status;     // the result `done` gets, set by the storage thread
    size_t group = 0;  // storage thread: the op's write group within Commit
  };
  void HandOff();  // before-sleep hook: moves pending_ to the thread
  void Main();
  void AllocatorMain();  // zero-fills tails ahead of the writer (Log::Preallocate)
  void RequestPreallocation(const std::shared_ptr<Log>& log);
  // Writes (and for `always` logs syncs) one hand-off and sets every op's status.
  void Commit(std::vector<Op>& ops);
  // Loop thread: keeps a completed hand-off's ops for HandOff to free, and their vector.
  void Recycle(std::vector<Op> ops);
  // Syncs the `interval` logs whose deadline has passed (and every written log if `all`).
  void SyncUnsynced(bool all);

  struct Unsynced {
    std::shared_ptr<Log> log;
    std::chrono::steady_clock::time_point deadline;
  };

  EventLoop* loop_;
  const size_t syncfs_min_logs_;
  std::vector<Op> pending_;  // loop thread only
  std::vector<Op> spare_;    // loop thread only: an empty vector with capacity, for pending_
  std::vector<Op> spent_;    // loop thread only: completed ops, freed by the next HandOff
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Op> queued_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  StorageStats stats_;      // guarded by mu_
  // Storage thread only: logs written since their last sync. `interval` logs are held until
  // their deadline; `never` logs only weakly (synced at Stop if still alive), so a deleted
  // queue's log is not kept.
  std::unordered_map<const Log*, Unsynced> interval_unsynced_;
  std::unordered_map<const Log*, std::weak_ptr<Log>> never_unsynced_;
  // Storage thread only: made at the first round with two `always` logs to sync.
  std::unique_ptr<SyncPool> sync_pool_;
  // The allocator thread and its queue of logs whose tails want zero-filling.
  std::thread allocator_;
  std::mutex alloc_mu_;
  std::condition_variable alloc_cv_;
  std::vector<std::shared_ptr<Log>> alloc_queue_;  // guarded by alloc_mu_
  bool alloc_stopping_ = false;                    // guarded by alloc_mu_
  // The before-sleep hook outlives this object inside the loop; it goes through this
  // pointer, which the destructor clears. Loop thread only.
  std::shared_ptr<StorageThread*> hook_target_;
};

}  // namespace saker::storage

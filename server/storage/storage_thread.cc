// StorageThread: group commit. The loop thread collects appends in pending_; the before-sleep
// hook moves them under the mutex (a swap) to queued_; the thread takes everything queued,
// writes each log's batches with one AppendAll (one pwritev), fdatasyncs each `always` log
// once, side by side (SyncPool), or, when a round has many, syncs their filesystem once
// (SyncFilesystems), and posts the round's ops back to the loop with one Post, which runs their
// completions and frees their batches there (where they were allocated).
#include "server/storage/storage_thread.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <unordered_map>

#include "server/common/logging.h"

namespace saker::storage {
namespace {

// syncfs() of every filesystem holding one of `logs`' directories; false if a stat or a syncfs
// failed (the caller then syncs each log by itself, which reports the error to the logs it
// concerns and puts them in fail-stop).
bool SyncFilesystems(const std::vector<Log*>& logs) {
  std::unordered_map<dev_t, const std::string*> devices;
  for (const Log* log : logs) {
    struct stat st;
    if (::stat(log->dir().c_str(), &st) != 0) return false;
    devices.try_emplace(st.st_dev, &log->dir());
  }
  for (const auto& [dev, dir] : devices) {
    int fd = ::open(dir->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    int rc = ::syncfs(fd);
    ::close(fd);
    if (rc != 0) return false;
  }
  return true;
}

}  // namespace

StorageThread::StorageThread(EventLoop* loop, size_t syncfs_min_logs)
    : loop_(loop),
      syncfs_min_logs_(syncfs_min_logs),
      hook_target_(std::make_shared<StorageThread*>(this)) {
  loop_->AddBeforeSleep(
      [target = hook_target_] {
        if (*target != nullptr) (*target)->HandOff();
      },
      EventLoop::HookOrder::kHandOff);
}

StorageThread::~StorageThread() {
  Stop();
  *hook_target_ = nullptr;
}

void StorageThread::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    alloc_stopping_ = false;
  }
  thread_ = std::thread([this] { Main(); });
  allocator_ = std::thread([this] { AllocatorMain(); });
}

void StorageThread::Stop() {
  HandOff();
  if (!thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queued_.empty()) return;
    }
    Start();  // never started but work is queued: run it to completion
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    alloc_stopping_ = true;
    alloc_queue_.clear();
  }
  alloc_cv_.notify_one();
  allocator_.join();
}

void StorageThread::RequestPreallocation(const std::shared_ptr<Log>& log) {
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    if (std::find(alloc_queue_.begin(), alloc_queue_.end(), log) != alloc_queue_.end()) return;
    alloc_queue_.push_back(log);
  }
  alloc_cv_.notify_one();
}

void StorageThread::AllocatorMain() {
  while (true) {
    std::shared_ptr<Log> log;
    {
      std::unique_lock<std::mutex> lock(alloc_mu_);
      alloc_cv_.wait(lock, [this] { return !alloc_queue_.empty() || alloc_stopping_; });
      if (alloc_stopping_) return;
      log = std::move(alloc_queue_.front());
      alloc_queue_.erase(alloc_queue_.begin());
    }
    // Errors are logged by the log and only cost speed.
    (void)log->Preallocate();
  }
}

void StorageThread::Append(std::shared_ptr<Log> log, BatchPtr batch, Done done) {
  pending_.push_back(Op{std::move(log), std::move(batch), nullptr, std::move(done), {}, 0});
}

void StorageThread::Run(std::function<Status()> work, Done done) {
  pending_.push_back(Op{nullptr, nullptr, std::move(work), std::move(done), {}, 0});
}

void StorageThread::HandOff() {
  if (!pending_.empty()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queued_.empty()) {
        queued_.swap(pending_);
      } else {
        std::move(pending_.begin(), pending_.end(), std::back_inserter(queued_));
      }
    }
    pending_.clear();
    if (pending_.capacity() < spare_.capacity()) pending_.swap(spare_);
    cv_.notify_one();
  }
  // Completed ops (their batches and callbacks) are freed here, after the storage thread has
  // its next work: the frees then overlap its write and fdatasync instead of delaying them.
  spent_.clear();
  if (spent_.capacity() > spare_.capacity()) spare_.swap(spent_);
}

void StorageThread::Recycle(std::vector<Op> ops) {
  if (spent_.empty()) {
    spent_.swap(ops);
  } else {
    std::move(ops.begin(), ops.end(), std::back_inserter(spent_));
  }
}

StorageStats StorageThread::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void StorageThread::Main() {
  std::vector<Op> ops;
  while (true) {
    bool stop = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto deadline = std::chrono::steady_clock::time_point::max();
      for (const auto& [log, u] : interval_unsynced_) deadline = std::min(deadline, u.deadline);
      auto ready = [this] { return !queued_.empty() || stopping_; };
      if (deadline == std::chrono::steady_clock::time_point::max()) {
        cv_.wait(lock, ready);
      } else {
        cv_.wait_until(lock, deadline, ready);
      }
      ops.swap(queued_);
      stop = stopping_ && ops.empty();
    }
    if (!ops.empty()) {
      Commit(ops);
      // The ops go back whole: the loop runs each `done` and frees the batches it made.
      loop_->Post([target = hook_target_, ops = std::move(ops)]() mutable {
        for (auto& op : ops) {
          if (op.done) op.done(std::move(op.status));
        }
        // A completion may have destroyed the StorageThread.
        if (*target != nullptr) (*target)->Recycle(std::move(ops));
      });
      ops.clear();
    }
    SyncUnsynced(stop);
    if (stop) return;
  }
}

void StorageThread::Commit(std::vector<Op>& ops) {
  // The appends of one log between two Run()s, written with one AppendAll.
  struct Group {
    std::shared_ptr<Log> log;
    std::vector<const Batch*> batches;  // owned by the ops
    Status status;
  };
  std::vector<Group> groups;
  size_t unwritten = 0;                       // groups[unwritten..] are not written yet
  std::unordered_map<Log*, size_t> group_of;  // log -> its unwritten group
  std::unordered_map<Log*, Status> synced;    // `always` logs -> their fdatasync's result
  bool any_failed = false;
  uint64_t appends = 0;
  uint64_t bytes = 0;
  uint64_t write_ns = 0;
  auto now = std::chrono::steady_clock::now();

  auto write_groups = [&] {
    for (; unwritten < groups.size(); unwritten++) {
      Group& g = groups[unwritten];
      auto start = std::chrono::steady_clock::now();
      g.status = g.log->AppendAll(g.batches);
      write_ns += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::steady_clock::now() - start)
                                            .count());
      if (!g.status.ok()) {
        any_failed = true;
        continue;
      }
      if (g.log->NeedsPreallocation()) RequestPreallocation(g.log);
      appends += g.batches.size();
      for (const Batch* b : g.batches) bytes += b->size_bytes();
      const SyncPolicy& policy = g.log->options().sync;
      if (policy.mode == SyncPolicy::Mode::kAlways) {
        synced.try_emplace(g.log.get());
      } else if (policy.mode == SyncPolicy::Mode::kInterval) {
        // The first unsynced write sets the deadline; later ones ride the same sync.
        interval_unsynced_.try_emplace(
            g.log.get(), Unsynced{g.log, now + std::chrono::milliseconds(policy.interval_ms)});
      } else {
        never_unsynced_[g.log.get()] = g.log;
      }
    }
    group_of.clear();
  };

  for (auto& op : ops) {
    if (op.log == nullptr) {
      // Run(): everything queued before it must be written first.
      write_groups();
      op.status = op.work();
      continue;
    }
    if (op.log->failed()) {
      op.status = Status::IOError(op.log->options().name + ": log is fail-stop");
      continue;
    }
    // Consecutive appends to one log (the common case) skip the map.
    size_t g = groups.size();
    if (g > unwritten && groups.back().log == op.log) {
      g--;
    } else {
      auto [it, inserted] = group_of.emplace(op.log.get(), g);
      if (inserted) groups.push_back(Group{op.log, {}, Status::OK()});
      g = it->second;
    }
    op.group = g;
    groups[g].batches.push_back(op.batch.get());
  }
  write_groups();

  uint64_t syncs = 0;
  uint64_t sync_ns = 0;
  // Many queues written or created at once cost one flush a round (docs/BENCHMARKS.md W5), not one
  // or three per queue.
  if (syncfs_min_logs_ > 0 && synced.size() >= syncfs_min_logs_) {
    std::vector<Log*> logs;
    for (auto& [log, status] : synced) {
      if (!log->has_fault_hook()) logs.push_back(log);
    }
    auto start = std::chrono::steady_clock::now();
    if (logs.size() >= syncfs_min_logs_ && SyncFilesystems(logs)) {
      // Nothing is reported durable before this returned OK.
      for (Log* log : logs) {
        log->MarkSynced();
        synced.erase(log);
      }
      syncs++;
    }
    sync_ns += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count());
  }
  if (!synced.empty()) {
    // The rest side by side: one device flush for all of them, not one after the other.
    std::vector<std::pair<Log*, Status*>> each;
    each.reserve(synced.size());
    for (auto& [log, status] : synced) each.emplace_back(log, &status);
    if (sync_pool_ == nullptr && each.size() > 1) {
      sync_pool_ = std::make_unique<SyncPool>(syncfs_min_logs_ > 1 ? syncfs_min_logs_ - 2
                                                                   : kSyncHelpersWithoutSyncfs);
    }
    auto start = std::chrono::steady_clock::now();
    auto sync_one = [&](size_t i) {
      // Nothing is reported durable before this returns OK.
      *each[i].second = each[i].first->Sync();
    };
    if (sync_pool_ != nullptr) {
      sync_pool_->Run(each.size(), sync_one);
    } else {
      sync_one(0);
    }
    sync_ns += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count());
    syncs += each.size();
    for (const auto& e : each) {
      if (!e.second->ok()) any_failed = true;
    }
  }
  if (any_failed) {
    for (auto& g : groups) {
      auto it = synced.find(g.log.get());
      if (g.status.ok() && it != synced.end()) g.status = it->second;
    }
    for (auto& op : ops) {
      if (op.batch != nullptr && op.status.ok()) op.status = groups[op.group].status;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.appends += appends;
  stats_.bytes += bytes;
  stats_.syncs += syncs;
  stats_.sync_ns_total += sync_ns;
  stats_.write_ns_total += write_ns;
  stats_.commits++;
}

void StorageThread::SyncUnsynced(bool all) {
  static auto& log = logging::Get("storage");
  auto now = std::chrono::steady_clock::now();
  uint64_t syncs = 0;
  uint64_t sync_ns = 0;
  auto sync = [&](Log* l) {
    auto start = std::chrono::steady_clock::now();
    Status st = l->Sync();
    sync_ns += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count());
    syncs++;
    // Appends were already reported; the log is now fail-stop and later ones fail.
    static logging::RateLimit limit(std::chrono::seconds(10));
    if (uint64_t skipped = 0; !st.ok() && limit.Allow(&skipped)) {
      log.error("[{}] background sync failed: {} ({} more since)", l->options().name, st.ToString(),
                skipped);
    }
  };
  for (auto it = interval_unsynced_.begin(); it != interval_unsynced_.end();) {
    if (!all && it->second.deadline > now) {
      ++it;
      continue;
    }
    sync(it->second.log.get());
    it = interval_unsynced_.erase(it);
  }
  if (all) {
    for (auto& [key, weak] : never_unsynced_) {
      if (auto l = weak.lock()) sync(l.get());
    }
    never_unsynced_.clear();
  }
  if (syncs == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  stats_.syncs += syncs;
  stats_.sync_ns_total += sync_ns;
}

}  // namespace saker::storage

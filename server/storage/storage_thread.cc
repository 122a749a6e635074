// StorageThread: group commit. The loop thread collects appends in pending_; the before-sleep
// hook moves them under the mutex (a swap) to queued_; the thread takes everything queued,
// writes each log's batches with one AppendAll (one pwritev), fdatasyncs each `always` log
// once, and posts every completion of the round back to the loop with one Post.
#include "server/storage/storage_thread.h"

#include <algorithm>
#include <unordered_map>

#include "server/common/logging.h"

namespace saker::storage {

StorageThread::StorageThread(EventLoop* loop)
    : loop_(loop), hook_target_(std::make_shared<StorageThread*>(this)) {
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
  pending_.push_back(Op{std::move(log), std::move(batch), nullptr, std::move(done)});
}

void StorageThread::Run(std::function<Status()> work, Done done) {
  pending_.push_back(Op{nullptr, nullptr, std::move(work), std::move(done)});
}

void StorageThread::HandOff() {
  if (pending_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queued_.empty()) {
      queued_.swap(pending_);
    } else {
      std::move(pending_.begin(), pending_.end(), std::back_inserter(queued_));
    }
  }
  pending_.clear();
  cv_.notify_one();
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
      auto completions = Commit(ops);
      ops.clear();
      if (!completions.empty()) {
        loop_->Post([completions = std::move(completions)]() mutable {
          for (auto& [done, status] : completions) {
            if (done) done(std::move(status));
          }
        });
      }
    }
    SyncUnsynced(stop);
    if (stop) return;
  }
}

std::vector<std::pair<Done, Status>> StorageThread::Commit(std::vector<Op>& ops) {
  struct Group {
    std::shared_ptr<Log> log;
    std::vector<BatchPtr> batches;
    std::vector<Done> dones;
  };
  struct ToSync {
    std::shared_ptr<Log> log;
    std::vector<Done> dones;
  };
  std::vector<std::pair<Done, Status>> completions;
  std::vector<Group> groups;
  std::unordered_map<Log*, size_t> group_of;
  std::vector<ToSync> to_sync;
  std::unordered_map<Log*, size_t> sync_of;
  uint64_t appends = 0;
  uint64_t bytes = 0;
  auto now = std::chrono::steady_clock::now();

  auto write_groups = [&] {
    for (auto& g : groups) {
      Status st = g.log->AppendAll(g.batches);
      if (!st.ok()) {
        for (auto& d : g.dones) completions.emplace_back(std::move(d), st);
        continue;
      }
      if (g.log->NeedsPreallocation()) RequestPreallocation(g.log);
      appends += g.batches.size();
      for (const auto& b : g.batches) bytes += b->size_bytes();
      const SyncPolicy& policy = g.log->options().sync;
      if (policy.mode == SyncPolicy::Mode::kAlways) {
        auto [it, inserted] = sync_of.emplace(g.log.get(), to_sync.size());
        if (inserted) to_sync.push_back(ToSync{g.log, {}});
        auto& dones = to_sync[it->second].dones;
        std::move(g.dones.begin(), g.dones.end(), std::back_inserter(dones));
        continue;
      }
      for (auto& d : g.dones) completions.emplace_back(std::move(d), Status::OK());
      if (policy.mode == SyncPolicy::Mode::kInterval) {
        // The first unsynced write sets the deadline; later ones ride the same sync.
        interval_unsynced_.try_emplace(
            g.log.get(), Unsynced{g.log, now + std::chrono::milliseconds(policy.interval_ms)});
      } else {
        never_unsynced_[g.log.get()] = g.log;
      }
    }
    groups.clear();
    group_of.clear();
  };

  for (auto& op : ops) {
    if (op.log == nullptr) {
      // Run(): everything queued before it must be written first.
      write_groups();
      completions.emplace_back(std::move(op.done), op.work());
      continue;
    }
    if (op.log->failed()) {
      completions.emplace_back(std::move(op.done),
                               Status::IOError(op.log->options().name + ": log is fail-stop"));
      continue;
    }
    auto [it, inserted] = group_of.emplace(op.log.get(), groups.size());
    if (inserted) groups.push_back(Group{op.log, {}, {}});
    groups[it->second].batches.push_back(std::move(op.batch));
    groups[it->second].dones.push_back(std::move(op.done));
  }
  write_groups();

  uint64_t syncs = 0;
  uint64_t sync_ns = 0;
  for (auto& s : to_sync) {
    auto start = std::chrono::steady_clock::now();
    // Nothing is reported durable before this returns OK.
    Status st = s.log->Sync();
    sync_ns += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count());
    syncs++;
    for (auto& d : s.dones) completions.emplace_back(std::move(d), st);
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.appends += appends;
  stats_.bytes += bytes;
  stats_.syncs += syncs;
  stats_.sync_ns_total += sync_ns;
  stats_.commits++;
  return completions;
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
    if (!st.ok()) log.error("[{}] background sync failed: {}", l->options().name, st.ToString());
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

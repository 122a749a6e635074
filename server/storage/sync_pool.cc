#include "server/storage/sync_pool.h"

namespace saker::storage {

SyncPool::SyncPool(size_t helpers) {
  for (size_t i = 0; i < helpers; ++i) helpers_.emplace_back([this] { HelperMain(); });
}

SyncPool::~SyncPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : helpers_) t.join();
}

void SyncPool::Run(size_t n, const std::function<void(size_t)>& work) {
  if (n == 0) return;
  if (n == 1 || helpers_.empty()) {
    for (size_t i = 0; i < n; ++i) work(i);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  work_ = &work;
  next_ = 0;
  count_ = n;
  finished_ = 0;
  round_++;
  start_cv_.notify_all();
  Drain(lock);
  done_cv_.wait(lock, [this] { return finished_ == count_; });
  work_ = nullptr;
}

void SyncPool::Drain(std::unique_lock<std::mutex>& lock) {
  while (work_ != nullptr && next_ < count_) {
    const size_t i = next_++;
    const auto* work = work_;
    lock.unlock();
    (*work)(i);
    lock.lock();
    if (++finished_ == count_) done_cv_.notify_all();
  }
}

void SyncPool::HelperMain() {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    start_cv_.wait(lock, [&] { return stopping_ || round_ != seen; });
    if (stopping_) return;
    seen = round_;
    Drain(lock);
  }
}

}  // namespace saker::storage

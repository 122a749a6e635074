// ReaderPool: a mutex + condvar request queue feeding N threads; each Read reads twice what
// was asked, returns the first part and keeps the rest as the log's read-ahead buffer.
#include "server/storage/reader_pool.h"

#include <algorithm>

namespace saker::storage {
namespace {

// Read-ahead buffers kept at most (one per log being drained); beyond it one is dropped.
constexpr size_t kMaxAheadLogs = 256;

}  // namespace

ReaderPool::ReaderPool(EventLoop* loop, int threads) : loop_(loop) {
  for (int i = 0; i < std::max(threads, 1); i++) threads_.emplace_back([this] { Main(); });
}

ReaderPool::~ReaderPool() { Stop(); }

void ReaderPool::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void ReaderPool::Read(std::shared_ptr<Log> log, uint64_t offset, size_t max_bytes, ReadDone done,
                      bool peek) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Request{std::move(log), offset, max_bytes, std::move(done), peek});
  }
  cv_.notify_one();
}

uint64_t ReaderPool::readahead_hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return readahead_hits_;
}

void ReaderPool::Main() {
  while (true) {
    Request r;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;
      r = std::move(queue_.front());
      queue_.pop_front();
    }
    auto result = Serve(r);
    loop_->Post([done = std::move(r.done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  }
}

Result<std::vector<BatchPtr>> ReaderPool::Serve(const Request& r) {
  const Log* key = r.log.get();
  // Taken before the buffer is looked at and before the read that may refill it.
  const uint64_t truncations = key->truncations();
  if (r.peek || r.offset < r.log->first_offset()) return r.log->Read(r.offset, r.max_bytes);
  std::vector<BatchPtr> out;
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ahead_.find(key);
    if (it != ahead_.end()) {
      auto& ahead = it->second.batches;
      // Batches are immutable, but a Truncate may have cut them and appends may have put
      // other bytes at their offsets: only a buffer read since the last Truncate is current.
      auto first = std::find_if(ahead.begin(), ahead.end(),
                                [&](const BatchPtr& b) { return b->end_offset() > r.offset; });
      if (it->second.log.lock() == r.log && it->second.truncations == truncations &&
          first != ahead.end() && (*first)->base_offset() <= r.offset) {
        auto b = first;
        for (; b != ahead.end() && (out.empty() || bytes < r.max_bytes); ++b) {
          bytes += (*b)->size_bytes();
          out.push_back(*b);
        }
        ahead.erase(ahead.begin(), b);
        if (ahead.empty()) ahead_.erase(it);
        readahead_hits_++;
        return out;
      }
      ahead_.erase(it);
    }
  }
  auto read = r.log->Read(r.offset, 2 * std::max<size_t>(r.max_bytes, 1));
  if (!read.ok()) return read.status();
  auto b = read->begin();
  for (; b != read->end() && (out.empty() || bytes < r.max_bytes); ++b) {
    bytes += (*b)->size_bytes();
    out.push_back(*b);
  }
  if (b != read->end()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ahead_.size() >= kMaxAheadLogs && !ahead_.contains(key)) ahead_.erase(ahead_.begin());
    ahead_[key] = Ahead{r.log, truncations, std::vector<BatchPtr>(b, read->end())};
  }
  return out;
}

}  // namespace saker::storage

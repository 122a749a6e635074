// FdCache: a bounded, server-wide LRU of open segment file descriptors, so an idle log holds
// none and 100,000 logs fit in one process (DESIGN.md Storage). Thread-safe.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "server/common/status.h"

namespace saker::storage {

// One open descriptor (O_RDWR | O_CLOEXEC), closed when the last holder lets go. Holders
// keep a shared_ptr for the duration of one call, so eviction never closes a descriptor that
// is in use: it only drops the cache's reference.
class File {
 public:
  explicit File(int fd) : fd_(fd) {}
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const { return fd_; }

  // Opens `path` read-write; with `create`, creates it (mode 0644) if missing.
  static Result<std::shared_ptr<File>> Open(const std::string& path, bool create);

 private:
  int fd_;
};

class FdCache {
 public:
  // Keeps at most `capacity` descriptors cached (>= 1).
  explicit FdCache(size_t capacity);
  FdCache(const FdCache&) = delete;
  FdCache& operator=(const FdCache&) = delete;

  // The descriptor of `path`, from the cache or newly opened (evicting the least recently
  // used one when full). With `create`, a missing file is created. IOError if open fails.
  Result<std::shared_ptr<File>> Get(const std::string& path, bool create = false);
  // Forgets `path` (before it is deleted or replaced). Holders keep their reference.
  void Erase(const std::string& path);

  size_t size() const;
  size_t capacity() const { return capacity_; }
  uint64_t opens() const;  // descriptors opened so far (misses)

 private:
  using Lru = std::list<std::pair<std::string, std::shared_ptr<File>>>;
  const size_t capacity_;
  mutable std::mutex mu_;
  Lru lru_;                                             // most recently used first; guarded by mu_
  std::unordered_map<std::string, Lru::iterator> map_;  // guarded by mu_
  uint64_t opens_ = 0;                                  // guarded by mu_
};

}  // namespace saker::storage

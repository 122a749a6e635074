// FdCache: a bounded, server-wide LRU of open segment file descriptors, so an idle log holds
// none and 100,000 logs fit in one process (docs/SEMANTICS.md). Thread-safe.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/common/status.h"

namespace saker::storage {

// One open descriptor (O_RDWR | O_CLOEXEC, and O_DIRECT for a log's direct appends), closed
// when the last holder lets go. Holders
// keep a shared_ptr for the duration of one call, so eviction never closes a descriptor that
// is in use: it only drops the cache's reference.
class File {
 public:
  explicit File(int fd) : fd_(fd) {}
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const { return fd_; }

  // Opens `path` read-write; with `create`, creates it (mode 0644) if missing; with `direct`,
  // with O_DIRECT (InvalidArgument when the filesystem refuses it, as tmpfs does).
  static Result<std::shared_ptr<File>> Open(const std::string& path, bool create,
                                            bool direct = false);

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
  // used one when full). With `create`, a missing file is created. `direct` asks for an
  // O_DIRECT descriptor, cached beside the plain one. Errors as File::Open.
  Result<std::shared_ptr<File>> Get(const std::string& path, bool create = false,
                                    bool direct = false);
  // Forgets `path`'s descriptors (before it is deleted or replaced). Holders keep theirs.
  void Erase(const std::string& path);

  size_t size() const;
  size_t capacity() const { return capacity_; }
  uint64_t opens() const;  // descriptors opened so far (misses)

 private:
  struct Key {
    std::string path;
    bool direct;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<std::string>()(k.path) ^ k.direct; }
  };
  using Lru = std::list<std::pair<Key, std::shared_ptr<File>>>;
  void EraseKey(const Key& key, std::vector<std::shared_ptr<File>>* dropped);
  const size_t capacity_;
  mutable std::mutex mu_;
  Lru lru_;                                              // most recently used first; guarded by mu_
  std::unordered_map<Key, Lru::iterator, KeyHash> map_;  // guarded by mu_
  uint64_t opens_ = 0;                                   // guarded by mu_
};

}  // namespace saker::storage

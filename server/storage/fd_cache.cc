// FdCache: LRU list plus hash map under one mutex, held only for O(1) list work; open(2)
// runs outside the lock so a slow open never blocks other logs' hits.
#include "server/storage/fd_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace saker::storage {

File::~File() { ::close(fd_); }

Result<std::shared_ptr<File>> File::Open(const std::string& path, bool create, bool direct) {
  int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0) | (direct ? O_DIRECT : 0);
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0 && direct && errno == EINVAL) {
    return Status::InvalidArgument("open " + path + ": the filesystem refuses O_DIRECT");
  }
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  return std::make_shared<File>(fd);
}

FdCache::FdCache(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

Result<std::shared_ptr<File>> FdCache::Get(const std::string& path, bool create, bool direct) {
  Key key{path, direct};
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  auto file = File::Open(path, create, direct);
  if (!file.ok()) return file.status();
  std::shared_ptr<File> evicted;  // closed after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  opens_++;
  auto it = map_.find(key);
  if (it != map_.end()) {  // another thread opened it meanwhile; keep theirs
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  lru_.emplace_front(key, *file);
  map_[std::move(key)] = lru_.begin();
  if (lru_.size() > capacity_) {
    evicted = std::move(lru_.back().second);
    map_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return *file;
}

void FdCache::Erase(const std::string& path) {
  std::vector<std::shared_ptr<File>> dropped;  // closed after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  EraseKey(Key{path, false}, &dropped);
  EraseKey(Key{path, true}, &dropped);
}

void FdCache::EraseKey(const Key& key, std::vector<std::shared_ptr<File>>* dropped) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  dropped->push_back(std::move(it->second->second));
  lru_.erase(it->second);
  map_.erase(it);
}

size_t FdCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

uint64_t FdCache::opens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return opens_;
}

}  // namespace saker::storage

// The queue identity file: see queue_identity.h. Text, so an operator can read it:
//   name=orders
//   incarnation=5f0c9a7e21b3d844
#include "server/storage/queue_identity.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <random>

namespace saker::storage {
namespace {

Status Errno(const std::string& what) { return Status::FromErrno(what, errno); }

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + dir);
  int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  return rc == 0 ? Status::OK() : Status::FromErrno("fsync " + dir, saved);
}

}  // namespace

Status WriteQueueIdentity(const std::string& dir, const QueueIdentity& identity) {
  const std::string path = dir + "/" + kQueueIdentityFile;
  const std::string tmp = path + ".tmp";
  const std::string text =
      fmt::format("name={}\nincarnation={:016x}\n", identity.name, identity.incarnation);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create " + tmp);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool synced = written && ::fdatasync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (!synced) return Errno("write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename " + tmp);
  return SyncDir(dir);
}

Result<QueueIdentity> ReadQueueIdentity(const std::string& dir) {
  const std::string path = dir + "/" + kQueueIdentityFile;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return Status::NotFound("no " + path);
    return Errno("open " + path);
  }
  QueueIdentity id;
  bool have_name = false;
  bool have_incarnation = false;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("name=", 0) == 0) {
      id.name = line.substr(5);
      have_name = true;
    } else if (line.rfind("incarnation=", 0) == 0) {
      const std::string hex = line.substr(12);
      char* end = nullptr;
      errno = 0;
      id.incarnation = std::strtoull(hex.c_str(), &end, 16);
      have_incarnation = hex.size() == 16 && end == hex.c_str() + hex.size() && errno == 0;
    }
  }
  if (!have_name || !have_incarnation || id.incarnation == 0) {
    return Status::Corruption(path + " is not a queue identity (name=, incarnation=<16 hex>)");
  }
  return id;
}

uint64_t NewIncarnation() {
  static thread_local std::random_device rd;
  uint64_t v = 0;
  while (v == 0) v = (uint64_t{rd()} << 32) ^ rd();
  return v;
}

}  // namespace saker::storage

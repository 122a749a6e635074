// The queue identity file: see queue_identity.h. Text, so an operator can read it:
//   name=orders
//   incarnation=5f0c9a7e21b3d844
//   created_ms=1764743639000
//   subscription=audit
//   config.max_items=0
//   config.sync=always
#include "server/storage/queue_identity.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

namespace saker::storage {
namespace {

constexpr char kConfigPrefix[] = "config.";

Status Errno(const std::string& what) { return Status::FromErrno(what, errno); }

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + dir);
  int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  return rc == 0 ? Status::OK() : Status::FromErrno("fsync " + dir, saved);
}

bool ParseU64(const std::string& text, int base, uint64_t* out) {
  if (text.empty() || text[0] == '-' || text[0] == '+' || text[0] == ' ') return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtoull(text.c_str(), &end, base);
  return end == text.c_str() + text.size() && errno == 0;
}

}  // namespace

std::string EncodeQueueIdentity(const QueueIdentity& identity) {
  std::string text =
      fmt::format("name={}\nincarnation={:016x}\n", identity.name, identity.incarnation);
  if (identity.created_ms != 0) text += fmt::format("created_ms={}\n", identity.created_ms);
  for (const std::string& sub : identity.subscriptions) text += "subscription=" + sub + "\n";
  for (const auto& [key, value] : identity.config) {
    text += kConfigPrefix + key + "=" + value + "\n";
  }
  return text;
}

Result<QueueIdentity> DecodeQueueIdentity(const std::string& text) {
  QueueIdentity id;
  bool have_name = false;
  bool have_incarnation = false;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    n++;
    const size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::Corruption(fmt::format("line {} is not key=value", n));
    }
    const std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    if (key == "name") {
      id.name = std::move(value);
      have_name = !id.name.empty();
    } else if (key == "incarnation") {
      have_incarnation = value.size() == 16 && ParseU64(value, 16, &id.incarnation);
    } else if (key == "created_ms") {
      uint64_t ms = 0;
      if (!ParseU64(value, 10, &ms) || ms > INT64_MAX) {
        return Status::Corruption(fmt::format("line {}: bad created_ms", n));
      }
      id.created_ms = static_cast<int64_t>(ms);
    } else if (key == "subscription") {
      if (value.empty()) return Status::Corruption(fmt::format("line {}: empty subscription", n));
      id.subscriptions.insert(std::move(value));
    } else if (key.rfind(kConfigPrefix, 0) == 0 && key.size() > sizeof(kConfigPrefix) - 1) {
      id.config[key.substr(sizeof(kConfigPrefix) - 1)] = std::move(value);
    } else {
      return Status::Corruption(fmt::format("line {}: unknown key '{}'", n, key));
    }
  }
  if (!have_name || !have_incarnation || id.incarnation == 0) {
    return Status::Corruption("not a queue identity (name=, incarnation=<16 hex>)");
  }
  return id;
}

Status WriteQueueIdentity(const std::string& dir, const QueueIdentity& identity) {
  const std::string path = dir + "/" + kQueueIdentityFile;
  const std::string tmp = path + ".tmp";
  const std::string text = EncodeQueueIdentity(identity);
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
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return Status::NotFound("no " + path);
    return Errno("open " + path);
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto id = DecodeQueueIdentity(text);
  if (!id.ok()) return Status::Corruption(path + ": " + std::string(id.status().message()));
  return id;
}

Status RemoveQueueFolder(const std::string& dir) {
  const std::string path = dir + "/" + kQueueIdentityFile;
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return Status::OK();
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("unlink " + path);
  SAKER_RETURN_IF_ERROR(SyncDir(dir));
  std::filesystem::remove_all(dir, ec);
  if (ec) return Status::IOError("remove " + dir + ": " + ec.message());
  return Status::OK();
}

uint64_t NewIncarnation() {
  static thread_local std::random_device rd;
  uint64_t v = 0;
  while (v == 0) v = (uint64_t{rd()} << 32) ^ rd();
  return v;
}

}  // namespace saker::storage

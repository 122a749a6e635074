// FenceStore: persisted per-queue fences (see the header).
#include "replication/fence_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace saker::replication {
namespace {

Status WriteDurably(const std::string& dir, const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("create " + tmp + ": " + std::strerror(errno));
  const bool ok =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
      ::fdatasync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return Status::IOError("write " + tmp + ": " + std::strerror(err));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IOError("rename " + tmp + ": " + std::strerror(errno));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::IOError("open " + dir + ": " + std::strerror(errno));
  const int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return Status::IOError("fsync " + dir + ": " + std::strerror(errno));
  return Status::OK();
}

struct WorkReq {
  uv_work_t req;
  std::string dir;
  std::string path;
  std::string content;
  Status result;
  std::function<void(Status)> done;
};

}  // namespace

FenceStore::FenceStore(EventLoop* loop, std::string dir) : loop_(loop), dir_(std::move(dir)) {}

FenceStore::~FenceStore() { *alive_ = false; }

Status FenceStore::Load() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::IOError("create " + dir_ + ": " + ec.message());
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".fence")) continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    Fence f;
    std::string line;
    while (std::getline(text, line)) {
      if (line.starts_with("epoch=")) {
        std::from_chars(line.data() + 6, line.data() + line.size(), f.epoch);
      } else if (line.starts_with("incarnation=")) {
        std::from_chars(line.data() + 12, line.data() + line.size(), f.incarnation, 16);
      }
    }
    if (f.epoch == 0 || f.incarnation == 0) {
      return Status::Corruption("fence file " + entry.path().string() + " is unreadable");
    }
    fences_[name.substr(0, name.size() - 6)] = f;
  }
  if (ec) return Status::IOError("list " + dir_ + ": " + ec.message());
  return Status::OK();
}

uint64_t FenceStore::Get(std::string_view queue, uint64_t incarnation) const {
  auto it = fences_.find(queue);
  if (it == fences_.end() || it->second.incarnation != incarnation) return 0;
  return it->second.epoch;
}

void FenceStore::Raise(const std::string& queue, uint64_t incarnation, uint64_t epoch,
                       std::function<void(Status)> done) {
  Fence& f = fences_[queue];
  if (f.incarnation != incarnation) f = {incarnation, 0};
  f.epoch = std::max(f.epoch, epoch);
  writes_.push_back({dir_ + "/" + queue + ".fence",
                     fmt::format("epoch={}\nincarnation={:016x}\n", f.epoch, incarnation),
                     std::move(done)});
  StartNext();
}

void FenceStore::StartNext() {
  if (writing_ || writes_.empty()) return;
  writing_ = true;
  Write w = std::move(writes_.front());
  writes_.pop_front();
  auto* r = new WorkReq;
  r->req.data = r;
  r->dir = dir_;
  r->path = std::move(w.path);
  r->content = std::move(w.content);
  r->done = [this, alive = alive_, done = std::move(w.done)](Status st) {
    if (!*alive) return;
    writing_ = false;
    done(st);
    StartNext();
  };
  uv_queue_work(
      loop_->uv(), &r->req,
      [](uv_work_t* req) {
        auto* r = static_cast<WorkReq*>(req->data);
        r->result = WriteDurably(r->dir, r->path, r->content);
      },
      [](uv_work_t* req, int) {
        auto* r = static_cast<WorkReq*>(req->data);
        r->done(r->result);
        delete r;
      });
}

}  // namespace saker::replication

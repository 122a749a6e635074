// FenceStore: each queue's fence on this replica, the epoch below which it takes no appends
// (replication/PROTOCOL.md "Fencing"). A fence is persisted before the fence request is
// answered, or a crash could forget it and let a paused ex-leader reach its quorum again.
// One small file per queue, `<data_dir>/replication/<queue>.fence`, written atomically (tmp,
// fdatasync, rename, fsync of the folder) on libuv's thread pool, one write at a time.
//
// Loop thread only (the writes run off it).
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "server/common/event_loop.h"
#include "server/common/status.h"

namespace saker::replication {

class FenceStore {
 public:
  FenceStore(EventLoop* loop, std::string dir);
  ~FenceStore();

  // Reads every fence file (blocking; before the loop serves). Creates the folder.
  Status Load();
  // The fence of `queue` at `incarnation` (0: none, or one of another incarnation).
  uint64_t Get(std::string_view queue, uint64_t incarnation) const;
  // Raises the fence of `queue` to `epoch` at once (Get sees it); `done` runs on the loop once
  // it is durable, or with the error that kept it from the disk.
  void Raise(const std::string& queue, uint64_t incarnation, uint64_t epoch,
             std::function<void(Status)> done);

 private:
  struct Fence {
    uint64_t incarnation = 0;
    uint64_t epoch = 0;
  };
  struct Write {
    std::string path;
    std::string content;
    std::function<void(Status)> done;
  };
  void StartNext();

  EventLoop* loop_;
  std::string dir_;
  std::map<std::string, Fence, std::less<>> fences_;
  std::deque<Write> writes_;
  bool writing_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace saker::replication

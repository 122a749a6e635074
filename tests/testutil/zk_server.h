// ZkServer: a real ZooKeeper (Debian's `zookeeper` package) run as a plain Java process on
// 127.0.0.1 for the cluster tests: its own port, data dir and zoo.cfg (tickTime=200, so
// sessions of 0.4-4 s are allowed; forceSync=no). Ready once the `srvr` four-letter word shows
// "Mode:" (`ruok` answers before the server serves; reference/stack-notes.md §2). Stopped by its
// PID on request or destruction, and killed by the kernel if the test process dies first.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace saker::test {

class ZkServer {
 public:
  // Keeps its config, data and log under `dir` (which must exist). `port` 0 picks a free one.
  explicit ZkServer(std::string dir, int port = 0);
  ~ZkServer();
  ZkServer(const ZkServer&) = delete;
  ZkServer& operator=(const ZkServer&) = delete;

  // Spawns java and waits (bounded) until `srvr` shows it serving. False, with its log printed,
  // if it exited or timed out. Starting again after Kill() keeps the data and the port.
  bool Start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // SIGKILL and reap.
  void Kill();
  // SIGSTOP / SIGCONT: every session it holds sees a server that answers nothing.
  void Pause();
  void Resume();
  bool running() const { return pid_ > 0; }

  int port() const { return port_; }
  // "127.0.0.1:PORT", what sakerd's --zookeeper takes (append a "/chroot").
  std::string address() const;
  // The answer to a four-letter word ("srvr", "ruok"), empty when it does not answer.
  std::string FourLetter(const std::string& word) const;
  std::string Log() const;

 private:
  std::string dir_;
  int port_;
  pid_t pid_ = -1;
};

}  // namespace saker::test

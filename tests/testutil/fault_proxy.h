// FaultProxy: a TCP proxy on 127.0.0.1 that fault tests put between two processes (a client
// and a node, or two nodes' replication ports) to cut, partition and slow the link between
// them (shared/reference/replication.md §6.2 nemeses). Test code only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "server/common/status.h"

namespace saker::test {

// Forwards every connection accepted on its port to 127.0.0.1:target, on its own thread
// (poll() over non-blocking sockets). A FIN from either side is forwarded as a half-close once
// the bytes before it are delivered; an error or reset on either side resets both.
//
// Every control below is callable from any thread and takes effect before it returns: after
// Cut() returns no connection is open, after Blackhole() returns no further byte is delivered.
// Faults do not stack: each call sets the proxy's one fault, and Heal() clears it.
class FaultProxy {
 public:
  struct Counters {
    uint64_t accepted = 0;  // connections forwarded to the target
    uint64_t refused = 0;   // connections reset at once: Cut, no target, or the target refused
    uint64_t open = 0;      // connections open now (including ones still connecting)
    uint64_t bytes_to_target = 0;  // bytes delivered client -> target
    uint64_t bytes_to_client = 0;  // bytes delivered target -> client
  };

  // Listens on 127.0.0.1:listen_port (0: a free port, see port()) and forwards to
  // 127.0.0.1:target_port. With target_port 0 connections are refused until SetTarget().
  // IOError if the socket cannot be bound or the thread's wakeup cannot be made.
  static Result<std::unique_ptr<FaultProxy>> Start(uint16_t target_port, uint16_t listen_port = 0);
  // Stops the thread (at once: it wakes from poll()) and closes every socket.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  uint16_t port() const { return port_; }
  Counters counters() const;

  // Where new connections go from now on (a restarted target on another port); open
  // connections keep their target.
  void SetTarget(uint16_t target_port);

  // Resets every open connection (both sides get a RST, buffered bytes are dropped) and
  // resets each new one at once until Heal(). The listening port stays bound throughout, so
  // Heal() can never lose it to another socket.
  void Cut();

  // A partition where packets vanish: connections stay open but nothing moves either way.
  // Bytes already read are held, and the proxy stops reading, so senders fill their socket
  // buffers and then block, as over a link that drops everything. New connections wait in
  // the listen backlog, not accepted. Nothing is dropped: after Heal() the held bytes are
  // delivered in order, as TCP's retransmission would once a partition heals, and a FIN or
  // reset that came meanwhile is acted on. A test that wants the connections dead uses Cut().
  void Blackhole();

  // Delivers each byte no sooner than `delay` after it was read, both ways, in order. Applies
  // to bytes read from now on.
  void SetDelay(std::chrono::milliseconds delay);

  // Ends Cut and Blackhole and sets the delay back to zero.
  void Heal();

 private:
  enum class Fault { kNone, kBlackhole, kCut };
  struct Settings {
    Fault fault = Fault::kNone;
    std::chrono::milliseconds delay{0};
    uint16_t target_port = 0;
  };

  FaultProxy(int listen_fd, int wake_fd, uint16_t port, uint16_t target_port);
  // Changes the settings under mu_, wakes the thread and waits until it has applied them.
  template <typename F>
  void Change(F change);
  void Run();

  const int listen_fd_;
  const int wake_fd_;  // eventfd: a write wakes the thread from poll()
  const uint16_t port_;

  std::mutex mu_;
  std::condition_variable applied_cv_;
  Settings settings_;       // guarded by mu_
  uint64_t requested_ = 0;  // guarded by mu_: bumped by each change
  uint64_t applied_ = 0;    // guarded by mu_: the last change the thread has applied
  bool stop_ = false;       // guarded by mu_

  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> bytes_to_target_{0};
  std::atomic<uint64_t> bytes_to_client_{0};

  std::thread thread_;
};

}  // namespace saker::test

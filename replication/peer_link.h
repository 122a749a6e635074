// PeerLink: this node's one outgoing connection to a peer's replication listener, on the loop
// thread. Calls are pipelined: each frame is written as it comes and the replies, which the
// peer sends in request order, complete the calls in order. A frame is shared, never copied,
// so one append's bytes go to every follower from the same buffer.
//
// Failure: a connection that fails, closes, or leaves the oldest call unanswered for
// `timeout_ms` is closed and every call on it completes with Unavailable (the peer may or may
// not have acted on it). The next Call reconnects, at most once per kReconnectMs; calls made
// before that fail at once.
//
// Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/common/event_loop.h"
#include "server/common/status.h"

namespace saker::replication {

class PeerLink {
 public:
  using ReplyFn = std::function<void(const Status& st, std::string_view reply)>;
  static constexpr int64_t kReconnectMs = 200;

  PeerLink(EventLoop* loop, int node_id, int64_t timeout_ms);
  ~PeerLink();
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  // Where the peer listens; a change closes the current connection.
  void SetAddress(const std::string& host, int port);
  // Sends `frame` (a whole frame, replication/wire.h); `done` runs on the loop, never inline.
  void Call(std::shared_ptr<const std::string> frame, ReplyFn done);
  // Closes the connection now; pending calls fail with Unavailable.
  void Reset(const std::string& why);
  // Closes for good (the destructor does too): no callbacks run afterwards.
  void Shutdown();

  int node_id() const { return node_id_; }
  bool connected() const { return state_ == State::kConnected; }
  size_t pending() const { return calls_.size(); }
  uint64_t calls() const { return calls_total_; }
  uint64_t failures() const { return failures_; }
  // Round trip of the last answered call, microseconds.
  int64_t last_rtt_us() const { return last_rtt_us_; }

 private:
  enum class State { kIdle, kConnecting, kConnected };
  struct Socket;
  struct Pending {
    ReplyFn done;
    int64_t sent_ms = 0;
    int64_t sent_us = 0;
  };

  void Connect();
  void Write(const std::shared_ptr<const std::string>& frame);
  void OnConnected(int status);
  void OnRead(const char* data, size_t n);
  void Fail(const Status& st);
  void CheckTimeout();

  EventLoop* loop_;
  int node_id_;
  int64_t timeout_ms_;
  std::string host_;
  int port_ = 0;
  State state_ = State::kIdle;
  std::shared_ptr<Socket> socket_;
  std::deque<std::shared_ptr<const std::string>> unsent_;  // while connecting
  std::deque<Pending> calls_;
  std::string input_;
  int64_t last_attempt_ms_ = -kReconnectMs;
  uv_timer_t* timer_ = nullptr;
  bool shut_down_ = false;
  uint64_t calls_total_ = 0;
  uint64_t failures_ = 0;
  int64_t last_rtt_us_ = 0;
};

}  // namespace saker::replication

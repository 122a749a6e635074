// Connection: one accepted TCP socket on the loop thread. It owns the read buffer, keeps
// replies in request order (ordered slots: a parked blocking get holds back the replies
// pipelined behind it, as Kestrel and generated Thrift clients with seqid 0 expect), gathers
// every reply made during one loop iteration into one uv_write (from a before-sleep hook), and
// applies backpressure: reading pauses while too much output or too many requests are pending.
//
// Lifetime: Connections are shared_ptr-owned; the socket holds a self-reference until its
// uv_close callback. Asynchronous work (a put waiting for fsync, a parked get) holds a
// weak_ptr or checks closed() before writing. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/admin/counters.h"
#include "server/net/limits.h"

namespace saker::net {

class Connection;

// What a listener's protocol does with a connection's bytes.
class ProtocolHandler {
 public:
  virtual ~ProtocolHandler() = default;
  // New bytes were appended to conn->input(). Consume every whole request with
  // conn->Consume(n) (stop early only if the connection closed); bytes left unconsumed are a
  // partial request and stay for the next call. Backpressure pauses reading from the socket,
  // never the parsing of bytes already read.
  virtual void OnData(Connection* conn) = 0;
  // The connection is closing (peer left, error, or Close()); release waiters and leases.
  // Called exactly once; no more OnData after it.
  virtual void OnClose(Connection* conn) = 0;
  // True while the handler is inside a request whose bytes are not in conn->input() (a memcache
  // data block it skips as it arrives): the request deadline keeps running.
  virtual bool InRequest() const { return false; }
};

using admin::ConnectionCounters;

// Shared by all connections of a server: the set written to in this loop iteration.
class WriteScheduler;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Slot = uint64_t;

  // Accepts the pending connection of `server`. nullptr if accept failed (logged).
  static std::shared_ptr<Connection> Accept(uv_stream_t* server,
                                            std::unique_ptr<ProtocolHandler> handler,
                                            WriteScheduler* scheduler, ConnectionLimits limits,
                                            ConnectionCounters* counters, uint64_t id);
  ~Connection();

  void StartReading();

  // Bytes received and not yet consumed.
  std::string_view input() const {
    return std::string_view(in_.get() + in_start_, in_end_ - in_start_);
  }
  // Drops the first `n` bytes of input(): whole requests, whose deadline ends with them.
  void Consume(size_t n);
  // Drops `n` bytes of a request that is not over (the handler's InRequest()): its deadline
  // keeps running.
  void ConsumePartial(size_t n);

  // Request deadline (ConnectionLimits::request_timeout_ms). A request starts with its first
  // byte and ends when the handler consumes it; a request the handler left unconsumed behind
  // ResumeWhenIdle() is whole and waits on the server, so it does not count. Closes the
  // connection (counting it in request_timeouts) and returns true if the request in progress
  // started `request_timeout_ms` or more before `now_ms` (loop time).
  bool CloseIfRequestOverdue(uint64_t now_ms);

  // Reserves the next reply position. Every reserved slot must be filled with Reply() or
  // Skip(); replies go out in slot order.
  Slot Reserve();
  // Fills `slot` with `bytes` (copied). Fine after close (dropped).
  void Reply(Slot slot, std::string_view bytes);
  // Fills `slot` with nothing (oneway calls, quit).
  void Skip(Slot slot) { Reply(slot, {}); }
  // Reserve + Reply in one step (an immediate answer).
  void Send(std::string_view bytes) { Reply(Reserve(), bytes); }
  // Loop time (uv_now, ms) of the last bytes received, or of the accept.
  uint64_t last_read_ms() const { return last_read_ms_; }

  // Reserved slots not yet filled.
  size_t pending_replies() const { return slots_.size(); }
  // Barrier for read-your-writes on one connection: the handler stops parsing (leaving the
  // request unconsumed) and asks to be called again once every pending reply is filled. A get
  // pipelined behind a set must see that set's item, as on Kestrel, where requests are served
  // one at a time; puts themselves keep pipelining, so group commit still batches them.
  void ResumeWhenIdle() { resume_when_idle_ = true; }

  // Direct access to the output buffer when no slot is pending (the fast path for an
  // immediate reply): encode into it without a copy. Precondition: CanWriteDirect().
  bool CanWriteDirect() const { return slots_.empty() && !closing_; }
  std::string* direct_output();

  // Closes after everything already replied has been written (Kestrel's "reply then close").
  void CloseAfterWrite();
  // Closes now; unwritten output is dropped.
  void Close();
  // True once Close() or CloseAfterWrite() was called: serve no more requests.
  bool closed() const { return closing_ || close_after_write_; }

  // Runs once after the handler's OnClose (the listener uses it to count connections).
  void set_close_hook(std::function<void(Connection*)> hook) { close_hook_ = std::move(hook); }

  uint64_t id() const { return id_; }
  const std::string& peer() const { return peer_; }
  ProtocolHandler* handler() { return handler_.get(); }

 private:
  friend class WriteScheduler;
  Connection(std::unique_ptr<ProtocolHandler> h, WriteScheduler* scheduler, ConnectionLimits limits,
             ConnectionCounters* counters, uint64_t id);

  struct PendingSlot {
    bool ready = false;
    std::string bytes;
  };

  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWriteDone(uv_write_t* req, int status);
  static void OnClosed(uv_handle_t* handle);

  void MarkDirty();
  // Called by the scheduler once per iteration: starts one uv_write of out_.
  void Flush();
  void UpdateReading();
  // Runs the handler over buffered input (re-entry safe), then starts or ends the request
  // deadline.
  void Dispatch();

  uv_tcp_t tcp_;
  std::unique_ptr<ProtocolHandler> handler_;
  WriteScheduler* scheduler_;
  ConnectionLimits limits_;
  ConnectionCounters* counters_;
  uint64_t id_;
  std::string peer_;
  std::shared_ptr<Connection> self_;  // until uv_close completes
  std::function<void(Connection*)> close_hook_;

  std::unique_ptr<char[]> in_;  // [in_start_, in_end_) is unconsumed input
  size_t in_cap_ = 0;
  size_t in_start_ = 0;
  size_t in_end_ = 0;

  std::deque<PendingSlot> slots_;  // slots_[0] is slot head_slot_
  Slot head_slot_ = 0;
  Slot next_slot_ = 0;
  std::string out_;           // ready, not yet handed to uv_write
  size_t writing_bytes_ = 0;  // handed to uv_write, not yet completed
  bool dirty_ = false;
  bool reading_ = false;
  bool close_after_write_ = false;
  bool closing_ = false;
  bool handler_closed_ = false;
  bool resume_when_idle_ = false;
  uint64_t last_read_ms_ = 0;
  bool in_on_data_ = false;
  bool in_request_ = false;        // a request has started and is not whole yet
  uint64_t request_start_ms_ = 0;  // loop time of its first byte
};

// Collects the connections written to during one loop iteration and flushes each once from a
// before-sleep hook, so many replies cost one write syscall.
class WriteScheduler {
 public:
  void Add(std::shared_ptr<Connection> conn) { dirty_.push_back(std::move(conn)); }
  // Before-sleep hook body.
  void FlushAll();

 private:
  std::vector<std::shared_ptr<Connection>> dirty_;
};

}  // namespace saker::net

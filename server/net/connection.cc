// Connection: reads into one growable buffer, replies in slot order, writes once per loop
// iteration (uv_try_write first; uv_write for what the socket did not take).
#include "server/net/connection.h"

#include <cstring>

#include "server/common/check.h"
#include "server/common/logging.h"

namespace saker::net {
namespace {

constexpr size_t kMinReadSpace = 16u << 10;
constexpr size_t kInitialInput = 64u << 10;

struct WriteReq {
  uv_write_t req;
  std::string data;
  std::shared_ptr<Connection> conn;
};

std::string PeerName(uv_tcp_t* tcp) {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    uv_ip4_name(a, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    uv_ip6_name(a, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

}  // namespace

Connection::Connection(std::unique_ptr<ProtocolHandler> h, WriteScheduler* scheduler,
                       ConnectionLimits limits, ConnectionCounters* counters, uint64_t id)
    : handler_(std::move(h)),
      scheduler_(scheduler),
      limits_(limits),
      counters_(counters),
      id_(id) {}

Connection::~Connection() = default;

std::shared_ptr<Connection> Connection::Accept(uv_stream_t* server,
                                               std::unique_ptr<ProtocolHandler> handler,
                                               WriteScheduler* scheduler, ConnectionLimits limits,
                                               ConnectionCounters* counters, uint64_t id) {
  static auto& log = logging::Get("net");
  std::shared_ptr<Connection> conn(
      new Connection(std::move(handler), scheduler, limits, counters, id));
  SAKER_CHECK(uv_tcp_init(server->loop, &conn->tcp_) == 0);
  conn->tcp_.data = conn.get();
  conn->self_ = conn;
  int rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(&conn->tcp_));
  if (rc != 0) {
    static logging::RateLimit limit(std::chrono::seconds(1));
    if (uint64_t skipped = 0; limit.Allow(&skipped)) {
      log.warn("accept failed: {} ({} more since)", uv_strerror(rc), skipped);
    }
    conn->closing_ = true;
    conn->handler_closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp_), &Connection::OnClosed);
    return nullptr;
  }
  uv_tcp_nodelay(&conn->tcp_, 1);
  conn->last_read_ms_ = uv_now(server->loop);
  conn->peer_ = PeerName(&conn->tcp_);
  return conn;
}

void Connection::StartReading() { UpdateReading(); }

void Connection::Consume(size_t n) {
  ConsumePartial(n);
  if (n > 0) in_request_ = false;
}

void Connection::ConsumePartial(size_t n) {
  SAKER_CHECK(n <= in_end_ - in_start_);
  in_start_ += n;
  if (in_start_ == in_end_) in_start_ = in_end_ = 0;
}

bool Connection::CloseIfRequestOverdue(uint64_t now_ms) {
  if (!in_request_ || closed() || limits_.request_timeout_ms <= 0 ||
      now_ms - request_start_ms_ < static_cast<uint64_t>(limits_.request_timeout_ms)) {
    return false;
  }
  static auto& log = logging::Get("net");
  log.debug("connection {} from {}: request unfinished after {} ms (request_timeout_ms), closing",
            id_, peer_, now_ms - request_start_ms_);
  counters_->request_timeouts++;
  Close();
  return true;
}

void Connection::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(handle->data);
  if (c->in_cap_ - c->in_end_ < kMinReadSpace) {
    size_t live = c->in_end_ - c->in_start_;
    if (c->in_start_ > 0 && c->in_cap_ - live >= kMinReadSpace) {
      std::memmove(c->in_.get(), c->in_.get() + c->in_start_, live);
    } else {
      size_t cap = std::max(kInitialInput, c->in_cap_ * 2);
      while (cap - live < kMinReadSpace) cap *= 2;
      std::unique_ptr<char[]> bigger(new char[cap]);
      if (live > 0) std::memcpy(bigger.get(), c->in_.get() + c->in_start_, live);
      c->in_ = std::move(bigger);
      c->in_cap_ = cap;
    }
    c->in_start_ = 0;
    c->in_end_ = live;
  }
  buf->base = c->in_.get() + c->in_end_;
  buf->len = c->in_cap_ - c->in_end_;
}

void Connection::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  auto* c = static_cast<Connection*>(stream->data);
  if (nread == 0) return;  // EAGAIN
  if (nread < 0) {
    c->Close();
    return;
  }
  // Keep the connection alive while the handler runs, even if it closes it.
  std::shared_ptr<Connection> hold = c->self_;
  c->in_end_ += static_cast<size_t>(nread);
  c->last_read_ms_ = uv_now(stream->loop);
  c->counters_->bytes_read += static_cast<uint64_t>(nread);
  if (c->closing_ || c->close_after_write_) return;
  c->Dispatch();
  if (!c->closing_ && c->in_end_ - c->in_start_ > c->limits_.max_request_bytes) {
    static auto& log = logging::Get("net");
    log.debug("connection {} from {}: request over {} bytes, closing", c->id_, c->peer_,
              c->limits_.max_request_bytes);
    c->Close();
    return;
  }
  c->UpdateReading();
}

Connection::Slot Connection::Reserve() {
  slots_.emplace_back();
  UpdateReading();
  return next_slot_++;
}

void Connection::Reply(Slot slot, std::string_view bytes) {
  if (closing_) return;
  SAKER_CHECK(slot >= head_slot_ && slot < next_slot_);
  size_t idx = slot - head_slot_;
  if (idx == 0) {
    out_.append(bytes);
    slots_.pop_front();
    head_slot_++;
    while (!slots_.empty() && slots_.front().ready) {
      out_.append(slots_.front().bytes);
      slots_.pop_front();
      head_slot_++;
    }
  } else {
    slots_[idx].ready = true;
    slots_[idx].bytes.assign(bytes);
  }
  MarkDirty();
  if (slots_.empty() && resume_when_idle_ && !in_on_data_) Dispatch();
}

void Connection::Dispatch() {
  if (in_on_data_) return;
  std::shared_ptr<Connection> hold = self_;
  in_on_data_ = true;
  // A barrier that is lifted while the handler runs (an inline reply) lets it run again.
  do {
    resume_when_idle_ = false;
    if (closed() || in_end_ == in_start_) break;
    handler_->OnData(this);
  } while (resume_when_idle_ && slots_.empty());
  in_on_data_ = false;
  // What is left is the start of the next request, unless the handler is holding a whole one
  // back (ResumeWhenIdle): the deadline runs from the read that brought its first byte.
  const bool partial = (in_end_ > in_start_ || handler_->InRequest()) && !resume_when_idle_;
  if (!partial) {
    in_request_ = false;
  } else if (!in_request_) {
    in_request_ = true;
    request_start_ms_ = uv_now(tcp_.loop);
  }
}

std::string* Connection::direct_output() {
  MarkDirty();
  return &out_;
}

void Connection::MarkDirty() {
  if (!dirty_ && !closing_) {
    dirty_ = true;
    scheduler_->Add(shared_from_this());
  }
}

void Connection::Flush() {
  dirty_ = false;
  if (closing_) return;
  if (!out_.empty()) {
    uv_buf_t buf = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
    int n = writing_bytes_ == 0 ? uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1)
                                : UV_EAGAIN;
    if (n < 0 && n != UV_EAGAIN) {
      Close();
      return;
    }
    size_t written = n > 0 ? static_cast<size_t>(n) : 0;
    counters_->bytes_written += written;
    if (written < out_.size()) {
      auto* w = new WriteReq;
      w->data.assign(out_, written, std::string::npos);
      w->conn = shared_from_this();
      writing_bytes_ += w->data.size();
      uv_buf_t rest = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
      int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &rest, 1,
                        &Connection::OnWriteDone);
      if (rc != 0) {
        writing_bytes_ -= w->data.size();
        delete w;
        Close();
        return;
      }
    }
    out_.clear();
    if (out_.capacity() > (1u << 20)) out_.shrink_to_fit();
  }
  if (close_after_write_ && slots_.empty() && writing_bytes_ == 0) {
    Close();
    return;
  }
  UpdateReading();
}

void Connection::OnWriteDone(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  Connection* c = w->conn.get();
  c->writing_bytes_ -= w->data.size();
  if (status < 0) {
    c->Close();
  } else {
    c->counters_->bytes_written += w->data.size();
    if (c->close_after_write_ && c->slots_.empty() && c->out_.empty() && c->writing_bytes_ == 0) {
      c->Close();
    } else {
      c->UpdateReading();
    }
  }
  delete w;
}

void Connection::CloseAfterWrite() {
  if (closing_) return;
  close_after_write_ = true;
  UpdateReading();
  if (!dirty_ && slots_.empty() && out_.empty() && writing_bytes_ == 0) {
    Close();
    return;
  }
  MarkDirty();
}

void Connection::Close() {
  if (closing_) return;
  closing_ = true;
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  reading_ = false;
  if (!handler_closed_) {
    handler_closed_ = true;
    handler_->OnClose(this);
    if (close_hook_) close_hook_(this);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Connection::OnClosed);
}

void Connection::OnClosed(uv_handle_t* handle) {
  auto* c = static_cast<Connection*>(handle->data);
  // Dropping the self-reference may destroy the connection; nothing touches it afterwards.
  std::shared_ptr<Connection> last = std::move(c->self_);
}

void Connection::UpdateReading() {
  bool want = !closing_ && !close_after_write_ &&
              out_.size() + writing_bytes_ < limits_.output_high_water &&
              slots_.size() < limits_.max_pending_replies;
  if (want == reading_) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want) {
    if (uv_read_start(stream, &Connection::OnAlloc, &Connection::OnRead) == 0) reading_ = true;
  } else {
    uv_read_stop(stream);
    reading_ = false;
  }
}

void WriteScheduler::FlushAll() {
  // Flush may close connections, whose close callbacks only run later: iteration is safe.
  std::vector<std::shared_ptr<Connection>> batch;
  batch.swap(dirty_);
  for (auto& c : batch) c->Flush();
}

}  // namespace saker::net

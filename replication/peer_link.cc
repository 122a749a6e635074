// PeerLink: pipelined calls over one libuv TCP connection (see the header).
#include "replication/peer_link.h"

#include "replication/wire.h"
#include "server/common/clock.h"
#include "server/common/logging.h"

namespace saker::replication {
namespace {

spdlog::logger& Log() {
  static auto& log = logging::Get("replication");
  return log;
}

int64_t NowMs() { return MonotonicMicros() / 1000; }

}  // namespace

// The uv handle outlives the PeerLink that opened it until uv_close completes; `link` is
// cleared when the link lets go of it, so late callbacks do nothing.
struct PeerLink::Socket {
  uv_tcp_t tcp;
  uv_connect_t connect;
  PeerLink* link = nullptr;
  std::shared_ptr<Socket> self;  // until the close callback
  bool closing = false;

  void Close() {
    link = nullptr;
    if (closing) return;
    closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) {
      auto* s = static_cast<Socket*>(h->data);
      s->self.reset();
    });
  }
};

namespace {

struct WriteReq {
  uv_write_t req;
  std::shared_ptr<const std::string> frame;
};

}  // namespace

PeerLink::PeerLink(EventLoop* loop, int node_id, int64_t timeout_ms)
    : loop_(loop), node_id_(node_id), timeout_ms_(timeout_ms) {
  timer_ = new uv_timer_t;
  uv_timer_init(loop_->uv(), timer_);
  timer_->data = this;
  const uint64_t every = static_cast<uint64_t>(std::max<int64_t>(10, timeout_ms_ / 4));
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<PeerLink*>(t->data)->CheckTimeout(); }, every, every);
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
}

PeerLink::~PeerLink() { Shutdown(); }

void PeerLink::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (timer_ != nullptr) {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
  if (socket_) socket_->Close();
  socket_.reset();
  state_ = State::kIdle;
  unsent_.clear();
  calls_.clear();
}

void PeerLink::SetAddress(const std::string& host, int port) {
  if (host == host_ && port == port_) return;
  host_ = host;
  port_ = port;
  if (state_ != State::kIdle) Reset("the peer's address changed");
}

void PeerLink::Call(std::shared_ptr<const std::string> frame, ReplyFn done) {
  if (shut_down_) return;
  if (state_ == State::kIdle) {
    if (port_ == 0 || NowMs() - last_attempt_ms_ < kReconnectMs) {
      failures_++;
      loop_->Post([done = std::move(done), node = node_id_] {
        done(Status::Unavailable("node " + std::to_string(node) + " is not reachable"), {});
      });
      return;
    }
    Connect();
  }
  calls_total_++;
  calls_.push_back({std::move(done), NowMs(), MonotonicMicros()});
  if (state_ == State::kConnected) {
    Write(frame);
  } else {
    unsent_.push_back(std::move(frame));
  }
}

void PeerLink::Connect() {
  last_attempt_ms_ = NowMs();
  sockaddr_in addr{};
  if (uv_ip4_addr(host_.c_str(), port_, &addr) != 0) {
    Log().warn("node {}: bad replication address {}:{}", node_id_, host_, port_);
    return;
  }
  auto s = std::make_shared<Socket>();
  s->self = s;
  s->link = this;
  uv_tcp_init(loop_->uv(), &s->tcp);
  s->tcp.data = s.get();
  s->connect.data = s.get();
  uv_tcp_nodelay(&s->tcp, 1);
  int rc = uv_tcp_connect(&s->connect, &s->tcp, reinterpret_cast<const sockaddr*>(&addr),
                          [](uv_connect_t* req, int status) {
                            auto* s = static_cast<Socket*>(req->data);
                            if (s->link != nullptr) s->link->OnConnected(status);
                          });
  socket_ = s;
  state_ = State::kConnecting;
  if (rc != 0) {
    loop_->Post([this, s, rc] {
      if (s->link == this) OnConnected(rc);
    });
  }
}

void PeerLink::OnConnected(int status) {
  if (status != 0) {
    Fail(Status::Unavailable("connect to node " + std::to_string(node_id_) + " at " + host_ + ":" +
                             std::to_string(port_) + ": " + uv_strerror(status)));
    return;
  }
  state_ = State::kConnected;
  Socket* s = socket_.get();
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&s->tcp),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        auto* s = static_cast<Socket*>(stream->data);
        if (s->link != nullptr) {
          if (nread > 0) {
            s->link->OnRead(buf->base, static_cast<size_t>(nread));
          } else if (nread < 0) {
            s->link->Fail(Status::Unavailable("connection to node " +
                                              std::to_string(s->link->node_id_) +
                                              " lost: " + uv_strerror(static_cast<int>(nread))));
          }
        }
        delete[] buf->base;
      });
  while (!unsent_.empty() && state_ == State::kConnected) {
    auto frame = std::move(unsent_.front());
    unsent_.pop_front();
    Write(frame);
  }
}

void PeerLink::Write(const std::shared_ptr<const std::string>& frame) {
  auto* w = new WriteReq;
  w->frame = frame;
  uv_buf_t buf =
      uv_buf_init(const_cast<char*>(frame->data()), static_cast<unsigned>(frame->size()));
  w->req.data = socket_.get();
  int rc = uv_write(
      &w->req, reinterpret_cast<uv_stream_t*>(&socket_->tcp), &buf, 1,
      [](uv_write_t* req, int status) {
        auto* w = reinterpret_cast<WriteReq*>(req);
        auto* s = static_cast<Socket*>(req->data);
        if (status != 0 && s->link != nullptr) {
          s->link->Fail(Status::Unavailable(std::string("write to peer: ") + uv_strerror(status)));
        }
        delete w;
      });
  if (rc != 0) {
    delete w;
    Fail(Status::Unavailable(std::string("write to peer: ") + uv_strerror(rc)));
  }
}

void PeerLink::OnRead(const char* data, size_t n) {
  input_.append(data, n);
  size_t pos = 0;
  while (state_ == State::kConnected) {
    Result<size_t> len = FrameLength(std::string_view(input_).substr(pos));
    if (!len.ok()) {
      Fail(len.status());
      return;
    }
    if (*len == 0) break;
    if (calls_.empty()) {
      Fail(Status::Corruption("node " + std::to_string(node_id_) + " sent an unasked reply"));
      return;
    }
    Pending p = std::move(calls_.front());
    calls_.pop_front();
    last_rtt_us_ = MonotonicMicros() - p.sent_us;
    std::string frame = input_.substr(pos, *len);
    pos += *len;
    p.done(Status::OK(), frame);
    if (shut_down_) return;
  }
  if (state_ == State::kConnected) {
    input_.erase(0, pos);
  }
}

void PeerLink::Reset(const std::string& why) { Fail(Status::Unavailable(why)); }

void PeerLink::Fail(const Status& st) {
  if (state_ == State::kIdle) return;
  if (socket_) socket_->Close();
  socket_.reset();
  state_ = State::kIdle;
  input_.clear();
  unsent_.clear();
  std::deque<Pending> calls = std::move(calls_);
  calls_.clear();
  failures_ += calls.size();
  if (!calls.empty()) {
    Log().warn("node {}: {} ({} calls failed)", node_id_, st.ToString(), calls.size());
  }
  for (Pending& p : calls) {
    loop_->Post([done = std::move(p.done), st] { done(st, {}); });
  }
}

void PeerLink::CheckTimeout() {
  if (calls_.empty()) return;
  if (NowMs() - calls_.front().sent_ms >= timeout_ms_) {
    Fail(Status::Unavailable("node " + std::to_string(node_id_) + " answered nothing for " +
                             std::to_string(timeout_ms_) + " ms"));
  }
}

}  // namespace saker::replication

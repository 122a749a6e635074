// Listener: libuv TCP server socket.
#include "server/net/listener.h"

#include "server/common/logging.h"

namespace saker::net {
namespace {
// Connection ids are unique across listeners: the queue engine uses them as lease owners.
uint64_t g_next_connection_id = 1;
}  // namespace

Listener::Listener(uv_loop_t* loop, std::string name, HandlerFactory factory,
                   WriteScheduler* scheduler, ConnectionLimits limits, ConnectionCounters* counters,
                   size_t max_connections)
    : loop_(loop),
      name_(std::move(name)),
      factory_(std::move(factory)),
      scheduler_(scheduler),
      limits_(limits),
      counters_(counters),
      max_connections_(max_connections) {}

Listener::~Listener() { Stop(); }

Status Listener::Listen(const std::string& host, int port) {
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    return Status::InvalidArgument("bad listen address: " + host);
  }
  tcp_ = new uv_tcp_t;
  uv_tcp_init(loop_, tcp_);
  tcp_->data = this;
  int rc = uv_tcp_bind(tcp_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp_), 1024, &Listener::OnAccept);
  if (rc != 0) {
    Stop();
    return Status::IOError(name_ + ": cannot listen on " + host + ":" + std::to_string(port) +
                           ": " + uv_strerror(rc));
  }
  sockaddr_storage got{};
  int len = sizeof got;
  uv_tcp_getsockname(tcp_, reinterpret_cast<sockaddr*>(&got), &len);
  port_ = ntohs(got.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
  bound_ = host + ":" + std::to_string(port_);
  logging::Get("net").info("{} listening on {}", name_, bound_);
  return Status::OK();
}

void Listener::Stop() {
  if (tcp_ == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(tcp_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  tcp_ = nullptr;
}

void Listener::OnAccept(uv_stream_t* server, int status) {
  auto* self = static_cast<Listener*>(server->data);
  if (status < 0) {
    // Out of descriptors repeats for every pending connection: once a second at most.
    static logging::RateLimit limit(std::chrono::seconds(1));
    if (uint64_t skipped = 0; limit.Allow(&skipped)) {
      logging::Get("net").warn("{}: accept error: {} ({} more since)", self->name_,
                               uv_strerror(status), skipped);
    }
    return;
  }
  auto conn = Connection::Accept(server, self->factory_(), self->scheduler_, self->limits_,
                                 self->counters_, g_next_connection_id++);
  if (!conn) return;
  if (self->counters_->current >= self->max_connections_) {
    self->counters_->refused++;
    static logging::RateLimit limit(std::chrono::seconds(1));
    if (uint64_t skipped = 0; limit.Allow(&skipped)) {
      logging::Get("net").warn(
          "{}: refusing {}: {} connections open (max_connections; {} more refused since)",
          self->name_, conn->peer(), self->counters_->current, skipped);
    }
    conn->Close();
    return;
  }
  self->counters_->current++;
  self->counters_->total++;
  ConnectionCounters* counters = self->counters_;
  conn->set_close_hook([counters](Connection*) { counters->current--; });
  if (self->on_connection_) self->on_connection_(conn);
  conn->StartReading();
}

}  // namespace saker::net

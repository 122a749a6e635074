// Server: start order (storage thread → engine → listeners → ready line) and stop order
// (listeners → connections → engine close, which answers waiters and commits cursors →
// storage thread stop, which syncs everything → loop stop).
#include "server/server.h"

#include <fmt/format.h>

#include <cstdio>

#include "replication/replica_session.h"
#include "server/common/check.h"
#include "server/common/logging.h"
#include "server/net/memcache_session.h"
#include "server/net/text_session.h"
#include "server/net/thrift_session.h"

namespace saker {
namespace {

auto& Log() {
  static auto& log = logging::Get("server");
  return log;
}

}  // namespace

Server::Server(ServerConfig config) : config_(std::move(config)) {
  counters_.start_wall_ms = SystemClock::Get()->NowWallMs();
  admin_router_ = [this](const net::HttpRequest& req) { return RouteAdmin(req); };
  loop_.AddBeforeSleep([this] { writes_.FlushAll(); }, EventLoop::HookOrder::kWrite);
}

Server::~Server() = default;

Status Server::Start() {
  storage_ = std::make_unique<storage::StorageThread>(&loop_, config_.engine.syncfs_min_queues);
  storage_->Start();
  std::unique_ptr<queue::Replicator> replicator;
  if (config_.cluster.enabled()) {
    auto cluster = std::make_unique<replication::Cluster>(
        &loop_, config_.cluster, static_cast<int>(config_.engine.node_id), config_.engine.data_dir);
    if (Status st = cluster->Load(); !st.ok()) {
      storage_->Stop();
      return st;
    }
    cluster_ = cluster.get();
    replicator = std::move(cluster);
  }
  auto engine = queue::QueueManager::Open(config_.engine, &loop_, storage_.get(),
                                          SystemClock::Get(), std::move(replicator));
  if (!engine.ok()) {
    storage_->Stop();
    return engine.status();
  }
  engine_ = std::move(engine).value();

  uv_timer_init(loop_.uv(), &tick_timer_);
  tick_timer_.data = this;
  auto tick = static_cast<uint64_t>(std::max<int64_t>(1, config_.engine.tick_ms));
  uv_timer_start(
      &tick_timer_, [](uv_timer_t* t) { static_cast<Server*>(t->data)->engine_->Tick(); }, tick,
      tick);

  // One sweep, at a quarter of the shortest timeout, closes idle connections and requests past
  // their deadline (the admin port's head deadline is never 0).
  const net::ConnectionLimits admin_limits = net::HttpLimits(config_.limits);
  int64_t shortest = admin_limits.request_timeout_ms;
  for (int64_t t : {config_.client_timeout_ms, config_.limits.request_timeout_ms}) {
    if (t > 0) shortest = std::min(shortest, t);
  }
  auto every = static_cast<uint64_t>(std::clamp<int64_t>(shortest / 4, 10, 1000));
  uv_timer_init(loop_.uv(), &sweep_timer_);
  sweep_timer_.data = this;
  uv_timer_start(
      &sweep_timer_, [](uv_timer_t* t) { static_cast<Server*>(t->data)->SweepConnections(); },
      every, every);

  uv_timer_init(loop_.uv(), &sample_timer_);
  sample_timer_.data = this;
  auto sample = static_cast<uint64_t>(config_.status_sample_ms);
  uv_timer_start(
      &sample_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Server*>(t->data);
        self->history_.Record(SystemClock::Get()->NowWallMs(), self->engine_->AllStats());
      },
      sample, sample);

  SAKER_RETURN_IF_ERROR(StartListener("memcache", config_.memcache_port, config_.limits, [this] {
    return std::make_unique<net::MemcacheSession>(this);
  }));
  SAKER_RETURN_IF_ERROR(StartListener("thrift", config_.thrift_port, config_.limits, [this] {
    return std::make_unique<net::ThriftSession>(this);
  }));
  SAKER_RETURN_IF_ERROR(StartListener("text", config_.text_port, config_.limits,
                                      [this] { return std::make_unique<net::TextSession>(this); }));
  SAKER_RETURN_IF_ERROR(StartListener("admin", config_.admin_port, admin_limits, [this] {
    return std::make_unique<net::HttpHandler>(&admin_router_);
  }));

  if (cluster_ != nullptr) SAKER_RETURN_IF_ERROR(StartCluster());

  for (auto* sig : {&sig_term_, &sig_int_, &sig_hup_}) {
    uv_signal_init(loop_.uv(), sig);
    sig->data = this;
  }
  uv_signal_start(&sig_term_, &Server::OnSignal, SIGTERM);
  uv_signal_start(&sig_int_, &Server::OnSignal, SIGINT);
  uv_signal_start(&sig_hup_, &Server::OnSignal, SIGHUP);

  // A status set before a restart is restored from meta.db (as Kestrel's status file was): say
  // so, or an operator sees refusals with no idea why.
  if (queue::ServerStatus status = engine_->status(); status != queue::ServerStatus::kUp) {
    Log().warn(
        "status {} restored from meta.db: {} refused until `saker status set up` (memcache: "
        "`status up`)",
        queue::ServerStatusName(status),
        status == queue::ServerStatus::kReadOnly ? "puts, flushes and deletes are"
                                                 : "puts, gets, flushes and deletes are");
  }
  ready_line_ = "sakerd ready";
  for (const auto& l : listeners_) ready_line_ += " " + l->name() + "=" + l->bound();
  if (cluster_ != nullptr) {
    ready_line_ += " node=" + std::to_string(config_.engine.node_id);
    Log().info("listening; ready once registered in ZooKeeper at {}", config_.cluster.zookeeper);
  } else {
    AnnounceReady();
  }
  return Status::OK();
}

void Server::AnnounceReady() {
  ready_ = true;
  std::fprintf(stdout, "%s\n", ready_line_.c_str());
  std::fflush(stdout);
  Log().info("{} (data dir {}, sync {})", ready_line_, config_.engine.data_dir,
             config_.engine.defaults.sync.ToString());
}

Status Server::StartListener(const std::string& name, int port, const net::ConnectionLimits& limits,
                             net::Listener::HandlerFactory factory) {
  if (port < 0) return Status::OK();
  auto listener =
      std::make_unique<net::Listener>(loop_.uv(), name, std::move(factory), &writes_, limits,
                                      &counters_.connections, config_.max_connections);
  listener->set_on_connection([this](std::shared_ptr<net::Connection> conn) {
    // Forget connections that have gone, so the list stays as long as the live set.
    if (connections_.size() > 64 && connections_.size() > 2 * counters_.connections.current) {
      std::erase_if(connections_, [](const auto& w) { return w.expired(); });
    }
    connections_.push_back(conn);
  });
  SAKER_RETURN_IF_ERROR(listener->Listen(config_.listen, port));
  listeners_.push_back(std::move(listener));
  return Status::OK();
}

Status Server::StartCluster() {
  // Replication frames carry whole batches: the request limits are the frame's, and a follower
  // waits on its disk, not on a client.
  net::ConnectionLimits limits = config_.limits;
  limits.max_request_bytes = replication::kMaxFrameBytes + 4;
  limits.request_timeout_ms = 0;
  SAKER_RETURN_IF_ERROR(
      StartListener("replication", config_.cluster.replication_port, limits,
                    [this] { return std::make_unique<replication::ReplicaSession>(cluster_); }));
  const replication::ClusterOptions& c = config_.cluster;
  replication::NodeInfo self;
  self.host = !c.advertise.empty()          ? c.advertise
              : config_.listen == "0.0.0.0" ? "127.0.0.1"
                                            : config_.listen;
  for (const auto& l : listeners_) {
    const int port = std::atoi(l->bound().substr(l->bound().rfind(':') + 1).c_str());
    if (l->name() == "memcache") self.memcache = port;
    if (l->name() == "thrift") self.thrift = port;
    if (l->name() == "text") self.text = port;
    if (l->name() == "admin") self.admin = port;
    if (l->name() == "replication") self.replication = port;
  }
  if (c.advertise_replication_port > 0) self.replication = c.advertise_replication_port;
  return cluster_->Start(engine_.get(), self, [this] { AnnounceReady(); });
}

void Server::Run() { loop_.Run(); }

void Server::SweepConnections() {
  uint64_t now = uv_now(loop_.uv());
  auto timeout = static_cast<uint64_t>(config_.client_timeout_ms);
  std::erase_if(connections_, [](const auto& w) { return w.expired(); });
  for (auto& weak : connections_) {
    auto conn = weak.lock();
    if (!conn || conn->closed() || conn->CloseIfRequestOverdue(now)) continue;
    if (timeout > 0 && conn->pending_replies() == 0 && now - conn->last_read_ms() >= timeout) {
      logging::Get("net").debug("closing idle connection {} from {}", conn->id(), conn->peer());
      conn->Close();
    }
  }
}

void Server::OnSignal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Server*>(handle->data);
  if (signum == SIGHUP) {
    Status s = self->Reload();
    if (!s.ok()) Log().error("reload failed: {}", s.ToString());
    return;
  }
  Log().info("signal {}: shutting down", signum);
  self->Shutdown();
}

void Server::Shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  for (auto& l : listeners_) l->Stop();
  for (auto& weak : connections_) {
    if (auto conn = weak.lock()) conn->CloseAfterWrite();
  }
  uv_timer_stop(&tick_timer_);
  uv_timer_stop(&sweep_timer_);
  uv_timer_stop(&sample_timer_);
  for (auto* sig : {&sig_term_, &sig_int_, &sig_hup_}) uv_signal_stop(sig);
  engine_->Close([this](Status s) {
    if (!s.ok()) Log().error("closing the queue engine: {}", s.ToString());
    // Closing the ZooKeeper session ends this node's leaderships at once, not a session
    // timeout later.
    if (cluster_ != nullptr) cluster_->Shutdown();
    storage_->Stop();
    for (auto& weak : connections_) {
      if (auto conn = weak.lock()) conn->Close();
    }
    Log().info("stopped");
    loop_.Stop();
  });
}

Status Server::Reload() {
  if (config_.config_file.empty()) {
    Log().info("reload: no config file; queue configuration unchanged");
    return Status::OK();
  }
  auto fresh = LoadConfigFile(config_.config_file);
  if (!fresh.ok()) return fresh.status();
  config_.SetQueues(fresh->queues);
  for (const auto& name : engine_->ListQueues()) {
    SAKER_RETURN_IF_ERROR(engine_->SetQueueConfig(name, QueueConfigFor(name)));
  }
  Log().info("configuration reloaded");
  return Status::OK();
}

admin::Snapshot Server::Snapshot() {
  admin::Snapshot s;
  counters_.queue_creates = engine_->queue_creates();
  s.counters = &counters_;
  s.queues = engine_->AllStats();
  s.storage = storage_->stats();
  s.status = std::string(queue::ServerStatusName(engine_->status()));
  s.now_wall_ms = SystemClock::Get()->NowWallMs();
  if (cluster_ != nullptr) s.cluster = cluster_->View();
  return s;
}

net::HttpResponse Server::RouteAdmin(const net::HttpRequest& req) {
  if (req.path == "/healthz") {
    std::string degraded = admin::Degraded(Snapshot());
    if (degraded.empty()) return {200, "text/plain", "ok\n"};
    return {503, "text/plain", std::move(degraded)};
  }
  if (req.path == "/readyz") {
    if (!ready_ || shutting_down_) return {503, "text/plain", "not ready\n"};
    // Kestrel's read set held Up and ReadOnly servers: a READONLY server still serves its
    // consumers, a QUIESCENT one serves nobody.
    queue::ServerStatus status = engine_->status();
    if (status == queue::ServerStatus::kQuiescent) {
      return {503, "text/plain", fmt::format("not ready: {}\n", queue::ServerStatusName(status))};
    }
    if (status == queue::ServerStatus::kReadOnly) {
      return {200, "text/plain", fmt::format("ready: {}\n", queue::ServerStatusName(status))};
    }
    return {200, "text/plain", "ready\n"};
  }
  if (req.path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", admin::Prometheus(Snapshot())};
  }
  if (req.path == "/stats.json") return {200, "application/json", admin::Json(Snapshot())};
  if (req.path == "/" || req.path == "/status") {
    return {200, "text/html; charset=utf-8", admin::StatusPage(Snapshot(), history_)};
  }
  return {404, "text/plain", "not found\n"};
}

}  // namespace saker

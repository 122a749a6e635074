// Server: wires the loop thread, the storage thread, the queue engine, the listeners (memcache,
// thrift, text, admin HTTP), the timers and the signals, and owns the start and stop order.
// Loop thread only (the thread that calls Start and Run).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "replication/cluster.h"
#include "server/admin/stats.h"
#include "server/common/event_loop.h"
#include "server/config.h"
#include "server/net/connection.h"
#include "server/net/context.h"
#include "server/net/http.h"
#include "server/net/listener.h"
#include "server/queue/queue_manager.h"
#include "server/storage/storage_thread.h"

namespace saker {

class Server final : public net::Context {
 public:
  // Ports of `config`: kPortOff = that listener disabled; 0 = any free port. Reload (SIGHUP,
  // memcache `reload`) re-reads config.config_file, if any, for the per-queue options.
  explicit Server(ServerConfig config);
  ~Server() override;

  // Opens the data directory, binds every enabled listener, installs signal handlers and prints
  // the ready line to stdout. Errors name what failed (a port in use, a corrupt log).
  Status Start();
  // Serves until Shutdown() (a signal or the memcache `shutdown` command) has finished: every
  // listener closed, in-flight puts answered, cursors committed, files synced.
  void Run();

  // net::Context
  queue::QueueManager* engine() override { return engine_.get(); }
  admin::ServerCounters* counters() override { return &counters_; }
  const net::ConnectionLimits& limits() const override { return config_.limits; }
  const Clock* clock() const override { return SystemClock::Get(); }
  admin::Snapshot Snapshot() override;
  queue::QueueConfig QueueConfigFor(std::string_view queue) const override {
    return config_.engine.config_for ? config_.engine.config_for(queue) : config_.engine.defaults;
  }
  void Shutdown() override;
  Status Reload() override;

  // The line printed once every listener is bound (and, in a cluster, the node is registered
  // in ZooKeeper: until then /readyz answers 503).
  const std::string& ready_line() const { return ready_line_; }

 private:
  void AnnounceReady();
  // The replication listener and this node's registration in ZooKeeper.
  Status StartCluster();
  Status StartListener(const std::string& name, int port, const net::ConnectionLimits& limits,
                       net::Listener::HandlerFactory factory);
  net::HttpResponse RouteAdmin(const net::HttpRequest& req);
  static void OnSignal(uv_signal_t* handle, int signum);
  // Closes connections idle past client_timeout_ms and those whose request is past its deadline
  // (request_timeout_ms; the admin port's head deadline).
  void SweepConnections();

  ServerConfig config_;
  EventLoop loop_;
  std::unique_ptr<storage::StorageThread> storage_;
  std::unique_ptr<queue::QueueManager> engine_;
  replication::Cluster* cluster_ = nullptr;  // owned by engine_ (its Replicator); null standalone
  admin::ServerCounters counters_;
  net::WriteScheduler writes_;
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  std::vector<std::weak_ptr<net::Connection>> connections_;
  net::HttpRouter admin_router_;
  uv_timer_t tick_timer_;
  uv_timer_t sweep_timer_;
  // Samples every queue into history_ each status_sample_ms, for the status page.
  uv_timer_t sample_timer_;
  admin::History history_;
  uv_signal_t sig_term_, sig_int_, sig_hup_;
  std::string ready_line_;
  bool shutting_down_ = false;
  bool ready_ = false;
};

}  // namespace saker

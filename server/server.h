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

#include "server/admin/stats.h"
#include "server/common/event_loop.h"
#include "server/net/connection.h"
#include "server/net/context.h"
#include "server/net/http.h"
#include "server/net/listener.h"
#include "server/queue/queue_manager.h"
#include "server/storage/storage_thread.h"

namespace saker {

struct ServerOptions {
  std::string listen_host = "0.0.0.0";
  // -1 = listener disabled ("off"); 0 = any free port.
  int memcache_port = 22133;
  int thrift_port = 2229;
  int text_port = 2222;
  int admin_port = 2223;
  size_t max_connections = 10000;
  // Connections that sent nothing for this long, with no reply pending, are closed (Kestrel
  // clientTimeout); 0 = never.
  int64_t client_timeout_ms = 0;
  net::ConnectionLimits connection_limits;
  net::SessionLimits session_limits;
  queue::EngineConfig engine;
  // Re-reads the configuration (SIGHUP, memcache `reload`) and returns the new per-queue
  // resolver; nullptr = reload not supported (no config file).
  std::function<Result<std::function<queue::QueueConfig(std::string_view)>>()> reload;
};

class Server final : public net::Context {
 public:
  explicit Server(ServerOptions options);
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
  const net::SessionLimits& limits() const override { return options_.session_limits; }
  const Clock* clock() const override { return SystemClock::Get(); }
  admin::Snapshot Snapshot() override;
  queue::QueueConfig QueueConfigFor(std::string_view queue) const override {
    return options_.engine.config_for ? options_.engine.config_for(queue)
                                      : options_.engine.defaults;
  }
  void Shutdown() override;
  Status Reload() override;

  // The line printed once every listener is bound.
  const std::string& ready_line() const { return ready_line_; }

 private:
  Status StartListener(const std::string& name, int port, net::Listener::HandlerFactory factory);
  net::HttpResponse RouteAdmin(const net::HttpRequest& req);
  static void OnSignal(uv_signal_t* handle, int signum);
  void CloseIdleConnections();

  ServerOptions options_;
  EventLoop loop_;
  std::unique_ptr<storage::StorageThread> storage_;
  std::unique_ptr<queue::QueueManager> engine_;
  admin::ServerCounters counters_;
  net::WriteScheduler writes_;
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  std::vector<std::weak_ptr<net::Connection>> connections_;
  net::HttpRouter admin_router_;
  uv_timer_t tick_timer_;
  uv_timer_t idle_timer_;
  uv_signal_t sig_term_, sig_int_, sig_hup_;
  std::string ready_line_;
  bool shutting_down_ = false;
  bool ready_ = false;
};

}  // namespace saker

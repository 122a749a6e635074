// Listener: one TCP port. Binds (port 0 = any free port), accepts, and hands each socket to a
// Connection with a fresh ProtocolHandler from the factory. Loop thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "server/common/status.h"
#include "server/net/connection.h"

namespace saker::net {

class Listener {
 public:
  using HandlerFactory = std::function<std::unique_ptr<ProtocolHandler>()>;
  using OnConnection = std::function<void(std::shared_ptr<Connection>)>;

  // `name` is the protocol ("memcache", "thrift", ...) for logs and the ready line.
  Listener(uv_loop_t* loop, std::string name, HandlerFactory factory, WriteScheduler* scheduler,
           ConnectionLimits limits, ConnectionCounters* counters, size_t max_connections);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds host:port and starts listening. InvalidArgument for a bad address; IOError if the
  // bind or listen fails (port in use).
  Status Listen(const std::string& host, int port);
  // Stops accepting; existing connections are not touched.
  void Stop();

  const std::string& name() const { return name_; }
  // "HOST:PORT" actually bound (the real port when 0 was asked).
  const std::string& bound() const { return bound_; }
  int port() const { return port_; }
  // Called for every accepted connection, before it starts reading (the server tracks them).
  void set_on_connection(OnConnection fn) { on_connection_ = std::move(fn); }

 private:
  static void OnAccept(uv_stream_t* server, int status);

  uv_loop_t* loop_;
  std::string name_;
  HandlerFactory factory_;
  WriteScheduler* scheduler_;
  ConnectionLimits limits_;
  ConnectionCounters* counters_;
  size_t max_connections_;
  OnConnection on_connection_;
  uv_tcp_t* tcp_ = nullptr;  // freed by its close callback
  std::string bound_;
  int port_ = 0;
};

}  // namespace saker::net

// Context: what every protocol session (memcache, text, thrift, admin) may use of the server.
// Sessions talk to the queue engine directly and to the rest of the server through this, so
// the protocol library does not depend on the Server class. Loop thread only.
#pragma once

#include <cstdint>

#include "server/admin/stats.h"
#include "server/common/clock.h"
#include "server/common/status.h"
#include "server/net/limits.h"
#include "server/queue/queue_manager.h"

namespace saker::net {

class Context {
 public:
  virtual ~Context() = default;
  virtual queue::QueueManager* engine() = 0;
  virtual admin::ServerCounters* counters() = 0;
  virtual const ConnectionLimits& limits() const = 0;
  virtual const Clock* clock() const = 0;
  // Statistics of every queue and the server, for stats replies and the admin port.
  virtual admin::Snapshot Snapshot() = 0;
  // The resolved configuration of a queue (server defaults, [defaults], matching overrides).
  virtual queue::QueueConfig QueueConfigFor(std::string_view queue) const = 0;
  // Kestrel `shutdown`: stop serving, flush, exit 0.
  virtual void Shutdown() = 0;
  // Kestrel `reload` / SIGHUP: re-read queue configuration. The error says what is wrong.
  virtual Status Reload() = 0;
};

}  // namespace saker::net

// DurableReply: the reply to a request that changes cursors (memcache `/close`, `/abort`,
// `confirm`, `flush`; their text-protocol twins). It takes the connection's next reply slot when
// the request is served and fills it only once the change is durable at the queue's sync level
// (docs/SEMANTICS.md, Durability: an answered ack is final), so replies stay in request order while
// the cursor log is synced. Loop thread only.
#pragma once

#include <memory>
#include <string>

#include "server/common/status.h"
#include "server/net/connection.h"
#include "server/queue/queue_manager.h"

namespace saker::net {

class DurableReply {
 public:
  // Encodes the reply to a failed `durable` (IOError: the queue went fail-stop) into `out`.
  using ErrorEncoder = void (*)(const Status& status, std::string* out);

  // Reserves the next reply slot of `conn`. Every DurableReply must end with Set() followed by
  // the engine running Durable()'s callback, or with SendNow().
  DurableReply(Connection* conn, ErrorEncoder error);

  // The engine's callback for the cursor change. OK: the slot gets what Set() gave, as soon as
  // both are in (either order). An error: the slot gets error(status) and the connection closes
  // after it (the client should retry on another server), whatever Set() gives.
  queue::DurableDone Durable() const;
  // The reply to send once the change is durable; `close` closes the connection after it.
  void Set(std::string bytes, bool close = false) const;
  // Fills the slot now: the engine refused the call, so Durable()'s callback never runs.
  void SendNow(std::string bytes, bool close = false) const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the callback; harmless after the conn closed
};

}  // namespace saker::net

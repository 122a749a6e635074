// ParkedGets: the gets one connection has waiting in the queue engine, so that they are dropped
// at once when the connection goes (docs/SEMANTICS.md, Reads: a waiter whose client disconnects is
// dropped, even for "wait forever"). Every protocol session keeps one. Loop thread only.
#pragma once

#include <memory>
#include <string_view>
#include <unordered_set>

#include "server/queue/queue_manager.h"

namespace saker::net {

class ParkedGets {
 public:
  // Starts `engine->Get`; while the get is parked its handle is remembered. `done` runs as the
  // engine says (possibly inline), never after CancelAll.
  void Start(queue::QueueManager* engine, std::string_view name, const queue::GetOptions& options,
             queue::GetDone done);
  // Cancels every get still parked (the connection closed).
  void CancelAll(queue::QueueManager* engine);

 private:
  // Shared with the completions, which may outlive the session.
  std::shared_ptr<std::unordered_set<queue::GetHandle>> parked_ =
      std::make_shared<std::unordered_set<queue::GetHandle>>();
};

}  // namespace saker::net

// Engine: admission, whether this node serves a client's operation on a queue. The Replicator
// decides (a cluster serves a queue on its leader only); the calls that answer at once ask here.
#include "server/queue/engine.h"

namespace saker::queue {

Status Engine::Admit(std::string_view name) {
  auto parsed = ParseQueueName(name);
  if (!parsed.ok()) return parsed.status();
  Status st = replicator_->Admit(parsed->queue);
  if (!st.IsBusy()) return st;
  // The answer cannot wait here: the lookup starts now so that the client's retry finds the
  // leader known (or a refusal that says why).
  replicator_->WhenAdmitted(parsed->queue, [](Status) {});
  return Status::Unavailable("queue " + std::string(parsed->queue) +
                             ": no leader known yet, retry");
}

bool Engine::ServesEveryQueue() const {
  return dynamic_cast<const LocalReplicator*>(replicator_.get()) != nullptr;
}

}  // namespace saker::queue

// Deadlines: see deadlines.h.
#include "server/queue/deadlines.h"

#include <algorithm>

#include "server/queue/engine.h"

namespace saker::queue {

std::optional<Deadlines::Event> Deadlines::PopDue(int64_t now_ms) {
  if (heap_.empty() || heap_.top().due_ms > now_ms) return std::nullopt;
  Event e = heap_.top();
  heap_.pop();
  return e;
}

}  // namespace saker::queue

namespace saker::queue {

void Engine::Tick() {
  const int64_t now = Now();
  while (std::optional<Deadlines::Event> e = deadlines_.PopDue(now)) {
    switch (e->kind) {
      case Deadlines::Kind::kLease: {
        const Lease* l = leases_.Find(e->id);
        if (l == nullptr || l->held || l->deadline_ms == 0 || l->deadline_ms > now) break;
        const uint64_t uid = l->sub_uid;
        ReleaseLease(e->id, -1);
        if (Subscription* s = FindSubscription(uid)) ServeWaiters(s);
        break;
      }
      case Deadlines::Kind::kWaiter: {
        auto ref = waiters_.find(e->id);
        if (ref == waiters_.end() || ref->second.it->deadline_ms > now) break;
        Subscription* s = ref->second.sub;
        if (s->queue->loading) {
          deadlines_.Add(now + std::max<int64_t>(1, config_.tick_ms), Deadlines::Kind::kWaiter,
                         e->id);
          break;
        }
        Finish(s, ref->second.it, Status::OK());
        break;
      }
      case Deadlines::Kind::kRedeliver:
        if (Subscription* s = FindSubscription(e->id)) ServeWaiters(s);
        break;
    }
  }
  if (config_.expiry_sweep_ms > 0 && now - last_sweep_ms_ >= config_.expiry_sweep_ms) {
    last_sweep_ms_ = now;
    SweepExpired();
  }
  if (now - last_commit_ms_ >= config_.commit_interval_ms &&
      (!checkpoint_due_.empty() || !pending_meta_.empty() || !remove_dirs_.empty())) {
    Checkpoint(nullptr);
  }
  Drain();
}

}  // namespace saker::queue

// Engine: leases and what ends them — ack, abort (with the redelivery delay and backoff), extend,
// the owner operations of the memcache protocol, and leases dropped by flush, seek and delete.
#include <set>

#include "server/queue/engine.h"

namespace saker::queue {

uint64_t Engine::NewLease(Subscription* s, uint64_t offset, storage::BatchPtr batch) {
  Lease& l = leases_.New(s->uid, offset, std::move(batch));
  s->leases[offset] = l.id;
  return l.id;
}

void Engine::EndLease(uint64_t lease_id) {
  const Lease* l = leases_.Find(lease_id);
  if (l == nullptr) return;
  if (Subscription* s = FindSubscription(l->sub_uid)) s->leases.erase(l->offset);
  leases_.Erase(lease_id);
}

void Engine::ReleaseLease(uint64_t lease_id, int64_t delay_ms) {
  const Lease* l = leases_.Find(lease_id);
  if (l == nullptr) return;
  const uint64_t offset = l->offset;
  const bool held = l->held;
  storage::BatchPtr batch = l->batch;
  Subscription* s = FindSubscription(l->sub_uid);
  EndLease(lease_id);
  if (s == nullptr) return;
  const QueueConfig& cfg = s->queue->config;
  const int64_t now = Now();
  if (held) {
    s->cursor.Release(offset, now, now);
    return;
  }
  s->counters.aborted++;
  const uint32_t count = s->cursor.DeliveryCount(offset);
  if (cfg.max_deliveries > 0 && count >= cfg.max_deliveries) {
    MoveOut(s, offset, batch->Record(offset), DeadLetterName(s->queue->name, cfg), true);
    return;
  }
  if (delay_ms < 0) {
    delay_ms = cfg.redelivery_delay_ms;
    if (!cfg.redelivery_backoff_ms.empty() && count > 0) {
      delay_ms = cfg.redelivery_backoff_ms[std::min<size_t>(count - 1,
                                                            cfg.redelivery_backoff_ms.size() - 1)];
    }
  }
  s->cursor.Release(offset, now + delay_ms, now);
  if (delay_ms > 0) deadlines_.Add(now + delay_ms, Deadlines::Kind::kRedeliver, s->uid);
}

void Engine::DropLeases(Subscription* s, uint64_t from, uint64_t to) {
  for (auto it = s->leases.lower_bound(from); it != s->leases.end() && it->first < to;) {
    const uint64_t id = it->second;
    ++it;
    const Lease* l = leases_.Find(id);
    // A parked get holding the lease keeps its copy of the batch but loses the offset.
    if (l != nullptr && l->held) {
      for (Waiter& w : s->waiters) std::erase(w.held, id);
    }
    EndLease(id);
  }
}

void Engine::AckOffset(Subscription* s, uint64_t offset) {
  if (s->cursor.Ack(offset)) s->counters.acked++;
  Touch(s->queue);
}

size_t Engine::Ack(std::span<const uint64_t> ids) {
  size_t n = 0;
  std::set<Subscription*> acked;
  for (uint64_t id : ids) {
    const Lease* l = leases_.Find(id);
    if (l == nullptr || l->held) continue;
    Subscription* s = FindSubscription(l->sub_uid);
    const uint64_t offset = l->offset;
    EndLease(id);
    n++;
    if (s == nullptr) continue;
    AckOffset(s, offset);
    acked.insert(s);
  }
  for (Subscription* s : acked) ServeWaiters(s);
  return n;
}

size_t Engine::Abort(std::span<const uint64_t> ids, int64_t delay_ms) {
  size_t n = 0;
  std::set<uint64_t> subs;
  for (uint64_t id : ids) {
    const Lease* l = leases_.Find(id);
    if (l == nullptr || l->held) continue;
    subs.insert(l->sub_uid);
    if (Subscription* s = FindSubscription(l->sub_uid)) Touch(s->queue);
    ReleaseLease(id, delay_ms);
    n++;
  }
  for (uint64_t uid : subs) {
    if (Subscription* s = FindSubscription(uid)) ServeWaiters(s);
  }
  return n;
}

size_t Engine::Extend(std::span<const uint64_t> ids, int64_t lease_ms) {
  size_t n = 0;
  const int64_t now = Now();
  for (uint64_t id : ids) {
    Lease* l = leases_.Find(id);
    if (l == nullptr || l->held) continue;
    l->deadline_ms = lease_ms > 0 ? now + lease_ms : 0;
    if (lease_ms > 0) deadlines_.Add(l->deadline_ms, Deadlines::Kind::kLease, id);
    n++;
  }
  return n;
}

Result<bool> Engine::OwnerOldest(uint64_t owner, std::string_view name, bool confirm) {
  SAKER_RETURN_IF_ERROR(Admit(name));
  const std::set<uint64_t>* set = leases_.OwnerSet(owner, name);
  if (set == nullptr || set->empty()) return false;
  const uint64_t id = *set->begin();
  if (confirm) {
    Ack(std::span<const uint64_t>(&id, 1));
  } else {
    // An explicit abort (memcache /abort): the queue's redelivery delay and backoff apply.
    Abort(std::span<const uint64_t>(&id, 1), -1);
  }
  return true;
}

Result<bool> Engine::ConfirmCount(uint64_t owner, std::string_view name, size_t count) {
  SAKER_RETURN_IF_ERROR(Admit(name));
  const std::set<uint64_t>* set = leases_.OwnerSet(owner, name);
  const size_t have = set == nullptr ? 0 : set->size();
  if (have < count) return false;
  if (count == 0) return true;
  std::vector<uint64_t> ids(set->begin(), std::next(set->begin(), static_cast<long>(count)));
  Ack(ids);
  return true;
}

size_t Engine::ReleaseOwner(uint64_t owner) {
  const std::vector<uint64_t> ids = leases_.OwnerIds(owner);
  return Abort(ids, 0);
}

}  // namespace saker::queue

// Engine: moving an item to another queue — to the dead-letter queue after max_deliveries, or
// to expire_to when it expires (Kestrel's delayed-work pattern) — and the expiration timer that
// expires queue heads nobody reads.
#include "server/queue/engine.h"

namespace saker::queue {
namespace {

constexpr int64_t kMoveRetryMs = 1'000;

}  // namespace

void Engine::SweepExpired() {
  const int64_t now = Now();
  for (auto& [name, q] : queues_) {
    if (q->failed || q->loading) continue;
    for (auto& [sname, s] : q->subs) {
      storage::BatchPtr batch;
      uint64_t offset;
      while ((offset = s->cursor.NextDeliverable(q->commit_end, now)) != 0) {
        if (!batch || offset < batch->base_offset() || offset >= batch->end_offset()) {
          batch = FindResident(q.get(), offset);
        }
        if (!batch) {
          // A cold head is read back only where expiry moves items on (the delayed-work
          // pattern); elsewhere the next get expires it.
          if (!q->config.expire_to.empty()) RequestLoad(q.get(), offset);
          break;
        }
        const storage::RecordView rec = batch->Record(offset);
        if (!Expired(q.get(), rec)) break;
        ExpireItem(s.get(), offset, rec);
      }
    }
  }
}

void Engine::MoveOut(Subscription* s, uint64_t offset, const storage::RecordView& rec,
                     const std::string& target, bool dead_letter) {
  // The offset stays in flight until the copy is durable in `target`, then it is acked: a
  // crash in between delivers it again (at least once), never loses it.
  Queue* q = s->queue;
  if (dead_letter) s->counters.dead_lettered++;
  auto dest = (target == q->name) ? Result<Queue*>(Status::InvalidArgument("self"))
                                  : GetOrCreateQueue(target);
  if (!dest.ok()) {
    if (s->cursor.Ack(offset)) Touch(q);
    return;
  }
  std::vector<PutItem> items(1);
  items[0].payload = std::string(rec.payload);
  PutInto(*dest, std::move(items), [this, uid = s->uid, offset](Result<PutResult> r) {
    Subscription* s = FindSubscription(uid);
    if (s == nullptr) return;
    const int64_t now = Now();
    if (r.ok() && r->accepted == 1) {
      if (s->cursor.Ack(offset)) Touch(s->queue);
    } else {
      // The target refused it (full, stopped): try again later, not in a tight loop.
      s->cursor.Release(offset, now + kMoveRetryMs, now);
      deadlines_.Add(now + kMoveRetryMs, Deadlines::Kind::kRedeliver, uid);
    }
    Drain();
  });
}

}  // namespace saker::queue

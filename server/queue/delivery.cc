// Engine: delivery — blocked gets and their order, filling a get from the tail cache, the cold
// cache or a cold read, expiry at delivery, and the delivery limit.
#include <climits>

#include "server/common/check.h"
#include "server/queue/engine.h"

namespace saker::queue {
namespace {

constexpr int64_t kForever = INT64_MAX;

}  // namespace

storage::BatchPtr Engine::FindResident(const Queue* q, uint64_t offset) const {
  if (q->log) {
    std::vector<storage::BatchPtr> tail = tail_.Read(q->log.get(), offset, 1);
    if (!tail.empty() && tail[0]->base_offset() <= offset && offset < tail[0]->end_offset()) {
      return tail[0];
    }
  }
  return cold_.Find(q->id, offset);
}

void Engine::RequestLoad(Queue* q, uint64_t offset) {
  if (q->loading || !q->log) return;
  q->loading = true;
  reader_.Read(q->log, offset, config_.read_bytes,
               [this, alive = alive_, id = q->id, gen = q->truncations,
                offset](Result<std::vector<storage::BatchPtr>> read) {
                 if (!*alive) return;
                 OnLoaded(id, gen, offset, std::move(read));
                 Drain();
               });
}

void Engine::SkipHole(Queue* q, uint64_t from, uint64_t to) {
  static logging::RateLimit limit(std::chrono::seconds(10));
  if (uint64_t skipped = 0; limit.Allow(&skipped)) {
    EngineLog().warn("[queue={}] skipping offsets [{}, {}): cut by a repair ({} more since)",
                     q->name, from, to, skipped);
  }
  for (auto& [name, s] : q->subs) {
    DropLeases(s.get(), from, to);
    if (s->cursor.floor() >= from) {
      s->counters.dropped += s->cursor.AckBelow(to);
      continue;
    }
    for (uint64_t o = from; o < to; o++) {
      if (s->cursor.Ack(o)) s->counters.dropped++;
    }
  }
  Touch(q);
}

void Engine::OnLoaded(uint64_t queue_id, uint64_t truncations, uint64_t offset,
                      Result<std::vector<storage::BatchPtr>> read) {
  Queue* q = FindQueue(queue_id);
  // A read started before a truncation may hold cut bytes: drop it (the next get reads again).
  if (q == nullptr || truncations != q->truncations) return;
  q->loading = false;
  const Status& st = read.status();
  std::vector<storage::BatchPtr> batches;
  if (read.ok()) batches = std::move(read).value();
  if (st.IsNotFound() && q->log) {
    // Retention removed what a cursor still wanted (drop_oldest or a seek to earliest raced
    // with it): move such cursors to the first offset kept.
    const uint64_t first = q->log->first_offset();
    q->first_offset = first;
    for (auto& [name, s] : q->subs) {
      DropLeases(s.get(), 0, first);
      s->counters.dropped += s->cursor.AckBelow(first);
    }
    Touch(q);
  } else if (!st.ok()) {
    // Damage (or a read error) fails the queue at the first read that meets it: its gets are
    // answered with the error from now on, never as an empty queue.
    FailQueue(q, st);
    return;
  } else if (q->log) {
    // A read that finds nothing at `offset` below commit_end met a hole a repair left.
    const uint64_t found = batches.empty() ? q->commit_end : batches.front()->base_offset();
    if (found > offset) SkipHole(q, offset, std::min(found, q->commit_end));
  }
  // The first batch is the one a get waits for; read-ahead only while the budget allows.
  for (size_t i = 0; i < batches.size(); i++) {
    storage::BatchPtr& b = batches[i];
    if (b->base_offset() >= q->commit_end) break;
    if (i > 0 && !cold_.Fits(b->size_bytes())) break;
    if (FindResident(q, b->base_offset()) == nullptr) cold_.Add(q->id, std::move(b));
  }
  ServeQueue(q);
  // Gets that asked not to wait only waited for this read.
  const int64_t now = Now();
  for (auto& [name, s] : q->subs) {
    for (auto it = s->waiters.begin(); it != s->waiters.end();) {
      auto cur = it++;
      if (cur->deadline_ms <= now) Finish(s.get(), cur, Status::OK());
    }
  }
}

bool Engine::Expired(const Queue* q, const storage::RecordView& rec) const {
  int64_t expiry = rec.expiry_ms;
  if (q->config.max_age_ms > 0) {
    int64_t cap = rec.timestamp_ms + q->config.max_age_ms;
    expiry = expiry == 0 ? cap : std::min(expiry, cap);
  }
  return expiry != 0 && expiry <= Wall();
}

GetHandle Engine::Get(std::string_view name, const GetOptions& options, GetDone done) {
  Status st = CheckReads();
  auto parsed = ParseQueueName(name);
  if (st.ok() && parsed.ok()) st = replicator_->Admit(parsed->queue);
  if (st.code() == StatusCode::kBusy) {
    auto again = [this, alive = alive_, name = std::string(name), options,
                  done = std::move(done)](Status st) mutable {
      if (!*alive) return;
      if (st.ok()) {
        Get(name, options, std::move(done));
      } else {
        done(st);
      }
      Drain();
    };
    // Parked in the replicator: the handle is 0, so a client that leaves cannot cancel it, and
    // it completes on a closed connection at worst.
    replicator_->WhenAdmitted(parsed->queue, std::move(again));
    return 0;
  }
  Result<Subscription*> sub = st.ok() ? Resolve(name) : Result<Subscription*>(st);
  if (!sub.ok()) {
    Complete([done = std::move(done), st = sub.status()] { done(st); });
    return 0;
  }
  Subscription* s = *sub;
  if (s->queue->failed && !s->queue->no_space) {
    Complete([done = std::move(done), st = s->queue->failure] { done(st); });
    return 0;
  }
  if (options.max_items == 0) {
    Complete([done = std::move(done)] { done(std::vector<Delivery>{}); });
    return 0;
  }
  const int64_t now = Now();
  Waiter w;
  w.handle = next_handle_++;
  w.options = options;
  w.done = std::move(done);
  w.deadline_ms = options.timeout_ms < 0 ? kForever : now + options.timeout_ms;
  const GetHandle handle = w.handle;
  s->waiters.push_back(std::move(w));
  waiters_[handle] = {s, std::prev(s->waiters.end())};
  ServeWaiters(s);
  auto ref = waiters_.find(handle);
  if (ref == waiters_.end()) return 0;
  if (ref->second.it->deadline_ms <= now && !s->queue->loading) {
    Finish(s, ref->second.it, Status::OK());
    return 0;
  }
  if (ref->second.it->deadline_ms != kForever) {
    deadlines_.Add(ref->second.it->deadline_ms, Deadlines::Kind::kWaiter, handle);
  }
  return handle;
}

void Engine::ServeWaiters(Subscription* s) {
  while (!s->waiters.empty()) {
    auto it = s->waiters.begin();
    Fill(s, &*it);
    if (!it->Complete()) break;
    Finish(s, it, Status::OK());
  }
}

void Engine::ServeQueue(Queue* q) {
  for (auto& [name, s] : q->subs) ServeWaiters(s.get());
}

void Engine::Fill(Subscription* s, Waiter* w) {
  Queue* q = s->queue;
  const int64_t now = Now();
  storage::BatchPtr batch;  // the batch of the previous offset, usually the next one's too
  while (w->held.size() < w->options.max_items) {
    if (!w->options.peek && q->config.max_unacked > 0 &&
        s->cursor.in_flight() >= q->config.max_unacked) {
      break;
    }
    const uint64_t offset = s->cursor.NextDeliverable(q->commit_end, now);
    if (offset == 0) break;
    if (!batch || offset < batch->base_offset() || offset >= batch->end_offset()) {
      batch = FindResident(q, offset);
    }
    if (!batch) {
      RequestLoad(q, offset);
      break;
    }
    const storage::RecordView rec = batch->Record(offset);
    if (Expired(q, rec)) {
      ExpireItem(s, offset, rec);
      continue;
    }
    if (q->config.max_deliveries > 0 &&
        s->cursor.DeliveryCount(offset) >= q->config.max_deliveries) {
      s->cursor.Take(offset);
      MoveOut(s, offset, rec, DeadLetterName(q->name, q->config), true);
      continue;
    }
    s->cursor.Take(offset);
    w->held.push_back(NewLease(s, offset, batch));
  }
}

void Engine::Finish(Subscription* s, std::list<Waiter>::iterator it, Status st) {
  Waiter w = std::move(*it);
  s->waiters.erase(it);
  waiters_.erase(w.handle);
  Queue* q = s->queue;
  const int64_t now = Now();
  if (!st.ok()) {
    for (uint64_t id : w.held) ReleaseLease(id, 0);
    Complete([done = std::move(w.done), st] { done(st); });
    return;
  }
  std::vector<Delivery> out;
  out.reserve(w.held.size());
  const bool reliable = w.options.reliable || w.options.lease_ms > 0;
  const std::string full = FullName(q->name, s->name);
  for (uint64_t id : w.held) {
    Lease* lease = leases_.Find(id);
    SAKER_CHECK(lease != nullptr);
    const uint64_t offset = lease->offset;
    const storage::RecordView rec = lease->batch->Record(offset);
    Delivery d;
    d.offset = offset;
    d.timestamp_ms = rec.timestamp_ms;
    d.expiry_ms = rec.expiry_ms;
    d.payload = rec.payload;
    d.batch = lease->batch;
    if (w.options.peek) {
      d.delivery_count = s->cursor.DeliveryCount(offset);
      out.push_back(std::move(d));
      s->cursor.Release(offset, now, now);
      EndLease(id);
      continue;
    }
    d.delivery_count = s->cursor.CountDelivery(offset);
    s->counters.delivered++;
    if (d.delivery_count > 1) s->counters.redelivered++;
    if (!reliable) {
      out.push_back(std::move(d));
      EndLease(id);
      if (s->cursor.Ack(offset)) s->counters.acked++;
      continue;
    }
    d.lease_id = id;
    lease->held = false;
    int64_t lease_ms = w.options.lease_ms > 0 ? w.options.lease_ms : q->config.lease_timeout_ms;
    if (lease_ms > 0) {
      lease->deadline_ms = now + lease_ms;
      deadlines_.Add(lease->deadline_ms, Deadlines::Kind::kLease, id);
    }
    if (w.options.owner != 0) leases_.SetOwner(*lease, w.options.owner, full);
    out.push_back(std::move(d));
  }
  Touch(q);
  if (w.options.peek) ServeWaiters(s);
  Complete([done = std::move(w.done), out = std::move(out)]() mutable { done(std::move(out)); });
}

bool Engine::CancelGet(GetHandle handle) {
  auto ref = waiters_.find(handle);
  if (ref == waiters_.end()) return false;
  Subscription* s = ref->second.sub;
  Waiter w = std::move(*ref->second.it);
  s->waiters.erase(ref->second.it);
  waiters_.erase(ref);
  for (uint64_t id : w.held) ReleaseLease(id, 0);
  if (!w.held.empty()) ServeWaiters(s);
  return true;
}

void Engine::ExpireItem(Subscription* s, uint64_t offset, const storage::RecordView& rec) {
  Queue* q = s->queue;
  s->counters.expired++;
  // Only the default subscription moves expired items (once per item, not once per reader).
  if (s->name.empty() && !q->config.expire_to.empty()) {
    s->cursor.Take(offset);
    MoveOut(s, offset, rec, q->config.expire_to, false);
    return;
  }
  if (s->cursor.Ack(offset)) Touch(q);
}

}  // namespace saker::queue

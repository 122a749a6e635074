// Engine: names, queues and subscriptions — creation on first reference, create / seek / delete
// of subscriptions, flush, flush_expired, queue deletion, config and status, and what each
// queue's QUEUE file says of it. Every call naming a queue is admitted first (admission.cc); the
// calls over every queue (flush_all, flush_all_expired) act on the queues this node serves.
#include <fmt/format.h>

#include <algorithm>

#include "server/queue/engine.h"
#include "server/storage/queue_identity.h"

namespace saker::queue {
namespace {

// A config as the QUEUE file holds it: saker.toml's queue keys and values.
std::map<std::string, std::string> ConfigFields(const QueueConfig& c) {
  std::string backoff;
  for (int64_t ms : c.redelivery_backoff_ms) {
    backoff += (backoff.empty() ? "" : ",") + std::to_string(ms);
  }
  return {
      {"max_items", std::to_string(c.max_items)},
      {"max_bytes", std::to_string(c.max_bytes)},
      {"max_age_ms", std::to_string(c.max_age_ms)},
      {"max_item_size", std::to_string(c.max_item_size)},
      {"when_full", c.when_full == WhenFull::kDropOldest ? "drop_oldest" : "reject"},
      {"sync", c.sync.ToString()},
      {"segment_bytes", std::to_string(c.segment_bytes)},
      {"segment_age_ms", std::to_string(c.segment_age_ms)},
      {"lease_timeout_ms", std::to_string(c.lease_timeout_ms)},
      {"redelivery_delay_ms", std::to_string(c.redelivery_delay_ms)},
      {"redelivery_backoff_ms", backoff},
      {"max_deliveries", std::to_string(c.max_deliveries)},
      {"dlq", c.dlq},
      {"expire_to", c.expire_to},
      {"dedupe_window_ms", std::to_string(c.dedupe_window_ms)},
      {"max_unacked", std::to_string(c.max_unacked)},
      {"replicas", std::to_string(c.replicas)},
      {"ack_quorum", std::to_string(c.ack_quorum)},
      {"retain_age_ms", std::to_string(c.retain_age_ms)},
      {"retain_bytes", std::to_string(c.retain_bytes)},
  };
}

}  // namespace

std::string FullName(std::string_view queue, std::string_view sub) {
  std::string s(queue);
  if (!sub.empty()) s.append("+").append(sub);
  return s;
}

std::string DeadLetterName(std::string_view queue, const QueueConfig& config) {
  return config.dlq.empty() ? std::string(queue) + ".dlq" : config.dlq;
}

Status Engine::CheckOpen() const {
  return closed_ ? Status::Unavailable("queue engine is closed") : Status::OK();
}

Status Engine::CheckWrites() const {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  if (status_ != ServerStatus::kUp) {
    return Status::Unavailable("server is " + std::string(ServerStatusName(status_)));
  }
  return Status::OK();
}

Status Engine::CheckReads() const {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  if (status_ == ServerStatus::kQuiescent) return Status::Unavailable("server is QUIESCENT");
  return Status::OK();
}

Queue* Engine::FindQueue(std::string_view name) const {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

Queue* Engine::FindQueue(uint64_t id) const {
  auto it = queues_by_id_.find(id);
  return it == queues_by_id_.end() ? nullptr : it->second;
}

Subscription* Engine::FindSubscription(uint64_t uid) const {
  auto it = subs_by_uid_.find(uid);
  return it == subs_by_uid_.end() ? nullptr : it->second;
}

Result<Queue*> Engine::GetOrCreateQueue(std::string_view name, uint64_t incarnation) {
  if (Queue* q = FindQueue(name)) return q;
  if (!IsValidName(name)) {
    return Status::InvalidArgument("bad queue name '" + std::string(name.substr(0, 200)) + "'");
  }
  auto q = std::make_unique<Queue>();
  q->id = next_queue_id_++;
  q->incarnation = incarnation != 0 ? incarnation : storage::NewIncarnation();
  q->name = std::string(name);
  q->dir = config_.data_dir + "/" + std::to_string(q->id);
  q->created_ms = Wall();
  q->config = ConfigFor(name);
  q->counters.name = q->name;
  q->counters.id = q->id;
  q->counters.incarnation = q->incarnation;
  Queue* raw = q.get();
  queues_by_id_[raw->id] = raw;
  queues_.emplace(raw->name, std::move(q));
  // The default cursor's create goes into the queue row's transaction (OpenLogs), not the log.
  AddSubscription(raw, "", 1, false);
  creating_.push_back(raw->id);
  queue_creates_++;
  EngineLog().info("[queue={}] created (id {}, incarnation {:016x})", raw->name, raw->id,
                   raw->incarnation);
  return raw;
}

Subscription* Engine::AddSubscription(Queue* q, std::string_view name, uint64_t floor,
                                      bool record) {
  auto s = std::make_unique<Subscription>(floor);
  s->uid = next_sub_uid_++;
  s->name = std::string(name);
  s->queue = q;
  s->counters.name = s->name;
  Subscription* raw = s.get();
  subs_by_uid_[raw->uid] = raw;
  q->subs.emplace(raw->name, std::move(s));
  if (record) {
    Record(q, {storage::CursorOp::Type::kCreate, q->id, raw->name, floor, 0});
    if (!raw->name.empty()) IdentityChanged(q);
  }
  return raw;
}

storage::QueueIdentity Engine::IdentityOf(const Queue* q) const {
  storage::QueueIdentity id;
  id.name = q->name;
  id.incarnation = q->incarnation;
  id.created_ms = q->created_ms;
  for (const auto& [name, s] : q->subs) {
    if (!name.empty()) id.subscriptions.insert(name);
  }
  id.config = ConfigFields(q->config);
  return id;
}

void Engine::IdentityChanged(Queue* q) {
  if (std::find(identity_dirty_.begin(), identity_dirty_.end(), q->id) == identity_dirty_.end()) {
    identity_dirty_.push_back(q->id);
  }
}

std::vector<std::pair<std::string, storage::QueueIdentity>> Engine::TakeIdentityWrites() {
  std::vector<std::pair<std::string, storage::QueueIdentity>> writes;
  std::vector<uint64_t> keep;
  for (uint64_t id : identity_dirty_) {
    Queue* q = FindQueue(id);
    if (q == nullptr || q->failed) continue;
    // A folder still being made gets the current file when its logs open (OpenLogs).
    if (!q->log) {
      keep.push_back(id);
      continue;
    }
    writes.emplace_back(q->dir, IdentityOf(q));
  }
  identity_dirty_ = std::move(keep);
  return writes;
}

Result<Subscription*> Engine::Resolve(std::string_view name) {
  auto parsed = ParseQueueName(name);
  if (!parsed.ok()) return parsed.status();
  auto q = GetOrCreateQueue(parsed->queue);
  if (!q.ok()) return q.status();
  auto it = (*q)->subs.find(parsed->subscription);
  if (it != (*q)->subs.end()) return it->second.get();
  return AddSubscription(*q, parsed->subscription, (*q)->next_offset, true);
}

Result<uint64_t> Engine::StartOffset(Queue* q, StartPosition start) const {
  const uint64_t first = q->log ? q->log->first_offset() : q->first_offset;
  switch (start.kind) {
    case StartPosition::Kind::kEarliest:
      return first;
    case StartPosition::Kind::kLatest:
      return q->next_offset;
    case StartPosition::Kind::kOffset:
      if (start.offset < 1) return Status::InvalidArgument("offsets start at 1");
      return std::clamp(start.offset, first, q->next_offset);
    case StartPosition::Kind::kTimestamp: {
      // Batches put during this run are indexed by time; anything older counts as earlier.
      for (const BatchInfo& b : q->index) {
        if (b.first_ts >= start.timestamp_ms) return std::max(b.base, first);
      }
      if (q->index.empty() || q->index.front().base > first) {
        return q->index.empty() ? q->next_offset : q->index.front().base;
      }
      return q->next_offset;
    }
  }
  return q->next_offset;
}

Status Engine::CreateSubscription(std::string_view queue, std::string_view sub,
                                  StartPosition start) {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  SAKER_RETURN_IF_ERROR(Admit(queue));
  if (!IsValidName(sub)) return Status::InvalidArgument("bad subscription name");
  auto q = GetOrCreateQueue(queue);
  if (!q.ok()) return q.status();
  if ((*q)->subs.count(sub) > 0) {
    return Status::InvalidArgument("subscription " + FullName(queue, sub) + " exists");
  }
  auto offset = StartOffset(*q, start);
  if (!offset.ok()) return offset.status();
  AddSubscription(*q, sub, *offset, true);
  return Status::OK();
}

Status Engine::Seek(std::string_view name, StartPosition start) {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  SAKER_RETURN_IF_ERROR(Admit(name));
  auto sub = Resolve(name);
  if (!sub.ok()) return sub.status();
  Subscription* s = *sub;
  Queue* q = s->queue;
  auto offset = StartOffset(q, start);
  if (!offset.ok()) return offset.status();
  DropLeases(s, 0, UINT64_MAX);
  // The cursor's pending changes go first: the kSeek after them must win on replay.
  s->cursor.TakeOps(q->id, s->name, &q->cursor_ops);
  s->cursor.Seek(*offset);
  Record(q, {storage::CursorOp::Type::kSeek, q->id, s->name, *offset, 0});
  ServeWaiters(s);
  return Status::OK();
}

void Engine::FinishAll(Subscription* s, const Status& st) {
  while (!s->waiters.empty()) Finish(s, s->waiters.begin(), st);
}

Status Engine::DeleteSubscription(std::string_view queue, std::string_view sub) {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  SAKER_RETURN_IF_ERROR(Admit(queue));
  SAKER_RETURN_IF_ERROR(replicator_->CanDelete(queue));
  if (sub.empty()) return Status::InvalidArgument("the default subscription cannot be deleted");
  Queue* q = FindQueue(queue);
  if (q == nullptr) return Status::NotFound("no queue " + std::string(queue));
  auto it = q->subs.find(sub);
  if (it == q->subs.end()) return Status::NotFound("no subscription " + FullName(queue, sub));
  Subscription* s = it->second.get();
  FinishAll(s, Status::NotFound("subscription deleted"));
  DropLeases(s, 0, UINT64_MAX);
  s->cursor.TakeOps(q->id, s->name, &q->cursor_ops);
  Record(q, {storage::CursorOp::Type::kDelete, q->id, s->name, 0, 0});
  subs_by_uid_.erase(s->uid);
  q->subs.erase(it);
  IdentityChanged(q);
  return Status::OK();
}

Result<std::vector<SubscriptionStats>> Engine::ListSubscriptions(std::string_view queue) {
  auto stats = GetQueueStats(queue);
  if (!stats.ok()) return stats.status();
  return std::move(stats->subscriptions);
}

Status Engine::FlushSub(Subscription* s) {
  Queue* q = s->queue;
  DropLeases(s, 0, UINT64_MAX);
  s->counters.acked += s->cursor.AckBelow(q->next_offset);
  s->counters.flushes++;
  Touch(q);
  return Status::OK();
}

Status Engine::Flush(std::string_view name) {
  SAKER_RETURN_IF_ERROR(CheckWrites());
  SAKER_RETURN_IF_ERROR(Admit(name));
  auto sub = Resolve(name);
  if (!sub.ok()) return sub.status();
  return FlushSub(*sub);
}

Status Engine::FlushAll() {
  SAKER_RETURN_IF_ERROR(CheckWrites());
  for (auto& [name, q] : queues_) {
    if (!replicator_->Admit(name).ok()) continue;  // another node's cursors
    for (auto& [sname, s] : q->subs) SAKER_RETURN_IF_ERROR(FlushSub(s.get()));
  }
  return Status::OK();
}

uint64_t Engine::FlushExpiredSub(Subscription* s) {
  // Expired items are found among the batches in memory (the recent ones); older expired items
  // are skipped when delivery reaches them.
  Queue* q = s->queue;
  const uint64_t before = s->counters.expired;
  std::vector<storage::BatchPtr> batches = cold_.From(q->id, s->cursor.floor());
  if (q->log) {
    for (storage::BatchPtr& b : tail_.Read(q->log.get(), s->cursor.floor(), SIZE_MAX)) {
      if (!cold_.Contains(q->id, b->base_offset())) batches.push_back(std::move(b));
    }
  }
  for (const storage::BatchPtr& b : batches) {
    for (const storage::RecordView& rec : b->records()) {
      if (rec.offset >= q->commit_end || s->cursor.IsAcked(rec.offset) ||
          s->cursor.IsInFlight(rec.offset) || !Expired(q, rec)) {
        continue;
      }
      ExpireItem(s, rec.offset, rec);
    }
  }
  return s->counters.expired - before;
}

Result<uint64_t> Engine::FlushExpired(std::string_view name) {
  SAKER_RETURN_IF_ERROR(CheckWrites());
  SAKER_RETURN_IF_ERROR(Admit(name));
  auto sub = Resolve(name);
  if (!sub.ok()) return sub.status();
  return FlushExpiredSub(*sub);
}

Result<uint64_t> Engine::FlushAllExpired() {
  SAKER_RETURN_IF_ERROR(CheckWrites());
  uint64_t n = 0;
  for (auto& [name, q] : queues_) {
    if (!replicator_->Admit(name).ok()) continue;
    for (auto& [sname, s] : q->subs) n += FlushExpiredSub(s.get());
  }
  return n;
}

void Engine::RemoveQueue(Queue* q, DurableDone durable) {
  for (auto& [name, s] : q->subs) {
    FinishAll(s.get(), Status::NotFound("queue " + q->name + " deleted"));
    DropLeases(s.get(), 0, UINT64_MAX);
    subs_by_uid_.erase(s->uid);
  }
  const Status deleted = Status::NotFound("queue " + q->name + " deleted");
  while (!q->puts.empty()) {
    PendingPut p = std::move(q->puts.front());
    q->puts.pop_front();
    Complete([done = std::move(p.done), deleted] { done(deleted); });
  }
  // Acks answered "done" on a deleted queue are done: nothing of it will be delivered again.
  for (DurableWait& w : q->durable_waits) {
    Complete([done = std::move(w.done)] { done(Status::OK()); });
  }
  q->durable_waits.clear();
  cold_.Drop(q->id);
  if (q->log) tail_.Drop(q->log.get());
  const uint64_t id = q->id;
  auto it = queues_.find(q->name);
  Deleting& d = deleting_[id];
  d.queue = std::move(it->second);
  if (durable) d.waiters.push_back(std::move(durable));
  queues_by_id_.erase(id);
  queues_.erase(it);
  // The queue's preallocated space goes first (on the storage thread, which owns its logs): on a
  // full disk it is what lets the deletion's meta.db commit through. The folder goes only once
  // meta.db holds the deletion record; a crash before that leaves the queue, after it a restart
  // finishes the removal.
  storage_->Run(
      [log = d.queue->log, cursor_log = d.queue->cursor_log]() -> Status {
        Status st = log ? log->ReleasePreallocation() : Status::OK();
        Status cursors = cursor_log ? cursor_log->ReleasePreallocation() : Status::OK();
        return st.ok() ? cursors : st;
      },
      [this, alive = alive_, id](Status released) {
        if (!*alive) return;
        if (!released.ok()) {
          EngineLog().warn("[queue id={}] preallocation not released: {}", id, released.ToString());
        }
        pending_meta_.delete_queues.push_back(id);
        pending_meta_.deleted_ms = Wall();
        Checkpoint([this, alive = alive_, id](Status st) {
          if (*alive) FinishDelete(id, std::move(st));
        });
        Drain();
      });
}

void Engine::FinishDelete(uint64_t queue_id, Status st) {
  auto it = deleting_.find(queue_id);
  if (it == deleting_.end()) return;
  Deleting d = std::move(it->second);
  deleting_.erase(it);
  Queue* q = d.queue.get();
  if (st.ok()) {
    // The replies go out once the folder is gone too (a crash before that: the restart
    // finishes the removal, since meta.db holds the deletion record).
    EngineLog().info("[queue={}] deleted (id {})", q->name, q->id);
    auto dirs = std::make_shared<std::vector<DoomedLog>>();
    dirs->push_back({std::move(q->log), std::move(q->cursor_log), q->dir});
    RemoveCommitted({}, std::move(dirs), std::move(d.waiters));
    return;
  }
  if (FindQueue(q->name) == nullptr) {
    // Not deleted: meta.db still has the queue, so it serves again (its leases and blocked
    // gets were already ended: those items are redelivered).
    EngineLog().error("[queue={}] not deleted, meta.db commit failed: {}", q->name, st.ToString());
    for (auto& [name, s] : q->subs) subs_by_uid_[s->uid] = s.get();
    queues_by_id_[q->id] = q;
    queues_.emplace(q->name, std::move(d.queue));
    // Lists it was dropped from while out of service: its cursors are written and checkpointed
    // again.
    q->cursor_dirty = false;
    Touch(q);
    // Deleted while its logs were being opened: they were let go, so they are opened again.
    if (!q->log && !q->failed) creating_.push_back(q->id);
    if (!q->checkpoint_ops.empty()) {
      q->checkpoint_due = true;
      if (std::find(checkpoint_due_.begin(), checkpoint_due_.end(), q->id) ==
          checkpoint_due_.end()) {
        checkpoint_due_.push_back(q->id);
      }
    }
  } else {
    EngineLog().error(
        "[queue={}] deletion of id {} failed ({}) after the name was reused: its "
        "folder is kept, not served",
        q->name, q->id, st.ToString());
  }
  const Status reply = Status::IOError("delete failed: " + st.ToString());
  for (DurableDone& w : d.waiters) Complete([w = std::move(w), reply] { w(reply); });
}

Status Engine::DeleteQueue(std::string_view name, DurableDone durable) {
  SAKER_RETURN_IF_ERROR(CheckWrites());
  auto parsed = ParseQueueName(name);
  if (!parsed.ok()) return parsed.status();
  SAKER_RETURN_IF_ERROR(Admit(name));
  SAKER_RETURN_IF_ERROR(replicator_->CanDelete(parsed->queue));
  if (!parsed->subscription.empty()) {
    BeginChange();
    Status st = DeleteSubscription(parsed->queue, parsed->subscription);
    if (st.ok()) WhenDurable(std::move(durable));
    return st;
  }
  if (Queue* q = FindQueue(parsed->queue)) {
    RemoveQueue(q, std::move(durable));
    return Status::OK();
  }
  // Already gone, or its deletion is being committed: answered with that.
  for (auto& [id, d] : deleting_) {
    if (d.queue->name == parsed->queue) {
      if (durable) d.waiters.push_back(std::move(durable));
      return Status::OK();
    }
  }
  if (durable) Complete([durable = std::move(durable)] { durable(Status::OK()); });
  return Status::OK();
}

std::vector<std::string> Engine::ListQueues() const {
  std::vector<std::string> names;
  names.reserve(queues_.size());
  for (const auto& [name, q] : queues_) names.push_back(name);
  return names;
}

Status Engine::SetQueueConfig(std::string_view name, const QueueConfig& config) {
  auto q = GetOrCreateQueue(name);
  if (!q.ok()) return q.status();
  if (!((*q)->config == config)) IdentityChanged(*q);
  (*q)->config = config;
  ServeQueue(*q);
  return Status::OK();
}

void Engine::SetStatus(ServerStatus status) {
  status_ = status;
  pending_meta_.settings["status"] = std::string(ServerStatusName(status));
}

}  // namespace saker::queue

// Engine: the put path — offsets and limits at Put, one batch per dirty queue per loop iteration
// handed to the storage thread, durable_end on completion, commit_end from the Replicator, the
// replies; batches given by a leader or a mirror (AppendBatch); truncation; fail-stop.
#include <algorithm>

#include "server/common/check.h"
#include "server/queue/engine.h"
#include "server/storage/cursor_op.h"
#include "server/storage/queue_identity.h"

namespace saker::queue {
storage::LogOptions Engine::LogOptionsFor(const Queue* q) const {
  storage::LogOptions o;
  o.segment_bytes = q->config.segment_bytes;
  o.segment_age_ms = q->config.segment_age_ms;
  o.sync = q->config.sync;
  o.direct_min_bytes = config_.direct_io_min_bytes;
  o.clock = clock_;
  o.fd_cache = fd_cache_;
  o.name = "queue=" + q->name;
  return o;
}

storage::LogOptions Engine::CursorLogOptionsFor(const Queue* q) const {
  // Cursor records are small and checkpointed often: small segments, so retention below the
  // checkpoint frees them soon, and little preallocation per queue.
  storage::LogOptions o = LogOptionsFor(q);
  o.segment_bytes = kCursorSegmentBytes;
  o.segment_age_ms = 0;
  o.preallocate_bytes = kCursorSegmentBytes / 4;
  o.name = "queue=" + q->name + " cursors";
  return o;
}

void Engine::OpenLogs() {
  // The queue rows and their default cursors are committed before the logs exist, so a put is
  // never acknowledged into a folder that recovery would not know. Queues created in one loop
  // iteration share one meta.db transaction.
  if (creating_.empty()) return;
  struct Opening {
    uint64_t id;
    std::string dir;
    storage::QueueIdentity identity;
    storage::LogOptions options;
    storage::LogOptions cursor_options;
    Status status = Status::Unavailable("not opened");
    std::shared_ptr<storage::Log> log;
    std::shared_ptr<storage::Log> cursor_log;
  };
  auto opening = std::make_shared<std::vector<Opening>>();
  storage::MetaBatch create;
  for (uint64_t id : creating_) {
    Queue* q = FindQueue(id);
    if (q == nullptr) continue;
    storage::QueueRecord row;
    row.id = q->id;
    row.name = q->name;
    row.created_ms = q->created_ms;
    row.incarnation = q->incarnation;
    create.create_queues.push_back(row);
    create.cursor_ops.push_back({storage::CursorOp::Type::kCreate, q->id, "", 1, 0});
    Opening o;
    o.id = q->id;
    o.dir = q->dir;
    o.identity = IdentityOf(q);
    o.options = LogOptionsFor(q);
    o.cursor_options = CursorLogOptionsFor(q);
    opening->push_back(std::move(o));
  }
  creating_.clear();
  create.settings["next_queue_id"] = std::to_string(next_queue_id_);
  meta_thread_->Run(
      [meta = meta_, create = std::move(create), opening]() -> Status {
        SAKER_RETURN_IF_ERROR(meta->Commit(create));
        for (Opening& o : *opening) {
          auto log = storage::Log::Open(o.dir, o.options);
          if (!log.ok()) {
            o.status = log.status();
            continue;
          }
          o.log = std::move(log).value();
          auto cursors = storage::Log::Open(o.dir + "/" + kCursorDir, o.cursor_options);
          if (!cursors.ok()) {
            o.status = cursors.status();
            continue;
          }
          o.cursor_log = std::move(cursors).value();
          o.status = storage::WriteQueueIdentity(o.dir, o.identity);
        }
        return Status::OK();
      },
      [this, alive = alive_, opening](Status st) {
        if (!*alive) return;
        for (Opening& o : *opening) {
          Queue* q = FindQueue(o.id);
          if (q == nullptr) continue;  // deleted meanwhile: the delete commit removes the folder
          if (!st.ok()) {
            FailQueue(q, st);
          } else if (!o.status.ok()) {
            FailQueue(q, o.status);
          } else {
            q->log = std::move(o.log);
            q->cursor_log = std::move(o.cursor_log);
          }
        }
        Drain();
      });
}

void Engine::Put(std::string_view name, std::vector<PutItem> items, PutDone done) {
  Status st = CheckWrites();
  auto parsed = ParseQueueName(name);
  if (st.ok() && !parsed.ok()) st = parsed.status();
  if (st.ok()) st = replicator_->Admit(parsed->queue);
  if (st.code() == StatusCode::kBusy) {
    auto again = [this, alive = alive_, name = std::string(name), items = std::move(items),
                  done = std::move(done)](Status st) mutable {
      if (!*alive) return;
      if (st.ok()) {
        Put(name, std::move(items), std::move(done));
      } else {
        done(st);
      }
      Drain();
    };
    replicator_->WhenAdmitted(parsed->queue, std::move(again));
    return;
  }
  Result<Queue*> q = st.ok() ? GetOrCreateQueue(parsed->queue) : Result<Queue*>(st);
  if (!q.ok()) {
    Complete([done = std::move(done), st = q.status()] { done(st); });
    return;
  }
  PutInto(*q, std::move(items), std::move(done));
}

uint64_t Engine::MinFloor(const Queue* q) const {
  uint64_t floor = q->next_offset;
  for (const auto& [name, s] : q->subs) floor = std::min(floor, s->cursor.floor());
  return floor;
}

uint64_t Engine::RetainedBytes(const Queue* q, uint64_t floor) const {
  // Payload bytes from `floor` to the end, known for batches put during this run.
  auto it = std::upper_bound(q->index.begin(), q->index.end(), floor,
                             [](uint64_t f, const BatchInfo& b) { return f < b.end; });
  return q->bytes_total - (it == q->index.end() ? q->bytes_total : it->bytes_before);
}

void Engine::DropOldest(Queue* q) {
  const uint64_t target = MinFloor(q) + 1;
  for (auto& [name, s] : q->subs) {
    if (s->cursor.floor() >= target) continue;
    DropLeases(s.get(), 0, target);
    s->counters.dropped += s->cursor.AckBelow(target);
  }
  q->counters.dropped++;
  Touch(q);
}

void Engine::PutInto(Queue* q, std::vector<PutItem> items, PutDone done) {
  if (q->failed) {
    Complete([done = std::move(done), st = q->failure] { done(st); });
    return;
  }
  const QueueConfig& cfg = q->config;
  const int64_t wall = Wall();
  q->dedupe.Expire(wall, cfg.dedupe_window_ms);
  PendingPut put;
  put.done = std::move(done);
  uint64_t floor = MinFloor(q);
  uint64_t bytes = (cfg.max_bytes > 0) ? RetainedBytes(q, floor) + q->builder_bytes : 0;
  for (PutItem& item : items) {
    if (cfg.max_item_size > 0 && item.payload.size() > cfg.max_item_size) {
      put.result.refused = Status::InvalidArgument(
          "item of " + std::to_string(item.payload.size()) + " bytes is over max_item_size " +
          std::to_string(cfg.max_item_size) + " of queue " + q->name);
      break;
    }
    const bool keyed = !item.key.empty() && cfg.dedupe_window_ms > 0;
    if (keyed) {
      if (auto seen = q->dedupe.Find(item.key, wall, cfg.dedupe_window_ms)) {
        put.result.offsets.push_back(*seen);
        put.result.accepted++;
        put.need = std::max(put.need, *seen + 1);
        q->counters.deduped++;
        continue;
      }
    }
    auto full = [&] {
      return (cfg.max_items > 0 && q->next_offset - floor + 1 > cfg.max_items) ||
             (cfg.max_bytes > 0 && bytes + item.payload.size() > cfg.max_bytes);
    };
    if (full() && cfg.when_full == WhenFull::kDropOldest) {
      while (full() && floor < q->next_offset) {
        DropOldest(q);
        floor = MinFloor(q);
        bytes = cfg.max_bytes > 0 ? RetainedBytes(q, floor) + q->builder_bytes : 0;
      }
    }
    if (full()) {
      put.result.refused = Status::Busy("queue " + q->name + " is full");
      q->counters.put_refused++;
      break;
    }
    int64_t expiry = item.expiry_ms;
    if (cfg.max_age_ms > 0) {
      int64_t cap = wall + cfg.max_age_ms;
      expiry = expiry == 0 ? cap : std::min(expiry, cap);
    }
    const uint64_t offset = q->next_offset++;
    q->builder.Add(wall, expiry, item.key, item.payload);
    q->builder_bytes += item.payload.size();
    bytes += item.payload.size();
    if (keyed) q->dedupe.Add(item.key, offset, wall);
    put.result.offsets.push_back(offset);
    put.result.accepted++;
    put.need = offset + 1;
    q->counters.put++;
  }
  if (!q->builder.empty() && !q->dirty) {
    q->dirty = true;
    dirty_.push_back(q->id);
  }
  if (put.need <= q->commit_end) {
    Complete([put = std::move(put)]() mutable { put.done(std::move(put.result)); });
    return;
  }
  put.since_ms = Now();
  q->puts.push_back(std::move(put));
}

void Engine::FlushPuts() {
  OpenLogs();
  ProbeStopped();
  std::vector<uint64_t> keep;
  for (uint64_t id : dirty_) {
    Queue* q = FindQueue(id);
    if (q == nullptr || (q->builder.empty() && q->given.empty())) continue;
    if (!q->log) {
      if (!q->failed) keep.push_back(id);  // the log is still being opened
      continue;
    }
    q->dirty = false;
    for (storage::BatchPtr& given : q->given) {
      uint64_t payload_bytes = 0;
      for (const storage::RecordView& rec : given->records()) payload_bytes += rec.payload.size();
      Submit(q, std::move(given), payload_bytes);
    }
    q->given.clear();
    if (q->builder.empty()) continue;
    storage::BatchPtr batch = q->builder.Finish(q->epoch, q->flushed_end);
    SAKER_CHECK(batch->end_offset() == q->next_offset);
    const uint64_t payload_bytes = q->builder_bytes;
    q->builder_bytes = 0;
    Submit(q, std::move(batch), payload_bytes);
  }
  dirty_ = std::move(keep);
  FlushCursors();
}

void Engine::Submit(Queue* q, storage::BatchPtr batch, uint64_t payload_bytes) {
  q->index.push_back(
      {batch->base_offset(), batch->end_offset(), batch->max_timestamp_ms(), q->bytes_total});
  q->bytes_total += payload_bytes;
  q->flushed_end = batch->end_offset();
  tail_.Add(q->log.get(), batch);
  // A subscription below the tail cache will read these items back from the log: keep them
  // in the page cache for it rather than write them with O_DIRECT.
  uint64_t cached = tail_.first_cached_offset(q->log.get());
  q->log->SetReadersBehind(MinFloor(q) < (cached == 0 ? q->next_offset : cached));
  replicator_->OnAppend(RefOf(q), batch);
  storage_->Append(q->log, batch,
                   [this, alive = alive_, id = q->id, gen = q->truncations, batch](Status st) {
                     if (!*alive) return;
                     OnAppended(id, gen, batch, std::move(st));
                     Drain();
                   });
}

void Engine::OnAppended(uint64_t queue_id, uint64_t truncations, storage::BatchPtr batch,
                        Status st) {
  Queue* q = FindQueue(queue_id);
  if (q == nullptr) return;
  if (!st.ok()) {
    FailQueue(q, st);
    return;
  }
  if (truncations != q->truncations) return;  // cut by a later Truncate
  q->durable_end = std::max(q->durable_end, batch->end_offset());
  if (q->config.dedupe_window_ms > 0) q->dedupe.MarkDurable(q->id, *batch);
  if (!q->checkpoint_due) {
    q->checkpoint_due = true;
    checkpoint_due_.push_back(q->id);
  }
  replicator_->OnDurable(RefOf(q), q->durable_end);
}

void Engine::Commit(uint64_t queue_id, uint64_t commit_end) {
  Queue* q = FindQueue(queue_id);
  if (q == nullptr) return;
  commit_end = std::min(commit_end, q->durable_end);
  if (commit_end <= q->commit_end) return;
  q->commit_end = commit_end;
  CompletePuts(q);
  ServeQueue(q);
}

void Engine::FailQueue(Queue* q, const Status& st) {
  // A full disk: a log's write failed with ENOSPC, or meta.db's checkpoint with SQLITE_FULL.
  const bool full = (q->log && q->log->out_of_space()) ||
                    (q->cursor_log && q->cursor_log->out_of_space()) ||
                    st.message().find("disk is full") != std::string_view::npos;
  // A damage outranks any other stop: it needs a repair, not a resume.
  if (q->failure.ok() || (st.IsCorruption() && !q->failure.IsCorruption())) {
    const std::string why(st.message());
    if (st.IsCorruption()) {
      q->failure = Status::Corruption("queue " + q->name + " is damaged (saker queue repair " +
                                      q->name + "): " + why);
    } else if (full) {
      q->failure = Status::IOError("queue " + q->name + ": no space left on device (" + why + ")");
    } else {
      q->failure =
          Status::IOError("queue " + q->name + " is stopped after a storage error: " + why);
    }
    EngineLog().error("[queue={}] stopped: {}", q->name, q->failure.ToString());
  }
  q->failed = true;
  const bool was_full = q->no_space;
  q->no_space = full && !q->failure.IsCorruption();
  if (q->no_space && !was_full) no_space_.push_back(q->id);
  q->builder = storage::BatchBuilder();
  q->builder_bytes = 0;
  while (!q->puts.empty()) {
    PendingPut p = std::move(q->puts.front());
    q->puts.pop_front();
    Complete([done = std::move(p.done), st = q->failure] { done(st); });
  }
  FailWaits(q, q->failure);
  // A full disk keeps reads going; any other stop answers the blocked gets with the error.
  if (!q->no_space) {
    for (auto& [name, s] : q->subs) FinishAll(s.get(), q->failure);
  }
}

void Engine::CompletePuts(Queue* q) {
  while (!q->puts.empty() && q->puts.front().need <= q->commit_end) {
    PendingPut p = std::move(q->puts.front());
    q->puts.pop_front();
    Complete([p = std::move(p)]() mutable { p.done(std::move(p.result)); });
  }
}

void Engine::AppendBatch(std::string_view name, storage::BatchPtr batch,
                         std::function<void(Status)> done) {
  auto fail = [&](Status st) { Complete([done = std::move(done), st] { done(st); }); };
  Status st = CheckOpen();
  if (!st.ok()) return fail(st);
  if (!IsValidName(name)) return fail(Status::InvalidArgument("bad queue name"));
  if (!batch || (batch->flags() & storage::kBatchFlagCursor) != 0) {
    return fail(Status::InvalidArgument("not a batch of items"));
  }
  auto r = GetOrCreateQueue(name);
  if (!r.ok()) return fail(r.status());
  Queue* q = *r;
  if (q->failed) return fail(q->failure);
  if (!q->builder.empty()) {
    return fail(Status::Busy("queue " + q->name + " has local puts not yet written"));
  }
  if (batch->base_offset() != q->next_offset) {
    return fail(Status::InvalidArgument("batch at offset " + std::to_string(batch->base_offset()) +
                                        " does not start at the end " +
                                        std::to_string(q->next_offset) + " of queue " + q->name));
  }
  q->epoch = std::max(q->epoch, batch->epoch());
  q->next_offset = batch->end_offset();
  PendingPut put;
  put.need = batch->end_offset();
  put.result.accepted = batch->count();
  put.done = [done = std::move(done)](Result<PutResult> r) { done(r.status()); };
  for (const storage::RecordView& rec : batch->records()) {
    if (!rec.key.empty() && q->config.dedupe_window_ms > 0) {
      q->dedupe.Add(std::string(rec.key), rec.offset, rec.timestamp_ms);
    }
  }
  q->counters.put += batch->count();
  put.since_ms = Now();
  q->puts.push_back(std::move(put));
  // Written with the next storage round, after anything handed over before it.
  q->given.push_back(std::move(batch));
  if (!q->dirty) {
    q->dirty = true;
    dirty_.push_back(q->id);
  }
}

void Engine::ForgetFrom(Queue* q, uint64_t offset) {
  q->truncations++;
  q->loading = false;
  if (offset < q->next_offset) {
    while (!q->index.empty() && q->index.back().base >= offset) {
      q->bytes_total = q->index.back().bytes_before;
      q->index.pop_back();
    }
    tail_.Truncate(q->log.get(), offset);
    cold_.DropFrom(q->id, offset);
    q->dedupe.ForgetFrom(offset);
  }
  q->next_offset = q->flushed_end = offset;
}

void Engine::Truncate(std::string_view name, uint64_t offset, std::function<void(Status)> done) {
  auto fail = [&](Status st) { Complete([done = std::move(done), st] { done(st); }); };
  Status st = CheckOpen();
  if (!st.ok()) return fail(st);
  Queue* q = FindQueue(name);
  if (q == nullptr) return fail(Status::NotFound("no queue " + std::string(name)));
  if (!q->log) return fail(Status::Busy("queue " + q->name + " is being created"));
  if (!q->builder.empty() || !q->given.empty()) {
    return fail(Status::Busy("queue " + q->name + " has appends not yet written"));
  }
  if (offset < q->log->first_offset() || offset > q->next_offset) {
    return fail(Status::InvalidArgument("offset " + std::to_string(offset) + " is outside [" +
                                        std::to_string(q->log->first_offset()) + ", " +
                                        std::to_string(q->next_offset) + "] of queue " + q->name));
  }
  // Everything at or above `offset` is forgotten now; appends and cold reads still in flight
  // carry the old truncation count and are ignored when they complete.
  ForgetFrom(q, offset);
  q->durable_end = std::min(q->durable_end, offset);
  q->commit_end = std::min(q->commit_end, offset);
  const Status cut = Status::Unavailable("queue " + q->name + " was truncated at offset " +
                                         std::to_string(offset) + " before the put was durable");
  std::erase_if(q->puts, [&](PendingPut& p) {
    if (p.need <= offset) return false;
    Complete([done = std::move(p.done), cut] { done(cut); });
    return true;
  });
  for (auto& [sname, s] : q->subs) {
    DropLeases(s.get(), offset, UINT64_MAX);
    if (s->cursor.floor() > offset) {
      s->cursor.TakeOps(q->id, s->name, &q->cursor_ops);
      s->cursor.Seek(offset);
      Record(q, {storage::CursorOp::Type::kSeek, q->id, s->name, offset, 0});
    }
  }
  storage_->Run([log = q->log, offset]() -> Status { return log->Truncate(offset); },
                [this, alive = alive_, id = q->id, done = std::move(done)](Status st) {
                  if (!*alive) return;
                  if (Queue* q = FindQueue(id); q != nullptr && !st.ok()) FailQueue(q, st);
                  Complete([done = std::move(done), st] { done(st); });
                  Drain();
                });
}

}  // namespace saker::queue

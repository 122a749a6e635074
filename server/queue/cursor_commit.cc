// Engine: the cursor log and the meta.db checkpoint. Cursor changes made during one loop iteration
// become one batch of each changed queue's cursor log, written by the storage thread in the same
// round as the puts (FlushPuts calls FlushCursors); a reply that says an ack is done waits for that
// batch (WhenDurable). The durable ops are then committed to meta.db every commit_interval_ms on
// the meta thread, with the cursor-log offset they reach, so recovery replays only what follows.
#include <algorithm>

#include "server/queue/engine.h"
#include "server/storage/cursor_op.h"

namespace saker::queue {
namespace {

constexpr int64_t kDedupeForgetEveryMs = 60'000;

}  // namespace

void Engine::Touch(Queue* q) {
  q->cursor_generation++;
  if (!q->cursor_dirty) {
    q->cursor_dirty = true;
    cursor_dirty_.push_back(q->id);
  }
  if (std::find(changed_.begin(), changed_.end(), q->id) == changed_.end()) {
    changed_.push_back(q->id);
  }
}

void Engine::Record(Queue* q, storage::CursorOp op) {
  q->cursor_ops.push_back(std::move(op));
  Touch(q);
}

void Engine::WhenDurable(DurableDone durable) {
  if (!durable) return;
  struct Join {
    size_t left = 0;
    Status status;
    DurableDone done;
  };
  auto join = std::make_shared<Join>();
  join->done = std::move(durable);
  for (uint64_t id : changed_) {
    Queue* q = FindQueue(id);
    if (q == nullptr || q->cursor_durable_generation >= q->cursor_generation) continue;
    join->left++;
    q->durable_waits.push_back({q->cursor_generation, [join](Status st) {
                                  if (!st.ok()) join->status = st;
                                  if (--join->left == 0) join->done(join->status);
                                }});
  }
  changed_.clear();
  if (join->left == 0) Complete([join] { join->done(Status::OK()); });
}

void Engine::CompleteWaits(Queue* q) {
  while (!q->durable_waits.empty() &&
         q->durable_waits.front().generation <= q->cursor_durable_generation) {
    Complete([done = std::move(q->durable_waits.front().done)] { done(Status::OK()); });
    q->durable_waits.pop_front();
  }
}

void Engine::FailWaits(Queue* q, const Status& st) {
  for (DurableWait& w : q->durable_waits) {
    Complete([done = std::move(w.done), st] { done(st); });
  }
  q->durable_waits.clear();
}

void Engine::FlushCursors() {
  std::vector<uint64_t> keep;
  const int64_t wall = Wall();
  for (uint64_t id : cursor_dirty_) {
    Queue* q = FindQueue(id);
    if (q == nullptr) continue;
    // A stopped queue still writes its acks while its cursor log takes them (a full disk, a
    // damaged item log).
    if (q->failed && (!q->cursor_log || q->cursor_log->failed() || q->cursor_log->damaged())) {
      q->cursor_dirty = false;
      FailWaits(q, q->failure);
      continue;
    }
    if (!q->cursor_log) {
      keep.push_back(id);  // the logs are still being opened
      continue;
    }
    q->cursor_dirty = false;
    auto ops = std::make_shared<std::vector<storage::CursorOp>>(std::move(q->cursor_ops));
    q->cursor_ops.clear();
    for (auto& [name, s] : q->subs) s->cursor.TakeOps(q->id, s->name, ops.get());
    const uint64_t generation = q->cursor_generation;
    q->cursor_written_generation = generation;
    if (ops->empty()) {
      // Nothing durable changed (an abort): done once what is in flight is.
      if (q->cursor_durable_end == q->cursor_log_end) {
        q->cursor_durable_generation = generation;
        CompleteWaits(q);
      }
      continue;
    }
    storage::BatchBuilder builder;
    for (const storage::CursorOp& op : *ops) {
      builder.Add(wall, 0, {}, storage::EncodeCursorOp(op));
    }
    storage::BatchPtr batch =
        builder.Finish(q->epoch, q->cursor_log_end, storage::kBatchFlagCursor);
    q->cursor_log_end = batch->end_offset();
    replicator_->OnAppend(RefOf(q), batch);
    storage_->Append(
        q->cursor_log, batch,
        [this, alive = alive_, id, generation, end = batch->end_offset(), ops](Status st) {
          if (!*alive) return;
          OnCursorsDurable(id, generation, end, ops, std::move(st));
          Drain();
        });
  }
  cursor_dirty_ = std::move(keep);
}

void Engine::OnCursorsDurable(uint64_t queue_id, uint64_t generation, uint64_t end,
                              std::shared_ptr<std::vector<storage::CursorOp>> ops, Status st) {
  Queue* q = FindQueue(queue_id);
  if (q == nullptr) return;
  if (!st.ok()) {
    FailQueue(q, st);
    return;
  }
  q->cursor_durable_end = std::max(q->cursor_durable_end, end);
  // The last batch in flight also covers the changes that needed no record after it.
  q->cursor_durable_generation = q->cursor_durable_end == q->cursor_log_end
                                     ? q->cursor_written_generation
                                     : std::max(q->cursor_durable_generation, generation);
  for (storage::CursorOp& op : *ops) q->checkpoint_ops.push_back(std::move(op));
  if (!q->checkpoint_due) {
    q->checkpoint_due = true;
    checkpoint_due_.push_back(q->id);
  }
  CompleteWaits(q);
}

void Engine::Checkpoint(std::function<void(Status)> done) {
  // A caller waits for the checkpoint that includes the changes made before its call: while
  // one is in flight, that is the next one.
  if (done) commit_waiters_.push_back(std::move(done));
  if (commit_in_flight_) {
    commit_again_ = true;
    return;
  }
  auto waiters = std::move(commit_waiters_);
  commit_waiters_.clear();
  const int64_t now = Now();
  const int64_t wall = Wall();
  auto batch = std::make_shared<storage::MetaBatch>(std::move(pending_meta_));
  pending_meta_ = storage::MetaBatch();
  std::vector<Retained> retention;
  std::vector<uint64_t> ids;
  for (uint64_t id : checkpoint_due_) {
    Queue* q = FindQueue(id);
    if (q == nullptr) continue;
    ids.push_back(id);
    q->checkpoint_due = false;
    for (storage::CursorOp& op : q->checkpoint_ops) batch->cursor_ops.push_back(std::move(op));
    q->checkpoint_ops.clear();
    batch->cursor_log_through.emplace_back(q->id, q->cursor_durable_end);
    const uint64_t through = q->dedupe.TakeDurable(&batch->dedupe_keys);
    if (through > 0) batch->dedupe_through.emplace_back(q->id, through);
    const uint64_t floor = MinFloor(q);
    cold_.DropBelow(q->id, floor);
    while (q->index.size() > 1 && q->index[1].base <= floor) q->index.pop_front();
    if (q->log) {
      const uint64_t keep_from = RetentionFloor(q, wall);
      if (keep_from > q->log->first_offset()) retention.push_back({q->id, q->log, keep_from});
    }
    // The cursor log below this checkpoint is in meta.db once it commits.
    if (q->cursor_log && q->cursor_durable_end > q->cursor_log->first_offset()) {
      retention.push_back({q->id, q->cursor_log, q->cursor_durable_end});
    }
  }
  checkpoint_due_.clear();
  if (now - last_forget_ms_ >= kDedupeForgetEveryMs) {
    int64_t window = 0;
    for (const auto& [name, q] : queues_) window = std::max(window, q->config.dedupe_window_ms);
    batch->dedupe_forget_before_ms = wall - window;
    last_forget_ms_ = now;
  }
  auto dirs = std::make_shared<std::vector<DoomedLog>>(std::move(remove_dirs_));
  remove_dirs_.clear();
  last_commit_ms_ = now;
  commit_in_flight_ = true;
  // QUEUE files are rewritten before the commit that lets retention cut the cursor-log records
  // they replace (a subscription's create): a rebuild of meta.db finds every subscription.
  meta_thread_->Run(
      [meta = meta_, batch, identities = TakeIdentityWrites()]() -> Status {
        for (const auto& [dir, identity] : identities) {
          SAKER_RETURN_IF_ERROR(storage::WriteQueueIdentity(dir, identity));
        }
        return meta->Commit(*batch);
      },
      [this, alive = alive_, retention = std::move(retention), dirs, ids = std::move(ids),
       waiters = std::move(waiters)](Status st) mutable {
        if (!*alive) return;
        commit_in_flight_ = false;
        if (!st.ok()) {
          // The checkpoint's state is not in meta.db, and the cursor logs it
          // would free are kept: the queues stop rather than run on unknown
          // metadata.
          static logging::RateLimit limit(std::chrono::seconds(10));
          if (uint64_t skipped = 0; limit.Allow(&skipped)) {
            EngineLog().error("meta.db checkpoint failed: {} ({} more since)", st.ToString(),
                              skipped);
          }
          for (uint64_t id : ids) {
            if (Queue* q = FindQueue(id)) FailQueue(q, st);
          }
        }
        // Segments go only after the floors that free them are committed; a caller
        // waiting for this checkpoint also waits for that.
        if (st.ok() && (!retention.empty() || !dirs->empty())) {
          RemoveCommitted(std::move(retention), dirs, std::move(waiters));
        } else {
          for (auto& w : waiters) Complete([w = std::move(w), st] { w(st); });
        }
        if (commit_again_) {
          commit_again_ = false;
          Checkpoint(nullptr);
        }
        Drain();
      });
}

void Engine::Close(std::function<void(Status)> done) {
  closed_ = true;
  for (auto& [name, q] : queues_) {
    for (auto& [sname, s] : q->subs) FinishAll(s.get(), Status::OK());
  }
  FlushPuts();
  Checkpoint(std::move(done));
}

void Engine::Drain() {
  if (draining_) return;
  draining_ = true;
  while (!completions_.empty()) {
    auto batch = std::move(completions_);
    completions_.clear();
    for (auto& fn : batch) fn();
  }
  changed_.clear();
  draining_ = false;
}

}  // namespace saker::queue

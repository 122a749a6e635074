// Engine: repair and resume — a damaged queue salvaged while the server runs (Log::Repair of
// both its logs on the storage thread), and a queue stopped by a write error restarted once a
// probe write works (Log::Resume): by itself, one probe a second, when the disk was full, or by
// ResumeQueue. Either way the queue's ends and caches then follow its logs as the files hold them.
#include <algorithm>

#include "server/queue/engine.h"

namespace saker::queue {
namespace {

constexpr int64_t kProbeEveryMs = 1000;

std::string DescribeCuts(const std::vector<storage::LogCut>& cuts) {
  std::string out;
  for (const storage::LogCut& c : cuts) {
    out += fmt::format(" [{}, {}) ({} bytes at {} position {})", c.first_offset, c.end_offset,
                       c.bytes, c.segment, c.position);
  }
  return out;
}

}  // namespace

Result<Queue*> Engine::FindWithLogs(std::string_view name) const {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  auto parsed = ParseQueueName(name);
  if (!parsed.ok()) return parsed.status();
  Queue* q = FindQueue(parsed->queue);
  if (q == nullptr) return Status::NotFound("no queue " + std::string(parsed->queue));
  if (!q->log || !q->cursor_log) {
    return Status::Unavailable(
        "queue " + q->name + " has no open logs (" +
        (q->failure.ok() ? std::string("being created") : q->failure.ToString()) +
        "): fix the cause and restart sakerd");
  }
  return q;
}

void Engine::Repair(std::string_view name, std::function<void(Result<RepairReport>)> done) {
  auto fail = [&](Status st) { Complete([done = std::move(done), st] { done(st); }); };
  auto found = FindWithLogs(name);
  if (!found.ok()) return fail(found.status());
  Queue* q = *found;
  if (q->repairing) return fail(Status::Busy("queue " + q->name + " is being repaired"));
  q->repairing = true;
  auto report = std::make_shared<RepairReport>();
  // Appends handed over before this run first; later ones go to the repaired logs, whose next
  // offsets a repair never moves back.
  storage_->Run(
      [log = q->log, cursor_log = q->cursor_log, report]() -> Status {
        storage::LogRepair items;
        storage::LogRepair cursors;
        SAKER_RETURN_IF_ERROR(log->Repair(&items));
        SAKER_RETURN_IF_ERROR(cursor_log->Repair(&cursors));
        report->batches_kept = items.batches_kept;
        report->cuts = std::move(items.cuts);
        report->cursor_cuts = std::move(cursors.cuts);
        return Status::OK();
      },
      [this, alive = alive_, id = q->id, report, cursors_failed = q->cursor_log->failed(),
       done = std::move(done)](Status st) {
        if (!*alive) return;
        Queue* q = FindQueue(id);
        if (q == nullptr) {
          Complete([done, st = Status::NotFound("queue deleted during its repair")] { done(st); });
          Drain();
          return;
        }
        q->repairing = false;
        if (!st.ok()) {
          FailQueue(q, st);
          Complete([done, st = q->failure] { done(st); });
          Drain();
          return;
        }
        // What was cut goes to the log in one line, and to the metrics.
        if (report->cuts.empty() && report->cursor_cuts.empty()) {
          EngineLog().info("[queue={}] repair: nothing damaged, {} batches kept", q->name,
                           report->batches_kept);
        } else {
          EngineLog().warn(
              "[queue={}] repaired: {} batches kept; item offsets cut:{}; cursor "
              "records cut:{}",
              q->name, report->batches_kept, DescribeCuts(report->cuts),
              DescribeCuts(report->cursor_cuts));
          q->counters.repairs++;
        }
        for (const auto* cuts : {&report->cuts, &report->cursor_cuts}) {
          for (const storage::LogCut& c : *cuts) q->counters.repair_cut_bytes += c.bytes;
        }
        for (const storage::LogCut& c : report->cuts) {
          q->counters.repair_cut_items += c.end_offset - c.first_offset;
        }
        if (q->failed) Restart(q, cursors_failed);
        Complete([done, report] { done(*report); });
        ServeQueue(q);
        Drain();
      });
}

void Engine::Resume(std::string_view name, std::function<void(Status)> done) {
  auto fail = [&](Status st) { Complete([done = std::move(done), st] { done(st); }); };
  auto found = FindWithLogs(name);
  if (!found.ok()) return fail(found.status());
  Queue* q = *found;
  if (!q->failed) return fail(Status::OK());
  if (q->failure.IsCorruption()) return fail(q->failure);
  if (q->resuming) return fail(Status::Busy("queue " + q->name + " is being resumed"));
  StartResume(q, std::move(done));
}

void Engine::ProbeStopped() {
  if (no_space_.empty() || Now() - last_probe_ms_ < kProbeEveryMs) return;
  last_probe_ms_ = Now();
  std::erase_if(no_space_, [&](uint64_t id) {
    Queue* q = FindQueue(id);
    return q == nullptr || !q->no_space;
  });
  // One probe per second for the whole server (a full disk stops every queue that writes);
  // once one works, the next queue is probed at once.
  for (uint64_t id : no_space_) {
    Queue* q = FindQueue(id);
    if (q->resuming || q->repairing) continue;
    StartResume(q, [this](Status st) {
      if (st.ok()) last_probe_ms_ = 0;
    });
    return;
  }
}

void Engine::StartResume(Queue* q, std::function<void(Status)> done) {
  q->resuming = true;
  storage_->Run(
      [log = q->log, cursor_log = q->cursor_log]() -> Status {
        SAKER_RETURN_IF_ERROR(log->Resume());
        return cursor_log->Resume();
      },
      [this, alive = alive_, id = q->id, cursors_failed = q->cursor_log->failed(),
       done = std::move(done)](Status st) {
        if (!*alive) return;
        Queue* q = FindQueue(id);
        if (q == nullptr) {
          Complete([done, st = Status::NotFound("queue deleted during its resume")] { done(st); });
          Drain();
          return;
        }
        q->resuming = false;
        if (st.ok() && q->failed && !q->failure.IsCorruption()) {
          EngineLog().info("[queue={}] resumed: the disk takes writes again", q->name);
          q->counters.resumes++;
          Restart(q, cursors_failed);
          ServeQueue(q);
        } else if (!st.ok()) {
          st = Status::IOError("queue " + q->name + " is still stopped: " + st.ToString());
        }
        Complete([done, st] { done(st); });
        Drain();
      });
}

void Engine::Restart(Queue* q, bool cursors_failed) {
  q->failed = false;
  q->failure = Status::OK();
  q->no_space = false;
  // Whatever was in flight when the queue stopped is forgotten: the files are the truth.
  const uint64_t end = q->log->next_offset();
  ForgetFrom(q, end);
  q->first_offset = q->log->first_offset();
  // Batches written before the stop but not then synced are durable now (Log::Resume synced).
  if (end > q->durable_end) {
    q->durable_end = end;
    replicator_->OnDurable(RefOf(q), end);
  }
  // A failed cursor log took no appends since it failed, so its end is the files' end; one
  // that kept working may have appends in flight, and its ends stay as they are.
  if (cursors_failed) {
    q->cursor_log_end = q->cursor_durable_end = q->cursor_log->next_offset();
    q->cursor_written_generation = q->cursor_durable_generation = q->cursor_generation;
  }
}

}  // namespace saker::queue

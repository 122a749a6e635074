// Engine: retention — which whole segments may go once a checkpoint has committed the floors
// that free them, and their removal: taken out of their logs on the storage thread (which owns
// the logs), their files unlinked on the meta thread (a 64 MiB unlink held every append ~17 ms).

#include "server/queue/engine.h"

namespace saker::queue {
uint64_t Engine::RetentionFloor(const Queue* q, int64_t wall) const {
  uint64_t floor = MinFloor(q);
  if (q->config.retain_age_ms > 0) {
    uint64_t keep_from = q->next_offset;
    for (const BatchInfo& b : q->index) {
      if (b.first_ts >= wall - q->config.retain_age_ms) {
        keep_from = b.base;
        break;
      }
    }
    // Items older than this run have no timestamp in memory: keep them.
    if (q->index.empty() || q->index.front().base > q->log->first_offset()) keep_from = 0;
    floor = std::min(floor, keep_from);
  }
  if (q->config.retain_bytes > 0 && q->log->stats().size_bytes <= q->config.retain_bytes) {
    floor = 0;
  }
  return floor;
}

void Engine::RemoveCommitted(std::vector<Retained> retention,
                             std::shared_ptr<std::vector<DoomedLog>> dirs,
                             std::vector<std::function<void(Status)>> waiters) {
  auto doomed = std::make_shared<std::vector<std::string>>();
  storage_->Run(
      [retention, dirs, doomed]() -> Status {
        for (const Retained& r : retention) {
          SAKER_RETURN_IF_ERROR(r.log->DeleteBelow(r.floor, doomed.get()));
        }
        for (DoomedLog& d : *dirs) {
          d.log.reset();
          d.cursor_log.reset();
        }
        return Status::OK();
      },
      [this, alive = alive_, retention, dirs, doomed,
       waiters = std::move(waiters)](Status st) mutable {
        if (!*alive) return;
        static logging::RateLimit limit(std::chrono::seconds(10));
        if (uint64_t skipped = 0; !st.ok() && limit.Allow(&skipped)) {
          EngineLog().error("retention failed: {} ({} more since)", st.ToString(), skipped);
        }
        // Only the cut logs moved their first offset: no walk over every queue.
        for (const Retained& r : retention) {
          Queue* q = FindQueue(r.queue_id);
          if (q != nullptr && q->log == r.log) q->first_offset = q->log->first_offset();
        }
        meta_thread_->Run(
            [dirs, doomed]() -> Status {
              Status unlinked = storage::Log::UnlinkInOrder(*doomed);
              for (const DoomedLog& d : *dirs) {
                Status removed = storage::RemoveQueueFolder(d.dir);
                if (unlinked.ok()) unlinked = std::move(removed);
              }
              return unlinked;
            },
            [this, alive = alive_, st, waiters = std::move(waiters)](Status removed) mutable {
              if (!*alive) return;
              static logging::RateLimit limit(std::chrono::seconds(10));
              if (uint64_t skipped = 0; !removed.ok() && limit.Allow(&skipped)) {
                EngineLog().error("removing segment files: {} ({} more since)", removed.ToString(),
                                  skipped);
              }
              for (auto& w : waiters) Complete([w = std::move(w), st] { w(st); });
              Drain();
            });
      });
}

}  // namespace saker::queue

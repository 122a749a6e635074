// The engine's calls for the replicated log (replication/): a queue's ends as fence and
// takeover compare them, creating a queue with the cluster's incarnation, the leader's epoch,
// reading the log for a follower that lags, and answering puts whose replication stalled.
#include "server/queue/engine.h"

namespace saker::queue {

QueueManager::ReplicaInfo Engine::GetReplicaInfo(std::string_view name) const {
  QueueManager::ReplicaInfo info;
  const Queue* q = FindQueue(name);
  if (q == nullptr) return info;
  info.exists = true;
  info.id = q->id;
  info.failed = q->failed;
  info.incarnation = q->incarnation;
  info.first_offset = q->first_offset;
  info.next_offset = q->next_offset;
  info.durable_end = q->durable_end;
  info.commit_end = q->commit_end;
  info.epoch = q->epoch;
  return info;
}

QueueConfig Engine::PublicConfigFor(std::string_view name) const {
  if (const Queue* q = FindQueue(name); q != nullptr) return q->config;
  return ConfigFor(name);
}

Status Engine::EnsureQueue(std::string_view name, uint64_t incarnation) {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  if (const Queue* q = FindQueue(name); q != nullptr) {
    if (q->incarnation == incarnation) return Status::OK();
    return Status::InvalidArgument(
        fmt::format("queue {} here is incarnation {:016x}, the cluster's is {:016x}", name,
                    q->incarnation, incarnation));
  }
  return GetOrCreateQueue(name, incarnation).status();
}

void Engine::SetEpoch(std::string_view name, uint64_t epoch) {
  if (Queue* q = FindQueue(name); q != nullptr) q->epoch = std::max(q->epoch, epoch);
}

void Engine::ReadLog(std::string_view name, uint64_t offset, size_t max_bytes,
                     std::function<void(Result<std::vector<storage::BatchPtr>>)> done) {
  Queue* q = FindQueue(name);
  if (q == nullptr || !q->log) {
    Complete([done = std::move(done), n = std::string(name)] {
      done(Status::NotFound("no queue " + n + " here"));
    });
    return;
  }
  reader_.Read(
      q->log, offset, max_bytes,
      [this, alive = alive_, done = std::move(done)](Result<std::vector<storage::BatchPtr>> read) {
        if (!*alive) return;
        done(std::move(read));
        Drain();
      },
      true);
}

void Engine::FailPendingPuts(std::string_view name, int64_t before_ms, const Status& st) {
  Queue* q = FindQueue(name);
  if (q == nullptr) return;
  while (!q->puts.empty() && q->puts.front().since_ms < before_ms) {
    PendingPut p = std::move(q->puts.front());
    q->puts.pop_front();
    Complete([done = std::move(p.done), st] { done(st); });
  }
}

int64_t Engine::OldestPendingPut(std::string_view name) const {
  const Queue* q = FindQueue(name);
  return q == nullptr || q->puts.empty() ? 0 : q->puts.front().since_ms;
}

}  // namespace saker::queue

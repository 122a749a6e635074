// Engine: the stats of queues and subscriptions, with Kestrel's counts (items and bytes leave
// open items out; open_transactions counts them) beside what the queue retains.
#include <algorithm>

#include "server/queue/engine.h"

namespace saker::queue {

SubscriptionStats Engine::StatsOf(const Subscription* s) const {
  const Queue* q = s->queue;
  SubscriptionStats st = s->counters;
  st.name = s->name;
  st.ack_floor = s->cursor.floor();
  st.depth = s->cursor.Depth(q->commit_end);
  st.waiters = s->waiters.size();
  // Kestrel's items and bytes leave out open (leased) items.
  uint64_t leased_bytes = 0;
  st.leased = 0;
  for (const auto& [offset, id] : s->leases) {
    const Lease* l = leases_.Find(id);
    if (l == nullptr || l->held) continue;
    st.leased++;
    leased_bytes += l->batch->Record(offset).payload.size();
  }
  st.items = st.depth > st.leased ? st.depth - st.leased : 0;
  const uint64_t retained = RetainedBytes(q, s->cursor.floor());
  st.bytes = retained > leased_bytes ? retained - leased_bytes : 0;
  st.oldest_age_ms = 0;
  if (st.depth > 0) {
    uint64_t oldest = s->cursor.floor();
    if (storage::BatchPtr b = FindResident(q, oldest)) {
      st.oldest_age_ms = std::max<int64_t>(0, Wall() - b->Record(oldest).timestamp_ms);
    } else {
      for (const BatchInfo& info : q->index) {
        if (oldest < info.end && oldest >= info.base) {
          st.oldest_age_ms = std::max<int64_t>(0, Wall() - info.first_ts);
          break;
        }
      }
      if (st.oldest_age_ms == 0 && q->head && q->head->base <= oldest && oldest < q->head->end) {
        st.oldest_age_ms = std::max<int64_t>(0, Wall() - q->head->first_ts);
      }
    }
  }
  return st;
}

void Engine::LoadHeads() {
  // Batches put before the restart are neither in the tail cache nor in q->index: without its
  // first batch a backlog's oldest age would read 0 until the first get. One small read per
  // queue with a backlog, in the background (the server is ready meanwhile); only the batch's
  // offsets and timestamp are kept.
  constexpr size_t kHeadReadBytes = 4096;
  for (auto& [name, q] : queues_) {
    if (q->failed || !q->log) continue;
    const uint64_t floor = MinFloor(q.get());
    if (floor >= q->commit_end || FindResident(q.get(), floor) != nullptr) continue;
    reader_.Read(
        q->log, floor, kHeadReadBytes,
        [this, alive = alive_, id = q->id,
         gen = q->truncations](Result<std::vector<storage::BatchPtr>> read) {
          Queue* q = *alive ? FindQueue(id) : nullptr;
          if (q == nullptr || gen != q->truncations || !read.ok() || read->empty()) {
            return;
          }
          const storage::BatchPtr& b = read->front();
          q->head = BatchInfo{b->base_offset(), b->end_offset(),
                              b->Record(b->base_offset()).timestamp_ms, 0};
        },
        /*peek=*/true);
  }
}

QueueStats Engine::StatsOf(const Queue* q) const {
  QueueStats st = q->counters;
  st.first_offset = q->log ? q->log->first_offset() : q->first_offset;
  st.next_offset = q->next_offset;
  const uint64_t floor = MinFloor(q);
  st.depth = q->commit_end > floor ? q->commit_end - floor : 0;
  st.depth_bytes = RetainedBytes(q, floor);
  st.durable_end = q->durable_end;
  st.commit_end = q->commit_end;
  st.epoch = q->epoch;
  if (q->log) {
    storage::LogStats ls = q->log->stats();
    st.log_bytes = ls.size_bytes;
    st.log_direct_writes = ls.direct_writes;
  }
  st.failed = q->failed;
  if (q->failed) {
    st.failure = q->failure.ToString();
    st.failure_kind = q->failure.IsCorruption() ? "corruption"
                      : q->no_space             ? "no_space"
                                                : "io_error";
  }
  st.subscriptions.clear();
  for (const auto& [name, s] : q->subs) st.subscriptions.push_back(StatsOf(s.get()));
  if (!st.subscriptions.empty() && st.subscriptions.front().name.empty()) {
    st.items = st.subscriptions.front().items;
    st.bytes = st.subscriptions.front().bytes;
    st.open_transactions = st.subscriptions.front().leased;
  }
  return st;
}

Result<QueueStats> Engine::GetQueueStats(std::string_view name) {
  SAKER_RETURN_IF_ERROR(Admit(name));
  auto parsed = ParseQueueName(name);
  if (!parsed.ok()) return parsed.status();
  auto q = GetOrCreateQueue(parsed->queue);
  if (!q.ok()) return q.status();
  return StatsOf(*q);
}

std::vector<QueueStats> Engine::AllStats() const {
  std::vector<QueueStats> out;
  out.reserve(queues_.size());
  for (const auto& [name, q] : queues_) out.push_back(StatsOf(q.get()));
  return out;
}

}  // namespace saker::queue

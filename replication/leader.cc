// Cluster, the leader's side: takeover (claim an epoch, fence, recover the tail, seal and open
// by compare-and-set), streaming batches to followers, catching up a lagging follower, and the
// commit offset (PROTOCOL.md "Takeover" and "Commit").
#include <fmt/format.h>

#include <random>

#include "gen/replication_types.h"
#include "replication/cluster.h"
#include "replication/wire.h"
#include "server/common/logging.h"

namespace saker::replication {
namespace {

spdlog::logger& Log() {
  static auto& log = logging::Get("replication");
  return log;
}

constexpr size_t kCatchUpBytes = 1 << 20;
constexpr uint64_t kRecentBytes = 16 << 20;
// Once the fence coverage answered, how long to wait for the other replicas' answers (a longer
// tail among them is recovered too).
constexpr int64_t kFenceGraceMs = 100;

std::vector<replica::Segment> ToWire(const std::vector<SegmentInfo>& segments) {
  std::vector<replica::Segment> out;
  for (const SegmentInfo& s : segments) {
    replica::Segment w;
    w.epoch = static_cast<int64_t>(s.epoch);
    w.start = static_cast<int64_t>(s.start);
    w.leader = s.leader;
    out.push_back(w);
  }
  return out;
}

}  // namespace

void Cluster::StartTakeover(QueueState* q) {
  q->role = Role::kCandidate;
  q->takeover = std::make_unique<Takeover>();
  // 1. Claim a new epoch by compare-and-set on the queue's node: no two candidates share one.
  zk_->Get(QueuePath(q), [this, alive = alive_, name = q->name](
                             const ZkResult& r, const std::string& data, int32_t version) {
    if (!*alive) return;
    QueueState* q = Find(name);
    if (q == nullptr || q->role != Role::kCandidate) return;
    Result<QueueMeta> meta =
        r.ok() ? DecodeQueueMeta(data) : Result<QueueMeta>(Status::Unavailable(r.message));
    if (!meta.ok()) return AbandonTakeover(q, meta.status().ToString());
    meta->claimed = std::max(meta->claimed, meta->epoch()) + 1;
    const uint64_t epoch = meta->claimed;
    zk_->Set(QueuePath(q), EncodeQueueMeta(*meta), version,
             [this, alive = alive_, name, meta = *meta, epoch](const ZkResult& r, int32_t v) {
               if (!*alive) return;
               QueueState* q = Find(name);
               if (q == nullptr || q->role != Role::kCandidate) return;
               if (!r.ok()) return AbandonTakeover(q, "claiming an epoch: " + r.message);
               q->meta = meta;
               q->meta_version = v;
               q->takeover->epoch = epoch;
               q->epoch = epoch;
               FenceAll(q);
             });
  });
}

void Cluster::FenceAll(QueueState* q) {
  Takeover* t = q->takeover.get();
  const uint32_t coverage =
      FenceCoverage(static_cast<uint32_t>(q->meta.replicas.size()), q->meta.ack_quorum);
  // 2. Fence every replica: each persists the epoch and cuts its unsealed tail, so the old
  // leader can no longer reach its quorum.
  auto on_answer = [this, alive = alive_, name = q->name, epoch = t->epoch, coverage](
                       int node, const Status& st, const replica::FenceReply& reply) {
    if (!*alive) return;
    QueueState* q = Find(name);
    if (q == nullptr || q->role != Role::kCandidate || q->takeover->epoch != epoch) return;
    Takeover* t = q->takeover.get();
    t->answered++;
    if (st.ok() && reply.error == replica::ReplicaError::FENCED) {
      return AbandonTakeover(q, fmt::format("node {} is fenced at epoch {}, above {}", node,
                                            reply.fenced_epoch, epoch));
    }
    if (st.ok() && reply.error == replica::ReplicaError::OK) {
      t->fenced[node] = {static_cast<uint64_t>(reply.last_epoch),
                         static_cast<uint64_t>(reply.log_end),
                         static_cast<uint64_t>(reply.durable_end)};
    } else if (node == node_id_) {
      return AbandonTakeover(
          q, "this node's copy cannot be fenced: " + (st.ok() ? reply.message : st.ToString()));
    }
    const bool all = t->answered == q->meta.replicas.size();
    if (t->fenced.size() >= coverage && t->fenced.count(node_id_)) {
      if (t->covered_ms == 0) t->covered_ms = Now();
      if (all) {
        RecoverTail(q);
      } else {
        After(kFenceGraceMs, [this, name, epoch] {
          QueueState* q = Find(name);
          if (q != nullptr && q->role == Role::kCandidate && q->takeover->epoch == epoch) {
            RecoverTail(q);
          }
        });
      }
    } else if (all) {
      AbandonTakeover(q, fmt::format("only {} of {} replicas could be fenced (need {})",
                                     t->fenced.size(), q->meta.replicas.size(), coverage));
    }
  };
  replica::FenceRequest req;
  req.queue = q->name;
  req.incarnation = static_cast<int64_t>(q->meta.incarnation);
  req.epoch = static_cast<int64_t>(t->epoch);
  req.leader = node_id_;
  req.segments = ToWire(q->meta.segments);
  req.replicas = static_cast<int32_t>(q->meta.replicas.size());
  req.ack_quorum = static_cast<int32_t>(q->meta.ack_quorum);
  auto frame = std::make_shared<const std::string>(EncodeCall("fence", 0, req));
  for (int node : q->meta.replicas) {
    if (node == node_id_) {
      FenceWith(q->name, q->meta.incarnation, t->epoch, node_id_, q->meta.segments, 0,
                [on_answer, node](std::string reply_frame) {
                  replica::FenceReply reply;
                  Status st = DecodeReply(reply_frame, &reply);
                  on_answer(node, st, reply);
                });
      continue;
    }
    Link(node)->Call(frame, [on_answer, node](const Status& st, std::string_view reply_frame) {
      replica::FenceReply reply;
      Status s = st.ok() ? DecodeReply(reply_frame, &reply) : st;
      on_answer(node, s, reply);
    });
  }
}

void Cluster::RecoverTail(QueueState* q) {
  Takeover* t = q->takeover.get();
  if (t->recovering) return;
  t->recovering = true;
  // 3. The tail: the longest log of the highest epoch among the fenced replicas. Everything
  // acknowledged is on at least one of them (coverage), and they all agree below their ends.
  int best = node_id_;
  for (const auto& [node, a] : t->fenced) {
    const Takeover::Answer& b = t->fenced[best];
    if (std::pair(a.last_epoch, a.log_end) > std::pair(b.last_epoch, b.log_end)) best = node;
  }
  t->target = t->fenced[best].log_end;
  Log().info("[queue={}] takeover at epoch {}: {} of {} replicas fenced; tail ends at {} (node {})",
             q->name, t->epoch, t->fenced.size(), q->meta.replicas.size(), t->target, best);
  if (t->fenced[node_id_].log_end < t->target) {
    FetchTail(q, best, t->target);
  } else {
    WaitTailQuorum(q);
  }
}

void Cluster::FetchTail(QueueState* q, int from_node, uint64_t end) {
  const queue::QueueManager::ReplicaInfo info = engine_->GetReplicaInfo(q->name);
  if (info.next_offset >= end) return WaitTailQuorum(q);
  replica::FetchRequest req;
  req.queue = q->name;
  req.incarnation = static_cast<int64_t>(q->meta.incarnation);
  req.from_offset = static_cast<int64_t>(info.next_offset);
  req.max_bytes = static_cast<int32_t>(kCatchUpBytes);
  auto frame = std::make_shared<const std::string>(EncodeCall("fetch", 0, req));
  Link(from_node)->Call(frame, [this, alive = alive_, name = q->name, epoch = q->takeover->epoch,
                                from_node, end](const Status& st, std::string_view reply_frame) {
    if (!*alive) return;
    QueueState* q = Find(name);
    if (q == nullptr || q->role != Role::kCandidate || q->takeover->epoch != epoch) return;
    replica::FetchReply reply;
    Status s = st.ok() ? DecodeReply(reply_frame, &reply) : st;
    if (!s.ok() || reply.error != replica::ReplicaError::OK || reply.batches.empty()) {
      return AbandonTakeover(q, fmt::format("fetching the tail from node {}: {}", from_node,
                                            s.ok() ? reply.message : s.ToString()));
    }
    for (std::string& bytes : reply.batches) {
      Result<storage::BatchPtr> b = storage::Batch::Parse(std::move(bytes));
      if (!b.ok()) return AbandonTakeover(q, "fetched tail: " + b.status().ToString());
      engine_->AppendBatch(name, *b, [](Status) {});
    }
    FetchTail(q, from_node, end);
  });
}

void Cluster::WaitTailQuorum(QueueState* q) {
  Takeover* t = q->takeover.get();
  t->waiting_quorum = true;
  // 4. Before the seal, the recovered tail is durable on an ack quorum, so no later takeover can
  // find less than the sealed end.
  q->followers.clear();
  for (int node : q->meta.replicas) {
    if (node == node_id_) continue;
    FollowerState& f = q->followers[node];
    f.node = node;
    if (auto it = t->fenced.find(node); it != t->fenced.end()) {
      f.sent_end = it->second.log_end;
      f.durable_end = it->second.durable_end;
      CatchUp(q, &f);
    }
  }
  q->local_durable = engine_->GetReplicaInfo(q->name).durable_end;
  Recompute(q);
}

void Cluster::OpenEpoch(QueueState* q) {
  Takeover* t = q->takeover.get();
  t->waiting_quorum = false;
  // 5. Seal the old epoch and open ours in one compare-and-set: our segment starts at the
  // recovered end, which is where the previous epoch is sealed.
  QueueMeta meta = q->meta;
  meta.segments.push_back({t->epoch, t->target, node_id_});
  if (meta.segments.size() > QueueMeta::kMaxSegments) {
    meta.segments.erase(meta.segments.begin(),
                        meta.segments.end() - static_cast<long>(QueueMeta::kMaxSegments));
  }
  zk_->Set(
      QueuePath(q), EncodeQueueMeta(meta), q->meta_version,
      [this, alive = alive_, name = q->name, meta, epoch = t->epoch](const ZkResult& r, int32_t v) {
        if (!*alive) return;
        QueueState* q = Find(name);
        if (q == nullptr || q->role != Role::kCandidate || q->takeover->epoch != epoch) {
          return;
        }
        if (!r.ok()) return AbandonTakeover(q, "opening epoch: " + r.message);
        q->meta = meta;
        q->meta_version = v;
        const uint64_t target = q->takeover->target;
        q->takeover.reset();
        // 6. Only now does this node take writes.
        q->role = Role::kLeader;
        q->epoch = epoch;
        engine_->SetEpoch(name, epoch);
        const queue::QueueManager::ReplicaInfo info = engine_->GetReplicaInfo(name);
        q->queue_id = info.id;
        q->commit = std::max(q->commit, target);
        q->commit_sent = 0;
        for (auto& [node, f] : q->followers) f.synced = !f.syncing && f.sent_end == target;
        counters_.takeovers++;
        Log().info("[queue={}] leader at epoch {} from offset {}", name, epoch, target);
        sink_->Commit(q->queue_id, q->commit);
        AnswerWaiters(q, Status::OK());
      });
}

void Cluster::AbandonTakeover(QueueState* q, const std::string& why) {
  Log().warn("[queue={}] takeover abandoned: {}", q->name, why);
  counters_.takeover_failures++;
  q->takeover.reset();
  q->followers.clear();
  q->role = Role::kNone;
  static thread_local std::mt19937 rng{std::random_device{}()};
  q->next_election_ms = Now() + 200 + static_cast<int64_t>(rng() % 400);
  if (q->leader == node_id_) {
    q->leader = -1;
    zk_->Delete(LeaderPath(q), -1, [](const ZkResult&) {});
  }
}

void Cluster::StepDown(QueueState* q, const std::string& why) {
  const bool was_leader = q->role == Role::kLeader;
  if (q->role == Role::kCandidate) return AbandonTakeover(q, why);
  q->role = Role::kNone;
  q->followers.clear();
  q->recent.clear();
  q->recent_bytes = 0;
  if (!was_leader) return;
  counters_.step_downs++;
  Log().warn("[queue={}] no longer leader (epoch {}): {}", q->name, q->epoch, why);
  engine_->FailPendingPuts(
      q->name, INT64_MAX,
      Status::Timeout("unknown: node " + std::to_string(node_id_) + " lost the leadership of " +
                      q->name + " before the put reached its quorum (" + why +
                      "); it may or may not be stored: retry with its key"));
  if (q->leader == node_id_) {
    q->leader = -1;
    if (zk_ && zk_->connected()) zk_->Delete(LeaderPath(q), -1, [](const ZkResult&) {});
  }
}

// --- Streaming --------------------------------------------------------------------------------

void Cluster::StartSync(QueueState* q, FollowerState* f) {
  f->syncing = true;
  f->synced = false;
  replica::FenceRequest req;
  req.queue = q->name;
  req.incarnation = static_cast<int64_t>(q->meta.incarnation);
  req.epoch = static_cast<int64_t>(q->epoch);
  req.leader = node_id_;
  req.segments = ToWire(q->meta.segments);
  req.replicas = static_cast<int32_t>(q->meta.replicas.size());
  req.ack_quorum = static_cast<int32_t>(q->meta.ack_quorum);
  auto frame = std::make_shared<const std::string>(EncodeCall("fence", 0, req));
  Link(f->node)->Call(frame, [this, alive = alive_, name = q->name, epoch = q->epoch,
                              node = f->node](const Status& st, std::string_view reply_frame) {
    if (!*alive) return;
    QueueState* q = Find(name);
    if (q == nullptr || q->role != Role::kLeader || q->epoch != epoch) return;
    auto it = q->followers.find(node);
    if (it == q->followers.end()) return;
    FollowerState* f = &it->second;
    f->syncing = false;
    replica::FenceReply reply;
    Status s = st.ok() ? DecodeReply(reply_frame, &reply) : st;
    if (!s.ok()) {
      // Retried every tick while it is down: said once.
      if (!f->unreachable)
        Log().info("[queue={}] node {} does not follow: {}", name, node, s.ToString());
      f->unreachable = true;
      return;
    }
    if (reply.error == replica::ReplicaError::FENCED) {
      return StepDown(q, fmt::format("node {} is fenced at epoch {}", node, reply.fenced_epoch));
    }
    if (reply.error != replica::ReplicaError::OK) {
      Log().warn("[queue={}] node {} refused to follow: {}", name, node, reply.message);
      return;
    }
    f->sent_end = static_cast<uint64_t>(reply.log_end);
    f->durable_end = static_cast<uint64_t>(reply.durable_end);
    Log().info("[queue={}] node {} follows from offset {}", name, node, f->sent_end);
    f->unreachable = false;
    CatchUp(q, f);
    Recompute(q);
  });
}

void Cluster::CatchUp(QueueState* q, FollowerState* f) {
  const queue::QueueManager::ReplicaInfo info = engine_->GetReplicaInfo(q->name);
  // Batches handed to storage recently are in `recent` (a leader's only); older ones are read
  // from the log.
  if (!q->recent.empty() && q->recent.front()->base_offset() <= f->sent_end &&
      f->sent_end <= q->recent.back()->end_offset()) {
    std::vector<storage::BatchPtr> batches;
    for (const storage::BatchPtr& b : q->recent) {
      if (b->base_offset() >= f->sent_end) batches.push_back(b);
    }
    if (!batches.empty() && batches.front()->base_offset() == f->sent_end) {
      SendAppend(q, f, std::move(batches));
    }
    f->synced = f->sent_end == q->recent.back()->end_offset();
    return;
  }
  if (f->sent_end >= info.next_offset) {
    f->synced = q->role == Role::kLeader;
    return;
  }
  f->syncing = true;
  engine_->ReadLog(
      q->name, f->sent_end, kCatchUpBytes,
      [this, alive = alive_, name = q->name, epoch = q->epoch,
       node = f->node](Result<std::vector<storage::BatchPtr>> read) {
        if (!*alive) return;
        QueueState* q = Find(name);
        if (q == nullptr || q->epoch != epoch ||
            (q->role != Role::kLeader && q->role != Role::kCandidate)) {
          return;
        }
        auto it = q->followers.find(node);
        if (it == q->followers.end()) return;
        FollowerState* f = &it->second;
        f->syncing = false;
        if (!read.ok()) {
          Log().warn("[queue={}] reading the log for node {}: {}", name, node,
                     read.status().ToString());
          return;
        }
        std::vector<storage::BatchPtr> batches;
        for (storage::BatchPtr& b : *read) {
          if (b->end_offset() <= f->sent_end) continue;
          if (b->base_offset() != (batches.empty() ? f->sent_end : batches.back()->end_offset())) {
            break;
          }
          batches.push_back(std::move(b));
        }
        if (batches.empty()) {
          // Not in the log yet: handed to storage but not written. Look again shortly.
          f->syncing = true;
          After(5, [this, name, epoch, node] {
            QueueState* q = Find(name);
            if (q == nullptr || q->epoch != epoch) return;
            auto it = q->followers.find(node);
            if (it == q->followers.end()) return;
            it->second.syncing = false;
            CatchUp(q, &it->second);
          });
          return;
        }
        SendAppend(q, f, std::move(batches));
        CatchUp(q, f);
      });
}

void Cluster::SendAppend(QueueState* q, FollowerState* f, std::vector<storage::BatchPtr> batches) {
  replica::AppendRequest req;
  req.queue = q->name;
  req.incarnation = static_cast<int64_t>(q->meta.incarnation);
  req.epoch = static_cast<int64_t>(q->epoch);
  req.commit_end = static_cast<int64_t>(q->commit);
  for (const storage::BatchPtr& b : batches) req.batches.push_back(b->bytes());
  f->sent_end = batches.back()->end_offset();
  auto frame = std::make_shared<const std::string>(EncodeCall("append", 0, req));
  counters_.appends_sent++;
  Link(f->node)->Call(frame, [this, alive = alive_, name = q->name, epoch = q->epoch,
                              node = f->node](const Status& st, std::string_view reply) {
    if (*alive) OnAppendReply(name, epoch, node, st, reply);
  });
}

void Cluster::OnAppend(const queue::QueueRef& ref, const storage::BatchPtr& batch) {
  if ((batch->flags() & storage::kBatchFlagCursor) != 0) return;
  QueueState* q = Find(ref.name);
  if (q == nullptr || q->role != Role::kLeader) return;
  q->queue_id = ref.id;
  q->recent.push_back(batch);
  q->recent_bytes += batch->size_bytes();
  while (q->recent.size() > 1 && q->recent_bytes > kRecentBytes) {
    q->recent_bytes -= q->recent.front()->size_bytes();
    q->recent.pop_front();
  }
  // One encoding for every follower that is streaming.
  std::shared_ptr<const std::string> frame;
  for (auto& [node, f] : q->followers) {
    if (f.syncing) continue;
    if (!f.synced || f.sent_end != batch->base_offset()) {
      f.synced = false;
      continue;
    }
    if (!frame) {
      replica::AppendRequest req;
      req.queue = q->name;
      req.incarnation = static_cast<int64_t>(q->meta.incarnation);
      req.epoch = static_cast<int64_t>(q->epoch);
      req.commit_end = static_cast<int64_t>(q->commit);
      req.batches.push_back(batch->bytes());
      frame = std::make_shared<const std::string>(EncodeCall("append", 0, req));
      q->commit_sent = q->commit;
    }
    f.sent_end = batch->end_offset();
    counters_.appends_sent++;
    Link(node)->Call(frame, [this, alive = alive_, name = q->name, epoch = q->epoch, node = node](
                                const Status& st, std::string_view reply) {
      if (*alive) OnAppendReply(name, epoch, node, st, reply);
    });
  }
}

void Cluster::OnAppendReply(const std::string& name, uint64_t epoch, int node, const Status& st,
                            std::string_view frame) {
  QueueState* q = Find(name);
  if (q == nullptr || q->epoch != epoch ||
      (q->role != Role::kLeader && q->role != Role::kCandidate)) {
    return;
  }
  auto it = q->followers.find(node);
  if (it == q->followers.end()) return;
  FollowerState* f = &it->second;
  replica::AppendReply reply;
  Status s = st.ok() ? DecodeReply(frame, &reply) : st;
  if (!s.ok()) {
    Log().debug("[queue={}] append to node {} failed: {}", name, node, s.ToString());
    f->synced = false;
    return;
  }
  if (reply.error == replica::ReplicaError::OK) {
    f->durable_end = std::max(f->durable_end, static_cast<uint64_t>(reply.durable_end));
    Recompute(q);
    return;
  }
  if (reply.error == replica::ReplicaError::FENCED) {
    return StepDown(q, fmt::format("node {} is fenced at epoch {}", node, reply.fenced_epoch));
  }
  f->synced = false;
  Log().debug("[queue={}] node {} refused an append ({}): {}", name, node,
              static_cast<int>(reply.error), reply.message);
  if (reply.error != replica::ReplicaError::GAP) {
    Log().warn("[queue={}] node {} refused an append: {}", name, node, reply.message);
  }
}

void Cluster::OnDurable(const queue::QueueRef& ref, uint64_t durable_end) {
  QueueState* q = Find(ref.name);
  if (q == nullptr) return;
  q->queue_id = ref.id;
  if (q->role == Role::kLeader || q->role == Role::kCandidate) {
    q->local_durable = durable_end;
    Recompute(q);
  } else {
    FollowerDurable(q, durable_end);
  }
}

void Cluster::Recompute(QueueState* q) {
  std::vector<uint64_t> ends{q->local_durable};
  for (int node : q->meta.replicas) {
    if (node == node_id_) continue;
    auto it = q->followers.find(node);
    ends.push_back(it == q->followers.end() ? 0 : it->second.durable_end);
  }
  const uint64_t quorum = QuorumEnd(ends, q->meta.ack_quorum);
  if (q->role == Role::kCandidate) {
    if (q->takeover && q->takeover->waiting_quorum && quorum >= q->takeover->target) {
      OpenEpoch(q);
    }
    return;
  }
  if (q->role == Role::kLeader) {
    q->commit = std::max(q->commit, quorum);
    // The quorum may be the followers without this node: the engine delivers no further than
    // its own durable end, so the commit is offered again as that end moves.
    sink_->Commit(q->queue_id, q->commit);
  }
  // Batches every follower has durable are not needed for catching up any more.
  uint64_t slowest = q->commit;
  for (const auto& [node, f] : q->followers) slowest = std::min(slowest, f.durable_end);
  while (q->recent.size() > 1 && q->recent.front()->end_offset() <= slowest) {
    q->recent_bytes -= q->recent.front()->size_bytes();
    q->recent.pop_front();
  }
}

void Cluster::SendHeartbeats() {
  std::map<int, replica::HeartbeatRequest> out;
  for (auto& [name, q] : queues_) {
    if (q->role != Role::kLeader || q->commit <= q->commit_sent) continue;
    replica::QueueCommit c;
    c.queue = name;
    c.incarnation = static_cast<int64_t>(q->meta.incarnation);
    c.epoch = static_cast<int64_t>(q->epoch);
    c.commit_end = static_cast<int64_t>(q->commit);
    for (const auto& [node, f] : q->followers) {
      if (f.synced) out[node].commits.push_back(c);
    }
    q->commit_sent = q->commit;
  }
  for (auto& [node, req] : out) {
    req.leader = node_id_;
    Link(node)->Call(std::make_shared<const std::string>(EncodeCall("heartbeat", 0, req)),
                     [](const Status&, std::string_view) {});
  }
}

void Cluster::ExpirePuts(QueueState* q) {
  const int64_t oldest = engine_->OldestPendingPut(q->name);
  if (oldest == 0 || Now() - oldest < options_.append_timeout_ms) return;
  counters_.unknown_puts++;
  engine_->FailPendingPuts(
      q->name, Now() - options_.append_timeout_ms,
      Status::Timeout(fmt::format("unknown: the put did not reach {} replicas of {} within {} ms; "
                                  "it may or may not be stored: retry with its key",
                                  q->meta.ack_quorum, q->name, options_.append_timeout_ms)));
}

}  // namespace saker::replication

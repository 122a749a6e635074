// Cluster, the replica service: what this node does when another node's leader (or a
// candidate) calls it: fence, append, fetch, truncate, heartbeat (PROTOCOL.md "Replica rules").
#include <fmt/format.h>

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

template <class R>
R Refusal(replica::ReplicaError::type error, std::string message) {
  R r;
  r.error = error;
  r.message = std::move(message);
  return r;
}

}  // namespace

void Cluster::HandleCall(const MessageHead& head, std::string_view frame,
                         std::function<void(std::string)> reply) {
  if (head.name == "append") return HandleAppend(frame, head.seqid, std::move(reply));
  if (head.name == "heartbeat") return HandleHeartbeat(frame, head.seqid, std::move(reply));
  if (head.name == "fence") return HandleFence(frame, head.seqid, std::move(reply));
  if (head.name == "fetch") return HandleFetch(frame, head.seqid, std::move(reply));
  if (head.name == "truncate") return HandleTruncate(frame, head.seqid, std::move(reply));
  // Not ours to answer: a caller that cannot be understood is cut off (ReplicaSession closes
  // on an empty reply).
  Log().warn("unknown replication call {}", head.name);
  reply({});
}

void Cluster::HandleFence(std::string_view frame, int32_t seqid,
                          std::function<void(std::string)> reply) {
  replica::FenceRequest req;
  if (Status st = DecodeCall(frame, &req); !st.ok()) {
    return reply(EncodeReply(
        "fence", seqid,
        Refusal<replica::FenceReply>(replica::ReplicaError::BAD_REQUEST, st.ToString())));
  }
  std::vector<SegmentInfo> segments;
  for (const replica::Segment& s : req.segments) {
    segments.push_back({static_cast<uint64_t>(s.epoch), static_cast<uint64_t>(s.start), s.leader});
  }
  FenceWith(req.queue, static_cast<uint64_t>(req.incarnation), static_cast<uint64_t>(req.epoch),
            req.leader, std::move(segments), seqid, std::move(reply));
}

void Cluster::FenceWith(const std::string& name, uint64_t incarnation, uint64_t epoch, int leader,
                        std::vector<SegmentInfo> segments, int32_t seqid,
                        std::function<void(std::string)> reply) {
  counters_.fences_received++;
  auto refuse = [&](replica::ReplicaError::type e, std::string msg, uint64_t fence = 0) {
    auto r = Refusal<replica::FenceReply>(e, std::move(msg));
    r.fenced_epoch = static_cast<int64_t>(fence);
    reply(EncodeReply("fence", seqid, r));
  };
  if (!queue::IsValidName(name) || incarnation == 0 || epoch == 0) {
    return refuse(replica::ReplicaError::BAD_REQUEST, "bad queue, incarnation or epoch");
  }
  queue::QueueManager::ReplicaInfo info = engine_->GetReplicaInfo(name);
  if (!info.exists) {
    if (Status st = engine_->EnsureQueue(name, incarnation); !st.ok()) {
      return refuse(replica::ReplicaError::FAILED, st.ToString());
    }
    info = engine_->GetReplicaInfo(name);
  }
  if (info.incarnation != incarnation) {
    return refuse(replica::ReplicaError::INCARNATION,
                  fmt::format("queue {} here is incarnation {:016x}", name, info.incarnation));
  }
  if (info.failed) return refuse(replica::ReplicaError::FAILED, "queue " + name + " is stopped");
  const uint64_t fence = fences_.Get(name, incarnation);
  if (epoch < fence) {
    counters_.fenced_rejections++;
    return refuse(replica::ReplicaError::FENCED,
                  fmt::format("queue {} is fenced at epoch {}", name, fence), fence);
  }
  QueueState* q = State(name);
  if (leader != node_id_ && (q->role == Role::kLeader || q->role == Role::kCandidate)) {
    StepDown(q, fmt::format("fenced by node {} at epoch {}", leader, epoch));
  }
  if (leader != node_id_) {
    q->role = Role::kFollower;
    q->leader = leader;
  }
  if (!q->meta_known && !q->looking_up) Lookup(q);
  // The truncation rule: what lies beyond the sealed end of this copy's last epoch was never
  // acknowledged; it goes before the answer.
  const uint64_t cut = CutPoint(segments, info.epoch);
  auto answer = [this, alive = alive_, name, incarnation, epoch, seqid, reply]() {
    fences_.Raise(name, incarnation, epoch, [this, alive, name, epoch, seqid, reply](Status st) {
      if (!*alive) return;
      if (!st.ok()) {
        reply(EncodeReply(
            "fence", seqid,
            Refusal<replica::FenceReply>(replica::ReplicaError::FAILED, st.ToString())));
        return;
      }
      const queue::QueueManager::ReplicaInfo info = engine_->GetReplicaInfo(name);
      replica::FenceReply r;
      r.error = replica::ReplicaError::OK;
      r.fenced_epoch = static_cast<int64_t>(epoch);
      r.last_epoch = static_cast<int64_t>(info.epoch);
      r.log_end = static_cast<int64_t>(info.next_offset);
      r.durable_end = static_cast<int64_t>(info.durable_end);
      reply(EncodeReply("fence", seqid, r));
    });
  };
  if (cut >= info.next_offset) return answer();
  Log().info("[queue={}] cutting offsets from {} (beyond epoch {}'s sealed end) at fence {}", name,
             cut, info.epoch, epoch);
  engine_->Truncate(name, cut,
                    [this, alive = alive_, name, incarnation, epoch, leader, segments, seqid, reply,
                     answer](Status st) {
                      if (!*alive) return;
                      if (st.code() == StatusCode::kBusy) {
                        // Appends not yet handed to storage: try again once the loop has turned.
                        After(5, [this, name, incarnation, epoch, leader, segments, seqid, reply] {
                          FenceWith(name, incarnation, epoch, leader, segments, seqid, reply);
                        });
                        return;
                      }
                      if (!st.ok()) {
                        reply(EncodeReply("fence", seqid,
                                          Refusal<replica::FenceReply>(
                                              replica::ReplicaError::FAILED, st.ToString())));
                        return;
                      }
                      answer();
                    });
}

void Cluster::HandleAppend(std::string_view frame, int32_t seqid,
                           std::function<void(std::string)> reply) {
  counters_.appends_received++;
  replica::AppendRequest req;
  auto refuse = [&](replica::ReplicaError::type e, std::string msg, uint64_t end = 0,
                    uint64_t fence = 0) {
    auto r = Refusal<replica::AppendReply>(e, std::move(msg));
    r.log_end = static_cast<int64_t>(end);
    r.fenced_epoch = static_cast<int64_t>(fence);
    reply(EncodeReply("append", seqid, r));
  };
  if (Status st = DecodeCall(frame, &req); !st.ok()) {
    return refuse(replica::ReplicaError::BAD_REQUEST, st.ToString());
  }
  const uint64_t incarnation = static_cast<uint64_t>(req.incarnation);
  const uint64_t epoch = static_cast<uint64_t>(req.epoch);
  const queue::QueueManager::ReplicaInfo info = engine_->GetReplicaInfo(req.queue);
  if (!info.exists) return refuse(replica::ReplicaError::NO_QUEUE, "no queue " + req.queue);
  if (info.incarnation != incarnation) {
    return refuse(replica::ReplicaError::INCARNATION, "another incarnation of " + req.queue);
  }
  if (info.failed) return refuse(replica::ReplicaError::FAILED, "queue " + req.queue + " stopped");
  const uint64_t fence = fences_.Get(req.queue, incarnation);
  if (epoch < fence) {
    counters_.fenced_rejections++;
    return refuse(replica::ReplicaError::FENCED, fmt::format("fenced at epoch {}", fence),
                  info.next_offset, fence);
  }
  if (epoch > fence) {
    return refuse(replica::ReplicaError::GAP, fmt::format("not fenced at epoch {}", epoch),
                  info.next_offset, fence);
  }
  std::vector<storage::BatchPtr> batches;
  uint64_t next = info.next_offset;
  for (std::string& bytes : req.batches) {
    Result<storage::BatchPtr> b = storage::Batch::Parse(std::move(bytes));
    if (!b.ok()) return refuse(replica::ReplicaError::BAD_REQUEST, b.status().ToString());
    if ((*b)->base_offset() != next) {
      return refuse(
          replica::ReplicaError::GAP,
          fmt::format("batch at {} does not start at the end {}", (*b)->base_offset(), next),
          info.next_offset);
    }
    next = (*b)->end_offset();
    batches.push_back(std::move(*b));
  }
  QueueState* q = State(req.queue);
  if (q->role != Role::kLeader && q->role != Role::kCandidate) q->role = Role::kFollower;
  q->queue_id = info.id;
  for (storage::BatchPtr& b : batches) engine_->AppendBatch(req.queue, std::move(b), [](Status) {});
  q->leader_commit = std::max(q->leader_commit, static_cast<uint64_t>(req.commit_end));
  q->append_waits.push_back({next, seqid, std::move(reply)});
  FollowerDurable(q, engine_->GetReplicaInfo(req.queue).durable_end);
}

void Cluster::FollowerDurable(QueueState* q, uint64_t durable_end) {
  while (!q->append_waits.empty() && q->append_waits.front().end <= durable_end) {
    AppendWait w = std::move(q->append_waits.front());
    q->append_waits.pop_front();
    replica::AppendReply r;
    r.error = replica::ReplicaError::OK;
    r.log_end = static_cast<int64_t>(engine_->GetReplicaInfo(q->name).next_offset);
    r.durable_end = static_cast<int64_t>(durable_end);
    w.reply(EncodeReply("append", w.seqid, r));
  }
  FollowerCommit(q);
}

void Cluster::FollowerCommit(QueueState* q) {
  if (q->queue_id != 0 && q->leader_commit > 0) sink_->Commit(q->queue_id, q->leader_commit);
}

void Cluster::HandleFetch(std::string_view frame, int32_t seqid,
                          std::function<void(std::string)> reply) {
  replica::FetchRequest req;
  if (Status st = DecodeCall(frame, &req); !st.ok()) {
    return reply(EncodeReply(
        "fetch", seqid,
        Refusal<replica::FetchReply>(replica::ReplicaError::BAD_REQUEST, st.ToString())));
  }
  const queue::QueueManager::ReplicaInfo info = engine_->GetReplicaInfo(req.queue);
  if (!info.exists || info.incarnation != static_cast<uint64_t>(req.incarnation)) {
    return reply(EncodeReply(
        "fetch", seqid,
        Refusal<replica::FetchReply>(replica::ReplicaError::NO_QUEUE, "no such queue here")));
  }
  const uint64_t from = static_cast<uint64_t>(req.from_offset);
  const size_t max_bytes = static_cast<size_t>(std::clamp(req.max_bytes, 1, 16 << 20));
  engine_->ReadLog(req.queue, from, max_bytes,
                   [this, alive = alive_, name = req.queue, from, seqid,
                    reply](Result<std::vector<storage::BatchPtr>> read) {
                     if (!*alive) return;
                     replica::FetchReply r;
                     if (!read.ok()) {
                       r.error = replica::ReplicaError::FAILED;
                       r.message = read.status().ToString();
                     } else {
                       r.error = replica::ReplicaError::OK;
                       for (const storage::BatchPtr& b : *read) {
                         if (b->base_offset() >= from) r.batches.push_back(b->bytes());
                       }
                     }
                     r.log_end = static_cast<int64_t>(engine_->GetReplicaInfo(name).next_offset);
                     reply(EncodeReply("fetch", seqid, r));
                   });
}

void Cluster::HandleTruncate(std::string_view frame, int32_t seqid,
                             std::function<void(std::string)> reply) {
  replica::TruncateRequest req;
  if (Status st = DecodeCall(frame, &req); !st.ok()) {
    return reply(EncodeReply(
        "truncate", seqid,
        Refusal<replica::TruncateReply>(replica::ReplicaError::BAD_REQUEST, st.ToString())));
  }
  const uint64_t fence = fences_.Get(req.queue, static_cast<uint64_t>(req.incarnation));
  if (static_cast<uint64_t>(req.epoch) < fence || fence == 0) {
    counters_.fenced_rejections++;
    auto r = Refusal<replica::TruncateReply>(replica::ReplicaError::FENCED,
                                             fmt::format("fenced at epoch {}", fence));
    return reply(EncodeReply("truncate", seqid, r));
  }
  engine_->Truncate(req.queue, static_cast<uint64_t>(req.offset),
                    [this, alive = alive_, name = req.queue, seqid, reply](Status st) {
                      if (!*alive) return;
                      replica::TruncateReply r;
                      r.error = st.ok() ? replica::ReplicaError::OK : replica::ReplicaError::FAILED;
                      r.message = st.ok() ? "" : st.ToString();
                      r.log_end = static_cast<int64_t>(engine_->GetReplicaInfo(name).next_offset);
                      reply(EncodeReply("truncate", seqid, r));
                    });
}

void Cluster::HandleHeartbeat(std::string_view frame, int32_t seqid,
                              std::function<void(std::string)> reply) {
  replica::HeartbeatRequest req;
  if (Status st = DecodeCall(frame, &req); st.ok()) {
    for (const replica::QueueCommit& c : req.commits) {
      QueueState* q = Find(c.queue);
      if (q == nullptr || q->role == Role::kLeader) continue;
      const uint64_t inc = static_cast<uint64_t>(c.incarnation);
      if (static_cast<uint64_t>(c.epoch) < fences_.Get(c.queue, inc)) continue;
      q->leader_commit = std::max(q->leader_commit, static_cast<uint64_t>(c.commit_end));
      FollowerCommit(q);
    }
  }
  replica::HeartbeatReply r;
  r.node = node_id_;
  reply(EncodeReply("heartbeat", seqid, r));
}

}  // namespace saker::replication

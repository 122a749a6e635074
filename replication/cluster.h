// Cluster: this node's part in the replicated log (replication/PROTOCOL.md). It is the queue
// engine's Replicator in a cluster: it admits client operations only on the queues this node
// leads, streams the batches it appends to their followers and moves commit_end to what the
// ack quorum has durable. It is also the replica service behind the replication listener:
// fence, append, fetch, truncate and heartbeat from other nodes' leaders.
//
// Files: cluster.cc (ZooKeeper: membership, queue metadata, leader election, admission),
// leader.cc (takeover, streaming to followers, the commit offset), follower.cc (the replica
// service).
//
// Loop thread only. ZooKeeper callbacks arrive on the loop (ZkSession).
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "replication/fence_store.h"
#include "replication/options.h"
#include "replication/peer_link.h"
#include "replication/queue_meta.h"
#include "replication/replica_session.h"
#include "replication/zk_session.h"
#include "server/admin/cluster_view.h"
#include "server/common/event_loop.h"
#include "server/queue/queue_manager.h"
#include "server/queue/replicator.h"
#include "server/storage/cursor_op.h"

namespace saker::replication {

class Cluster final : public queue::Replicator, public ReplicaService {
 public:
  // `self` is where this node is reached (its host and bound ports, filled before Start).
  Cluster(EventLoop* loop, ClusterOptions options, int node_id, std::string data_dir);
  ~Cluster() override;

  // Reads the fences (blocking). Before the engine opens.
  Status Load();
  // Connects to ZooKeeper and registers this node; `engine` serves the local replicas.
  // `joined` runs once, on the loop, when the registration first succeeds.
  Status Start(queue::QueueManager* engine, NodeInfo self, std::function<void()> joined);
  void Shutdown();

  // queue::Replicator
  void Attach(queue::CommitSink* sink) override { sink_ = sink; }
  Status Admit(std::string_view queue) override;
  void WhenAdmitted(std::string_view queue, std::function<void(Status)> ready) override;
  // Refused: a replicated queue's deletion must reach every replica (issue #13).
  Status CanDelete(std::string_view queue) override;
  void OnAppend(const queue::QueueRef& queue, const storage::BatchPtr& batch) override;
  void OnDurable(const queue::QueueRef& queue, uint64_t durable_end) override;

  // ReplicaService
  void HandleCall(const MessageHead& head, std::string_view frame,
                  std::function<void(std::string)> reply) override;

  int node_id() const { return node_id_; }
  // Nodes, queues known here with their leaders and followers' lag, counters.
  admin::ClusterView View() const;

 private:
  struct FollowerState {
    int node = 0;
    bool synced = false;       // fenced in this epoch; live batches go to it as they come
    bool syncing = false;      // a fence or catch-up read is in flight
    bool unreachable = false;  // its last fence failed (logged once)
    uint64_t sent_end = 0;
    uint64_t durable_end = 0;
  };
  // A takeover in progress (leader.cc).
  struct Takeover {
    uint64_t epoch = 0;
    struct Answer {
      uint64_t last_epoch = 0;
      uint64_t log_end = 0;
      uint64_t durable_end = 0;
    };
    std::map<int, Answer> fenced;
    size_t answered = 0;
    int64_t covered_ms = 0;  // when fence coverage was reached
    bool recovering = false;
    bool waiting_quorum = false;
    uint64_t target = 0;  // the recovered end: the new epoch starts here
  };
  // A follower's append reply, sent once the appended batches are durable here.
  struct AppendWait {
    uint64_t end = 0;
    int32_t seqid = 0;
    std::function<void(std::string)> reply;
  };
  enum class Role { kNone, kCandidate, kLeader, kFollower };
  struct QueueState {
    std::string name;
    bool meta_known = false;
    QueueMeta meta;
    int32_t meta_version = -1;
    bool looking_up = false;
    bool watching_leader = false;
    int leader = -1;  // node id in the leader znode
    Role role = Role::kNone;
    uint64_t queue_id = 0;
    // Leader.
    uint64_t epoch = 0;
    uint64_t local_durable = 0;
    uint64_t commit = 0;
    uint64_t commit_sent = 0;  // the commit followers last heard
    std::map<int, FollowerState> followers;
    std::deque<storage::BatchPtr> recent;  // batches appended since the followers' oldest ack
    uint64_t recent_bytes = 0;
    std::unique_ptr<Takeover> takeover;
    int64_t next_election_ms = 0;
    // Client operations waiting for a leader.
    std::vector<std::function<void(Status)>> admit_waiters;
    int64_t admit_since_ms = 0;
    // Follower.
    uint64_t leader_commit = 0;
    std::deque<AppendWait> append_waits;
  };

  // cluster.cc
  QueueState* State(std::string_view name);
  QueueState* Find(std::string_view name);
  const QueueState* Find(std::string_view name) const;
  void OnZkState(ZkState state, int64_t session_id);
  void Register();
  void WatchNodes();
  void LoadNode(const std::string& child);
  void Lookup(QueueState* q);
  void CreateQueue(QueueState* q);
  void OnMeta(QueueState* q, const QueueMeta& meta, int32_t version);
  void WatchLeader(QueueState* q);
  void TryElect(QueueState* q);
  void AnswerWaiters(QueueState* q, const Status& st);
  Status NotLeaderStatus(const QueueState* q) const;
  void Tick();
  PeerLink* Link(int node);
  std::string LeaderPath(const QueueState* q) const { return "/queues/" + q->name + "/leader"; }
  std::string QueuePath(const QueueState* q) const { return "/queues/" + q->name; }
  int64_t Now() const;

  // leader.cc
  void StartTakeover(QueueState* q);
  void FenceAll(QueueState* q);
  void RecoverTail(QueueState* q);
  void FetchTail(QueueState* q, int from_node, uint64_t end);
  void WaitTailQuorum(QueueState* q);
  void OpenEpoch(QueueState* q);
  void AbandonTakeover(QueueState* q, const std::string& why);
  void StepDown(QueueState* q, const std::string& why);
  void StartSync(QueueState* q, FollowerState* f);
  void CatchUp(QueueState* q, FollowerState* f);
  void SendAppend(QueueState* q, FollowerState* f, std::vector<storage::BatchPtr> batches);
  void OnAppendReply(const std::string& name, uint64_t epoch, int node, const Status& st,
                     std::string_view frame);
  void Recompute(QueueState* q);
  void SendHeartbeats();
  void ExpirePuts(QueueState* q);

  // follower.cc
  void HandleFence(std::string_view frame, int32_t seqid, std::function<void(std::string)> reply);
  void FenceWith(const std::string& name, uint64_t incarnation, uint64_t epoch, int leader,
                 std::vector<SegmentInfo> segments, int32_t seqid,
                 std::function<void(std::string)> reply);
  void HandleAppend(std::string_view frame, int32_t seqid, std::function<void(std::string)> reply);
  void HandleFetch(std::string_view frame, int32_t seqid, std::function<void(std::string)> reply);
  void HandleTruncate(std::string_view frame, int32_t seqid,
                      std::function<void(std::string)> reply);
  void HandleHeartbeat(std::string_view frame, int32_t seqid,
                       std::function<void(std::string)> reply);
  void FollowerDurable(QueueState* q, uint64_t durable_end);
  void FollowerCommit(QueueState* q);
  void After(int64_t ms, std::function<void()> fn);

  EventLoop* loop_;
  ClusterOptions options_;
  int node_id_;
  std::string data_dir_;
  FenceStore fences_;
  queue::QueueManager* engine_ = nullptr;
  queue::CommitSink* sink_ = nullptr;
  std::unique_ptr<ZkSession> zk_;
  NodeInfo self_;
  bool registered_ = false;
  std::function<void()> joined_;
  std::map<int, NodeInfo> nodes_;  // live nodes, from /nodes
  std::map<int, std::unique_ptr<PeerLink>> links_;
  std::map<std::string, std::unique_ptr<QueueState>, std::less<>> queues_;
  admin::ClusterCounters counters_;
  uv_timer_t* timer_ = nullptr;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool shut_down_ = false;
};

}  // namespace saker::replication

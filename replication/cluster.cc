// Cluster: ZooKeeper membership, queue metadata, leader election and admission of client
// operations (see cluster.h; PROTOCOL.md "ZooKeeper layout" and "Leadership").
#include "replication/cluster.h"

#include <fmt/format.h>

#include <random>
#include <utility>

#include "server/common/clock.h"
#include "server/common/logging.h"
#include "server/storage/queue_identity.h"

namespace saker::replication {
namespace {

spdlog::logger& Log() {
  static auto& log = logging::Get("replication");
  return log;
}

// The leader znode's data: who leads, in which ZooKeeper session (a node restarted within its
// old session's timeout must not take its old ephemeral for its own).
std::string LeaderData(int node, int64_t session) {
  return fmt::format("node={}\nsession={:x}\n", node, session);
}

bool ParseLeader(const std::string& data, int* node, int64_t* session) {
  return std::sscanf(data.c_str(), "node=%d\nsession=%lx", node, session) == 2;
}

}  // namespace

Cluster::Cluster(EventLoop* loop, ClusterOptions options, int node_id, std::string data_dir)
    : loop_(loop),
      options_(std::move(options)),
      node_id_(node_id),
      data_dir_(std::move(data_dir)),
      fences_(loop, data_dir_ + "/replication") {}

Cluster::~Cluster() { Shutdown(); }

Status Cluster::Load() { return fences_.Load(); }

// The engine's clock: FailPendingPuts compares with the times it stamps puts with.
int64_t Cluster::Now() const { return SystemClock::Get()->NowMonoMs(); }

Status Cluster::Start(queue::QueueManager* engine, NodeInfo self, std::function<void()> joined) {
  engine_ = engine;
  joined_ = std::move(joined);
  self_ = std::move(self);
  self_.id = node_id_;
  ZkOptions zo;
  zo.hosts = options_.zookeeper;
  zo.session_timeout_ms = static_cast<int>(options_.session_timeout_ms);
  zk_ = std::make_unique<ZkSession>(loop_, zo);
  std::string error;
  if (!zk_->Start([this](ZkState s, int64_t id) { OnZkState(s, id); }, &error)) {
    return Status::InvalidArgument("--zookeeper " + options_.zookeeper + ": " + error);
  }
  timer_ = new uv_timer_t;
  uv_timer_init(loop_->uv(), timer_);
  timer_->data = this;
  const uint64_t every = static_cast<uint64_t>(options_.heartbeat_ms);
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<Cluster*>(t->data)->Tick(); }, every, every);
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  // Every local replica takes part in its queue's elections from the start, so a cluster that
  // restarts whole elects leaders without waiting for a client.
  for (const std::string& name : engine_->ListQueues()) Lookup(State(name));
  return Status::OK();
}

void Cluster::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  *alive_ = false;
  if (timer_ != nullptr) {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
  for (auto& [id, link] : links_) link->Shutdown();
  for (auto& [name, q] : queues_) AnswerWaiters(q.get(), Status::Unavailable("server stopping"));
  zk_.reset();
}

Cluster::QueueState* Cluster::State(std::string_view name) {
  auto it = queues_.find(name);
  if (it != queues_.end()) return it->second.get();
  auto q = std::make_unique<QueueState>();
  q->name = std::string(name);
  QueueState* raw = q.get();
  queues_.emplace(raw->name, std::move(q));
  return raw;
}

Cluster::QueueState* Cluster::Find(std::string_view name) {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

const Cluster::QueueState* Cluster::Find(std::string_view name) const {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

// --- ZooKeeper session and membership ---------------------------------------------------------

void Cluster::OnZkState(ZkState state, int64_t session_id) {
  if (state == ZkState::kConnected) {
    Log().info("ZooKeeper session {:x} connected (timeout {} ms)", session_id,
               zk_->negotiated_timeout_ms());
    Register();
    WatchNodes();
    for (auto& [name, q] : queues_) {
      q->watching_leader = false;
      if (q->meta_known) {
        WatchLeader(q.get());
      } else if (!q->looking_up) {
        Lookup(q.get());
      }
    }
    return;
  }
  if (state == ZkState::kExpired) {
    // The session's ephemerals are gone: every leadership of this node may already be another's.
    Log().warn("ZooKeeper session expired: stepping down from every queue");
    registered_ = false;
    for (auto& [name, q] : queues_) {
      if (q->role == Role::kLeader || q->role == Role::kCandidate) {
        StepDown(q.get(), "ZooKeeper session expired");
      }
      q->watching_leader = false;
    }
    return;
  }
  Log().warn("ZooKeeper connection lost; reconnecting");
}

void Cluster::Register() {
  zk_->Create(
      "/nodes/" + std::to_string(node_id_), EncodeNodeInfo(self_), ZkSession::Mode::kEphemeral,
      [this, alive = alive_](const ZkResult& r, const std::string&) {
        if (!*alive) return;
        if (r.ok()) {
          registered_ = true;
          Log().info("registered as node {} ({})", node_id_, self_.host);
          if (joined_) std::exchange(joined_, nullptr)();
        } else if (r.code == ZkCode::kNodeExists) {
          // Our previous session's node, not yet expired: it goes within the session timeout.
          // Another live node with this id never goes: say so once a while.
          static logging::RateLimit limit(std::chrono::seconds(10));
          if (uint64_t skipped; limit.Allow(&skipped)) {
            Log().warn(
                "node id {} is registered by another ZooKeeper session; waiting (a "
                "previous run of this node expires within {} ms, a second node with "
                "the same --node-id never does)",
                node_id_, options_.session_timeout_ms);
          }
          After(500, [this] { Register(); });
        } else {
          Log().warn("registering node {}: {}", node_id_, r.message);
          After(500, [this] { Register(); });
        }
      },
      true);
}

void Cluster::WatchNodes() {
  zk_->Children(
      "/nodes",
      [this, alive = alive_](const ZkResult& r, const std::vector<std::string>& children) {
        if (!*alive) return;
        if (!r.ok()) {
          if (r.code == ZkCode::kNoNode) {
            zk_->Create("/nodes", "", ZkSession::Mode::kPersistent,
                        [this, alive = alive_](const ZkResult&, const std::string&) {
                          if (*alive) WatchNodes();
                        });
          }
          return;
        }
        std::set<int> live;
        for (const std::string& c : children) live.insert(std::atoi(c.c_str()));
        for (auto it = nodes_.begin(); it != nodes_.end();) {
          it = live.count(it->first) ? std::next(it) : nodes_.erase(it);
        }
        for (const std::string& c : children) LoadNode(c);
      },
      [this, alive = alive_](ZkEvent ev, const std::string&) {
        if (*alive && ev != ZkEvent::kSessionLost) WatchNodes();
      });
}

void Cluster::LoadNode(const std::string& child) {
  zk_->Get("/nodes/" + child,
           [this, alive = alive_](const ZkResult& r, const std::string& data, int32_t) {
             if (!*alive || !r.ok()) return;
             Result<NodeInfo> n = DecodeNodeInfo(data);
             if (!n.ok()) {
               Log().warn("bad node data in ZooKeeper: {}", n.status().ToString());
               return;
             }
             nodes_[n->id] = *n;
             if (auto it = links_.find(n->id); it != links_.end()) {
               it->second->SetAddress(n->host, n->replication);
             }
           });
}

PeerLink* Cluster::Link(int node) {
  auto it = links_.find(node);
  if (it == links_.end()) {
    it = links_.emplace(node, std::make_unique<PeerLink>(loop_, node, options_.peer_timeout_ms))
             .first;
  }
  if (auto n = nodes_.find(node); n != nodes_.end()) {
    it->second->SetAddress(n->second.host, n->second.replication);
  }
  return it->second.get();
}

// --- Queue metadata and election --------------------------------------------------------------

void Cluster::Lookup(QueueState* q) {
  if (q->looking_up || !zk_ || !zk_->connected()) return;
  q->looking_up = true;
  zk_->Get(
      QueuePath(q),
      [this, alive = alive_, name = q->name](const ZkResult& r, const std::string& data,
                                             int32_t version) {
        if (!*alive) return;
        QueueState* q = Find(name);
        if (q == nullptr) return;
        q->looking_up = false;
        if (r.code == ZkCode::kNoNode) {
          // A queue the cluster does not know: a client asked for it here, so this node places it.
          if (!q->admit_waiters.empty()) CreateQueue(q);
          return;
        }
        if (!r.ok()) {
          AnswerWaiters(q, Status::Unavailable("ZooKeeper: " + r.message));
          return;
        }
        Result<QueueMeta> meta = DecodeQueueMeta(data);
        if (!meta.ok()) {
          AnswerWaiters(q, meta.status());
          return;
        }
        OnMeta(q, *meta, version);
      },
      [this, alive = alive_, name = q->name](ZkEvent ev, const std::string&) {
        if (!*alive || ev == ZkEvent::kSessionLost) return;
        if (QueueState* q = Find(name); q != nullptr) Lookup(q);
      });
}

void Cluster::CreateQueue(QueueState* q) {
  std::vector<int> live;
  for (const auto& [id, n] : nodes_) live.push_back(id);
  const queue::QueueConfig config = engine_->ConfigFor(q->name);
  QueueMeta meta;
  meta.incarnation = storage::NewIncarnation();
  // Never fewer copies than configured: nothing re-replicates a queue placed on too few nodes.
  if (live.size() < config.replicas) {
    AnswerWaiters(q, Status::Unavailable(fmt::format(
                         "queue {} wants {} replicas and {} live nodes are up (a smaller cluster "
                         "needs a lower `replicas`)",
                         q->name, config.replicas, live.size())));
    return;
  }
  meta.replicas = Place(q->name, node_id_, live, config.replicas);
  meta.ack_quorum = AckQuorum(config.replicas, config.ack_quorum);
  q->looking_up = true;
  zk_->Create(
      QueuePath(q), EncodeQueueMeta(meta), ZkSession::Mode::kPersistent,
      [this, alive = alive_, name = q->name, meta](const ZkResult& r, const std::string&) {
        if (!*alive) return;
        QueueState* q = Find(name);
        if (q == nullptr) return;
        q->looking_up = false;
        if (r.ok()) {
          Log().info("[queue={}] placed on nodes {} (ack quorum {}, incarnation {:016x})", name,
                     fmt::join(meta.replicas, ","), meta.ack_quorum, meta.incarnation);
          OnMeta(q, meta, 0);
        } else if (r.code == ZkCode::kNodeExists) {
          Lookup(q);  // another node placed it first
        } else {
          AnswerWaiters(q, Status::Unavailable("ZooKeeper: " + r.message));
        }
      },
      true);
}

void Cluster::OnMeta(QueueState* q, const QueueMeta& meta, int32_t version) {
  if (q->meta_known && version < q->meta_version) return;
  q->meta = meta;
  q->meta_version = version;
  q->meta_known = true;
  if (meta.HasReplica(node_id_)) {
    Status st = engine_->EnsureQueue(q->name, meta.incarnation);
    if (!st.ok()) {
      Log().error("[queue={}] {}", q->name, st.ToString());
      AnswerWaiters(q, st);
      return;
    }
    // The local copy's id (new if EnsureQueue just made it). Every meta change (each takeover
    // sets it) comes here: a leader's commits go to this id.
    q->queue_id = engine_->GetReplicaInfo(q->name).id;
  }
  if (!q->watching_leader) WatchLeader(q);
}

void Cluster::WatchLeader(QueueState* q) {
  if (!zk_ || !zk_->connected()) return;
  q->watching_leader = true;
  zk_->Get(
      LeaderPath(q),
      [this, alive = alive_, name = q->name](const ZkResult& r, const std::string& data, int32_t) {
        if (!*alive) return;
        QueueState* q = Find(name);
        if (q == nullptr) return;
        if (r.code == ZkCode::kNoNode) {
          q->leader = -1;
          if (q->role == Role::kLeader || q->role == Role::kCandidate) {
            StepDown(q, "its leader node vanished from ZooKeeper");
          }
          // Watch for the next leader whether or not this node stands. If one was created
          // between the read and this watch, the watch never fires for it: read it now (that
          // read watches it) and disarm this watch, so watches do not pile up.
          auto armed = std::make_shared<bool>(true);
          zk_->Exists(
              LeaderPath(q),
              [this, alive = alive_, name, armed](const ZkResult& r, bool exists, int32_t) {
                if (!*alive) return;
                QueueState* q = Find(name);
                if (q == nullptr) return;
                if (!r.ok()) {
                  *armed = false;
                  q->watching_leader = false;  // the next client request watches again
                } else if (exists) {
                  *armed = false;
                  WatchLeader(q);
                }
              },
              [this, alive = alive_, name, armed](ZkEvent ev, const std::string&) {
                if (!*alive || !*armed || ev == ZkEvent::kSessionLost) return;
                if (QueueState* q = Find(name); q != nullptr) WatchLeader(q);
              });
          TryElect(q);
          return;
        }
        if (!r.ok()) {
          q->watching_leader = false;
          return;
        }
        int node = -1;
        int64_t session = 0;
        if (!ParseLeader(data, &node, &session)) return;
        q->leader = node;
        if (node == node_id_ && session != zk_->session_id()) {
          // A previous run's leadership: it ends with that session.
          q->leader = -1;
          return;
        }
        if (node != node_id_) {
          if (q->role == Role::kLeader || q->role == Role::kCandidate) {
            StepDown(q, fmt::format("node {} leads it now", node));
          }
          if (q->role == Role::kNone && q->meta.HasReplica(node_id_)) q->role = Role::kFollower;
          AnswerWaiters(q, NotLeaderStatus(q));
        }
      },
      [this, alive = alive_, name = q->name](ZkEvent ev, const std::string&) {
        if (!*alive || ev == ZkEvent::kSessionLost) return;
        if (QueueState* q = Find(name); q != nullptr) WatchLeader(q);
      });
}

void Cluster::TryElect(QueueState* q) {
  if (!q->meta.HasReplica(node_id_) || q->role == Role::kLeader || q->role == Role::kCandidate) {
    return;
  }
  const queue::QueueManager::ReplicaInfo info = engine_->GetReplicaInfo(q->name);
  if (!info.exists || info.failed) return;  // a damaged copy never stands
  const int64_t now = Now();
  if (now < q->next_election_ms) {
    After(q->next_election_ms - now, [this, name = q->name] {
      if (QueueState* q = Find(name); q != nullptr && q->leader < 0) TryElect(q);
    });
    return;
  }
  zk_->Create(LeaderPath(q), LeaderData(node_id_, zk_->session_id()), ZkSession::Mode::kEphemeral,
              [this, alive = alive_, name = q->name](const ZkResult& r, const std::string&) {
                if (!*alive) return;
                QueueState* q = Find(name);
                if (q == nullptr) return;
                if (r.ok()) {
                  q->leader = node_id_;
                  StartTakeover(q);
                } else if (r.code != ZkCode::kNodeExists) {
                  Log().warn("[queue={}] standing for leader: {}", name, r.message);
                }
              });
}

// --- Admission --------------------------------------------------------------------------------

Status Cluster::NotLeaderStatus(const QueueState* q) const {
  auto it = nodes_.find(q->leader);
  if (it == nodes_.end()) {
    return Status::Unavailable(
        fmt::format("queue {} is led by node {}, which is not reachable now", q->name, q->leader));
  }
  const NodeInfo& n = it->second;
  return Status::NotLeader(
      fmt::format("queue {} is led by node {}: thrift={}:{} memcache={}:{} text={}:{}", q->name,
                  n.id, n.host, n.thrift, n.host, n.memcache, n.host, n.text));
}

Status Cluster::Admit(std::string_view name) {
  QueueState* q = Find(name);
  if (q == nullptr) return Status::Busy("");
  if (q->role == Role::kLeader) return Status::OK();
  if (q->leader >= 0 && q->leader != node_id_) return NotLeaderStatus(q);
  return Status::Busy("");
}

Status Cluster::CanDelete(std::string_view queue) {
  return Status::Unavailable("queue " + std::string(queue) +
                             " is replicated: deleting it or its subscriptions in a cluster is "
                             "not supported yet");
}

void Cluster::WhenAdmitted(std::string_view name, std::function<void(Status)> ready) {
  QueueState* q = State(name);
  if (!zk_ || !zk_->connected()) {
    ready(Status::Unavailable("not connected to ZooKeeper"));
    return;
  }
  if (q->admit_waiters.empty()) q->admit_since_ms = Now();
  q->admit_waiters.push_back(std::move(ready));
  if (!q->meta_known) {
    Lookup(q);
  } else if (!q->watching_leader) {
    WatchLeader(q);
  }
}

void Cluster::AnswerWaiters(QueueState* q, const Status& st) {
  std::vector<std::function<void(Status)>> waiters = std::move(q->admit_waiters);
  q->admit_waiters.clear();
  for (auto& w : waiters) w(st);
}

void Cluster::Tick() {
  const int64_t now = Now();
  for (auto& [name, q] : queues_) {
    if (!q->admit_waiters.empty() && now - q->admit_since_ms >= options_.append_timeout_ms) {
      AnswerWaiters(q.get(), Status::Unavailable("queue " + name + " has no leader yet"));
    }
    if (q->role == Role::kLeader) {
      for (auto& [id, f] : q->followers) {
        if (!f.synced && !f.syncing) StartSync(q.get(), &f);
      }
      ExpirePuts(q.get());
    }
  }
  SendHeartbeats();
}

void Cluster::After(int64_t ms, std::function<void()> fn) {
  auto* t = new uv_timer_t;
  uv_timer_init(loop_->uv(), t);
  t->data = new std::function<void()>([alive = alive_, fn = std::move(fn)] {
    if (*alive) fn();
  });
  uv_timer_start(
      t,
      [](uv_timer_t* t) {
        auto* fn = static_cast<std::function<void()>*>(t->data);
        (*fn)();
        delete fn;
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      },
      static_cast<uint64_t>(std::max<int64_t>(0, ms)), 0);
}

// --- Views ------------------------------------------------------------------------------------

admin::ClusterView Cluster::View() const {
  admin::ClusterView v;
  v.node_id = node_id_;
  v.zk_connected = zk_ && zk_->connected();
  v.zookeeper = options_.zookeeper;
  v.counters = counters_;
  for (const auto& [id, n] : nodes_) {
    admin::ClusterNode cn{n.id, n.host, n.replication, n.memcache, n.thrift, n.text, n.admin, 0};
    if (auto it = links_.find(id); it != links_.end()) cn.append_rtt_us = it->second->last_rtt_us();
    v.nodes.push_back(std::move(cn));
  }
  for (const auto& [name, q] : queues_) {
    if (!q->meta_known) continue;
    admin::ClusterQueue cq;
    cq.name = name;
    cq.leader = q->leader;
    cq.epoch = q->role == Role::kLeader ? q->epoch : q->meta.epoch();
    cq.replicas = q->meta.replicas;
    cq.ack_quorum = q->meta.ack_quorum;
    cq.role = q->role == Role::kLeader      ? "leader"
              : q->role == Role::kCandidate ? "candidate"
              : q->role == Role::kFollower  ? "follower"
                                            : "none";
    const queue::QueueManager::ReplicaInfo info = engine_->GetReplicaInfo(name);
    cq.commit_end = info.commit_end;
    cq.log_end = info.next_offset;
    for (const auto& [id, f] : q->followers) {
      cq.followers.push_back(
          {id, f.durable_end,
           info.next_offset > f.durable_end ? info.next_offset - f.durable_end : 0, f.synced});
    }
    v.queues.push_back(std::move(cq));
  }
  return v;
}

}  // namespace saker::replication

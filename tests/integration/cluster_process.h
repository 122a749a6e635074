// TestCluster: N real sakerd processes on 127.0.0.1 joined through a real ZooKeeper (ZkServer),
// node ids 1..N, data under root/nodeK, for the replication tests. Each node can be killed
// (SIGKILL), paused (SIGSTOP/SIGCONT) and started again on its own data dir and ports. Clients talk
// to the nodes over Kestrel's memcache protocol, so the tests drive the cluster as users do.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/server_process.h"
#include "tests/testutil/fault_proxy.h"

namespace saker::test {

// How one memcache request ended, as a history checker records it.
struct Answer {
  enum Kind {
    kOk,         // STORED, or a get's reply
    kNotLeader,  // refused before anything was written: `leader` leads the queue
    kFailed,     // refused before anything was written (no leader yet, bad request)
    kUnknown,    // no answer, the connection died, or a timeout: it may or may not have happened
  };
  Kind kind = kUnknown;
  int leader = -1;
  std::string text;  // the reply line (an error's message)
};

// Classifies a memcache reply line ("STORED\r\n", "SERVER_ERROR queue q is led by node 2: ...").
Answer Classify(const std::string& line);

class TestCluster {
 public:
  // `zookeeper` is "host:port/chroot", one chroot per test. `config` is TOML given to every node
  // (for example a [cluster] section with a shorter session timeout).
  // With `zk_proxies` each node reaches ZooKeeper through its own FaultProxy (zk_link), so a
  // test can cut one node off from ZooKeeper alone.
  TestCluster(std::string root, int nodes, std::string zookeeper, std::string config = "",
              bool zk_proxies = false);
  ~TestCluster();

  bool StartAll();
  bool Start(int id);
  void Kill(int id);
  void Pause(int id);
  void Resume(int id);
  bool running(int id) const;
  ServerProcess& node(int id) { return *nodes_.at(id); }
  // Node `id`'s memcache port: fixed for the cluster's life, so a restarted node is found where
  // it was (safe to call from any thread while nodes restart).
  int memcache_port(int id) const { return ports_.at(id).at("memcache-port"); }
  // Node `id`'s link to ZooKeeper (with zk_proxies only).
  FaultProxy& zk_link(int id) { return *zk_links_.at(id); }
  int size() const { return static_cast<int>(nodes_.size()); }
  std::string Logs() const;

  // One put to node `id` on a fresh connection.
  Answer Put(int id, const std::string& queue, const std::string& value,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The node that leads `queue`, asked of the running nodes (a `get QUEUE/peek` is answered by
  // the leader and refused with its id by the others); -1 if none answers within `timeout`.
  // Nodes `except` is not asked (an ex-leader that still believes it leads).
  int Leader(const std::string& queue, std::chrono::milliseconds timeout, int except = -1);
  // Every item `get QUEUE` on node `id` hands out until the queue is empty, in order. nullopt
  // if a get failed (the node is not the leader, or it died).
  std::optional<std::vector<std::string>> Drain(int id, const std::string& queue);

 private:
  std::vector<std::string> Args(int id) const;

  std::string root_;
  std::string zookeeper_;
  std::string config_path_;
  std::map<int, std::map<std::string, int>> ports_;  // node -> flag -> port
  std::map<int, std::unique_ptr<FaultProxy>> zk_links_;
  std::map<int, std::unique_ptr<ServerProcess>> nodes_;
};

// Sends memcache `set` on `c` and reads its answer.
Answer MemcacheSet(RawClient& c, const std::string& queue, const std::string& value,
                   std::chrono::milliseconds timeout);
// Sends memcache `get KEY` on `c`: the item, "" for END, or the failure's Answer.
struct GetReply {
  Answer answer;
  std::optional<std::string> item;  // set when answer is kOk and the queue was not empty
};
GetReply MemcacheGet(RawClient& c, const std::string& key, std::chrono::milliseconds timeout);

}  // namespace saker::test

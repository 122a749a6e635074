#include "tests/integration/cluster_process.h"

#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "tests/testutil/testutil.h"
#include "tests/testutil/zk_server.h"

namespace saker::test {

Answer Classify(const std::string& line) {
  Answer a;
  a.text = line;
  if (line == "STORED\r\n") {
    a.kind = Answer::kOk;
    return a;
  }
  static const std::regex led(R"(is led by node (\d+): )");
  std::smatch m;
  if (std::regex_search(line, m, led)) {
    a.kind = Answer::kNotLeader;
    a.leader = std::stoi(m[1]);
    return a;
  }
  // The refusals Cluster::Admit and WhenAdmitted give before a put reaches the log.
  for (const char* refused : {"has no leader yet", "not connected to ZooKeeper",
                              "live nodes are up", "which is not reachable now"}) {
    if (line.rfind("SERVER_ERROR ", 0) == 0 && line.find(refused) != std::string::npos) {
      a.kind = Answer::kFailed;
      return a;
    }
  }
  a.kind = Answer::kUnknown;  // "unknown: ...", a dead connection, anything else
  return a;
}

Answer MemcacheSet(RawClient& c, const std::string& queue, const std::string& value,
                   std::chrono::milliseconds timeout) {
  if (!c.connected()) {
    Answer refused;
    refused.kind = Answer::kFailed;  // nothing reached the node
    refused.text = "connection refused";
    return refused;
  }
  if (!c.Send("set " + queue + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n")) {
    return Answer{};
  }
  return Classify(c.ReadUntil("\r\n", timeout));
}

GetReply MemcacheGet(RawClient& c, const std::string& key, std::chrono::milliseconds timeout) {
  GetReply r;
  if (!c.Send("get " + key + "\r\n")) return r;
  const std::string line = c.ReadUntil("\r\n", timeout);
  if (line == "END\r\n") {
    r.answer.kind = Answer::kOk;
    return r;
  }
  if (line.rfind("VALUE ", 0) != 0) {
    r.answer = Classify(line);
    return r;
  }
  const size_t len = std::stoul(line.substr(line.rfind(' ') + 1));
  std::string body = c.ReadN(len + 2, timeout);
  if (body.size() != len + 2 || c.ReadUntil("\r\n", timeout) != "END\r\n") return r;
  r.answer.kind = Answer::kOk;
  r.item = body.substr(0, len);
  return r;
}

TestCluster::TestCluster(std::string root, int nodes, std::string zookeeper, std::string config,
                         bool zk_proxies)
    : root_(std::move(root)), zookeeper_(std::move(zookeeper)) {
  if (zk_proxies) {
    const size_t colon = zookeeper_.find(':'), slash = zookeeper_.find('/');
    const int zk_port = std::stoi(zookeeper_.substr(colon + 1, slash - colon - 1));
    for (int id = 1; id <= nodes; id++) {
      auto proxy = FaultProxy::Start(static_cast<uint16_t>(zk_port));
      if (proxy.ok()) zk_links_[id] = std::move(proxy).value();
    }
  }
  if (!config.empty()) {
    config_path_ = root_ + "/cluster.toml";
    std::ofstream(config_path_) << config;
  }
  std::set<int> taken;
  for (int id = 1; id <= nodes; id++) {
    for (const char* flag :
         {"memcache-port", "thrift-port", "text-port", "admin-port", "replication-port"}) {
      int port = FreePort();
      while (!taken.insert(port).second) port = FreePort();
      ports_[id][flag] = port;
    }
  }
  for (int id = 1; id <= nodes; id++) {
    const std::string dir = root_ + "/node" + std::to_string(id);
    mkdir(dir.c_str(), 0755);
    nodes_[id] = std::make_unique<ServerProcess>(dir, Args(id));
  }
}

TestCluster::~TestCluster() {
  for (auto& [id, node] : nodes_) {
    if (node->running()) kill(node->pid(), SIGCONT);
    node->Kill();
  }
}

std::vector<std::string> TestCluster::Args(int id) const {
  std::string zookeeper = zookeeper_;
  if (auto it = zk_links_.find(id); it != zk_links_.end()) {
    zookeeper =
        "127.0.0.1:" + std::to_string(it->second->port()) + zookeeper_.substr(zookeeper_.find('/'));
  }
  std::vector<std::string> args = {"--node-id", std::to_string(id), "--zookeeper",
                                   zookeeper,   "--log-level",      "debug"};
  for (const auto& [flag, port] : ports_.at(id)) {
    args.push_back("--" + flag);
    args.push_back(std::to_string(port));
  }
  if (!config_path_.empty()) {
    args.push_back("--config");
    args.push_back(config_path_);
  }
  return args;
}

bool TestCluster::StartAll() {
  for (auto& [id, node] : nodes_) {
    if (!node->Start()) return false;
  }
  return true;
}

bool TestCluster::Start(int id) { return nodes_.at(id)->Start(); }
void TestCluster::Kill(int id) { nodes_.at(id)->Kill(); }
void TestCluster::Pause(int id) { kill(nodes_.at(id)->pid(), SIGSTOP); }
void TestCluster::Resume(int id) { kill(nodes_.at(id)->pid(), SIGCONT); }
bool TestCluster::running(int id) const { return nodes_.at(id)->running(); }

std::string TestCluster::Logs() const {
  std::string out;
  for (const auto& [id, node] : nodes_) {
    out += "--- node " + std::to_string(id) + " ---\n" + node->Log();
  }
  return out;
}

Answer TestCluster::Put(int id, const std::string& queue, const std::string& value,
                        std::chrono::milliseconds timeout) {
  RawClient c(memcache_port(id));
  if (!c.connected()) return Answer{};
  return MemcacheSet(c, queue, value, timeout);
}

int TestCluster::Leader(const std::string& queue, std::chrono::milliseconds timeout, int except) {
  int leader = -1;
  WaitFor(
      [&] {
        for (auto& [id, node] : nodes_) {
          if (!node->running() || id == except) continue;
          RawClient c(memcache_port(id));
          if (!c.connected()) continue;
          GetReply r = MemcacheGet(c, queue + "/peek", std::chrono::milliseconds(500));
          if (r.answer.kind == Answer::kOk) {
            leader = id;
            return true;
          }
        }
        return false;
      },
      timeout);
  return leader;
}

std::optional<std::vector<std::string>> TestCluster::Drain(int id, const std::string& queue) {
  RawClient c(memcache_port(id));
  if (!c.connected()) return std::nullopt;
  std::vector<std::string> items;
  for (;;) {
    GetReply r = MemcacheGet(c, queue, std::chrono::seconds(10));
    if (r.answer.kind != Answer::kOk) return std::nullopt;
    if (!r.item) return items;
    items.push_back(*r.item);
  }
}

}  // namespace saker::test

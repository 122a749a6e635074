// `saker cluster status`: a table of nodes and one of queues, or one JSON object.
#include "client/cli/cluster.h"

#include <cstdio>
#include <string>

#include "client/cli/output.h"

namespace saker::cli {
namespace {

std::string Ids(const std::vector<int>& ids) {
  std::string out;
  for (int id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

std::string ToJson(const client::ClusterStatus& c) {
  std::string out = "{\"node_id\":" + std::to_string(c.node_id) +
                    ",\"zk_connected\":" + (c.zookeeper_connected ? "true" : "false") +
                    ",\"zookeeper\":" + Json(c.zookeeper) + ",\"nodes\":[";
  for (size_t i = 0; i < c.nodes.size(); ++i) {
    const client::ClusterNode& n = c.nodes[i];
    out += std::string(i ? "," : "") + "{\"id\":" + std::to_string(n.id) +
           ",\"host\":" + Json(n.host) + ",\"replication\":" + std::to_string(n.replication_port) +
           ",\"memcache\":" + std::to_string(n.memcache_port) +
           ",\"thrift\":" + std::to_string(n.thrift_port) +
           ",\"text\":" + std::to_string(n.text_port) +
           ",\"admin\":" + std::to_string(n.admin_port) +
           ",\"append_rtt_us\":" + std::to_string(n.append_rtt_us) + "}";
  }
  out += "],\"queues\":[";
  for (size_t i = 0; i < c.queues.size(); ++i) {
    const client::ClusterQueue& q = c.queues[i];
    out += std::string(i ? "," : "") + "{\"name\":" + Json(q.name) +
           ",\"leader\":" + std::to_string(q.leader) + ",\"epoch\":" + std::to_string(q.epoch) +
           ",\"replicas\":" + JsonList(q.replicas) +
           ",\"ack_quorum\":" + std::to_string(q.ack_quorum) + ",\"role\":" + Json(q.role) +
           ",\"commit_end\":" + std::to_string(q.commit_end) +
           ",\"log_end\":" + std::to_string(q.log_end) + ",\"followers\":[";
    for (size_t k = 0; k < q.followers.size(); ++k) {
      const client::ClusterFollower& f = q.followers[k];
      out += std::string(k ? "," : "") + "{\"node\":" + std::to_string(f.node) +
             ",\"durable_end\":" + std::to_string(f.durable_end) +
             ",\"lag\":" + std::to_string(f.lag) + ",\"synced\":" + (f.synced ? "true" : "false") +
             "}";
    }
    out += "]}";
  }
  const client::ClusterCounters& k = c.counters;
  out += "],\"counters\":{\"takeovers\":" + std::to_string(k.takeovers) +
         ",\"takeover_failures\":" + std::to_string(k.takeover_failures) +
         ",\"fences_received\":" + std::to_string(k.fences_received) +
         ",\"fenced_rejections\":" + std::to_string(k.fenced_rejections) +
         ",\"step_downs\":" + std::to_string(k.step_downs) +
         ",\"appends_sent\":" + std::to_string(k.appends_sent) +
         ",\"appends_received\":" + std::to_string(k.appends_received) +
         ",\"unknown_puts\":" + std::to_string(k.unknown_puts) + "}}";
  return out;
}

void PrintTables(const client::ClusterStatus& c) {
  std::printf("node %d, ZooKeeper %s (%s), %zu live nodes\n", c.node_id,
              c.zookeeper_connected ? "connected" : "DISCONNECTED", c.zookeeper.c_str(),
              c.nodes.size());
  std::printf("%-6s %-20s %6s %8s %6s %6s %11s %14s\n", "NODE", "HOST", "THRIFT", "MEMCACHE",
              "TEXT", "ADMIN", "REPLICATION", "APPEND_RTT_US");
  for (const client::ClusterNode& n : c.nodes) {
    const std::string id = std::to_string(n.id) + (n.id == c.node_id ? "*" : "");
    const std::string rtt = n.id == c.node_id     ? "-"
                            : n.append_rtt_us > 0 ? std::to_string(n.append_rtt_us)
                                                  : "none yet";
    std::printf("%-6s %-20s %6d %8d %6d %6d %11d %14s\n", id.c_str(), n.host.c_str(), n.thrift_port,
                n.memcache_port, n.text_port, n.admin_port, n.replication_port, rtt.c_str());
  }
  std::printf("%-24s %6s %6s %-9s %-9s %6s %12s %12s  %s\n", "QUEUE", "LEADER", "EPOCH", "ROLE",
              "REPLICAS", "QUORUM", "COMMIT", "LOG_END", "FOLLOWERS (LAG)");
  for (const client::ClusterQueue& q : c.queues) {
    std::string followers;
    for (const client::ClusterFollower& f : q.followers) {
      followers += (followers.empty() ? "" : ", ") + std::to_string(f.node) + ": " +
                   std::to_string(f.lag) + (f.synced ? "" : " (catching up)");
    }
    const std::string leader = q.leader >= 0 ? std::to_string(q.leader) : "none";
    std::printf("%-24s %6s %6lld %-9s %-9s %6d %12lld %12lld  %s\n", q.name.c_str(), leader.c_str(),
                static_cast<long long>(q.epoch), q.role.c_str(), Ids(q.replicas).c_str(),
                q.ack_quorum, static_cast<long long>(q.commit_end),
                static_cast<long long>(q.log_end), followers.empty() ? "-" : followers.c_str());
  }
  std::printf("(* the node that answered; followers are listed where it leads)\n");
}

}  // namespace

int ClusterStatusCommand(client::Client& client, bool json) {
  auto r = client.GetClusterStatus();
  if (!r.ok()) return Fail(r.status());
  if (json) {
    std::printf("%s\n", ToJson(r.value()).c_str());
  } else {
    PrintTables(r.value());
  }
  return kExitOk;
}

}  // namespace saker::cli

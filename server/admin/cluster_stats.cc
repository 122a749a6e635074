// Renderings of a ClusterView. Prometheus: the role is a label of a 1-valued gauge (one series
// per queue, so a role change replaces the series instead of overloading a number), node ids
// are values or labels, and the append round trip is in seconds like every saker duration.
#include "server/admin/cluster_stats.h"

#include <fmt/format.h>

#include "server/admin/escape.h"

namespace saker::admin {
namespace {

void Family(std::string* out, std::string_view name, std::string_view type, std::string_view help) {
  *out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n", name, help, type);
}

std::string JoinIds(const std::vector<int>& ids, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < ids.size(); i++) out += fmt::format("{}{}", i ? sep : "", ids[i]);
  return out;
}

}  // namespace

void AppendClusterPrometheus(const ClusterView& v, std::string* out) {
  Family(out, "saker_cluster_node_id", "gauge", "This node's --node-id.");
  *out += fmt::format("saker_cluster_node_id {}\n", v.node_id);
  Family(out, "saker_cluster_zookeeper_connected", "gauge",
         "1 while this node's ZooKeeper session is connected.");
  *out += fmt::format("saker_cluster_zookeeper_connected {}\n", v.zk_connected ? 1 : 0);
  Family(out, "saker_cluster_live_nodes", "gauge", "Nodes registered in ZooKeeper.");
  *out += fmt::format("saker_cluster_live_nodes {}\n", v.nodes.size());
  Family(out, "saker_cluster_append_rtt_seconds", "gauge",
         "This node's last append round trip to another node (0: none yet).");
  for (const ClusterNode& n : v.nodes) {
    if (n.id == v.node_id) continue;
    *out += fmt::format("saker_cluster_append_rtt_seconds{{node=\"{}\"}} {}\n", n.id,
                        static_cast<double>(n.append_rtt_us) / 1e6);
  }

  struct QueueFamily {
    const char* name;
    const char* help;
    int64_t (*value)(const ClusterQueue&);
  };
  static constexpr QueueFamily kQueueFamilies[] = {
      {"saker_cluster_queue_leader", "Node id of the queue's leader (-1: none known).",
       [](const ClusterQueue& q) -> int64_t { return q.leader; }},
      {"saker_cluster_queue_epoch", "The queue's epoch (leader term) as this node knows it.",
       [](const ClusterQueue& q) { return static_cast<int64_t>(q.epoch); }},
      {"saker_cluster_queue_replicas", "Nodes in the queue's replica set.",
       [](const ClusterQueue& q) { return static_cast<int64_t>(q.replicas.size()); }},
      {"saker_cluster_queue_ack_quorum", "Replicas that must have a put durable to ack it.",
       [](const ClusterQueue& q) { return static_cast<int64_t>(q.ack_quorum); }},
      {"saker_cluster_queue_commit_end", "Offsets below this are committed (acked, deliverable).",
       [](const ClusterQueue& q) { return static_cast<int64_t>(q.commit_end); }},
      {"saker_cluster_queue_log_end", "End of this node's copy of the queue's log.",
       [](const ClusterQueue& q) { return static_cast<int64_t>(q.log_end); }}};
  for (const QueueFamily& f : kQueueFamilies) {
    Family(out, f.name, "gauge", f.help);
    for (const ClusterQueue& q : v.queues) {
      *out += fmt::format("{}{{queue=\"{}\"}} {}\n", f.name, q.name, f.value(q));
    }
  }
  Family(out, "saker_cluster_queue_role", "gauge",
         "1, labelled with this node's role for the queue: leader, follower, candidate or none.");
  for (const ClusterQueue& q : v.queues) {
    *out += fmt::format("saker_cluster_queue_role{{queue=\"{}\",role=\"{}\"}} 1\n", q.name, q.role);
  }

  struct FollowerFamily {
    const char* name;
    const char* help;
    uint64_t (*value)(const ClusterFollower&);
  };
  static constexpr FollowerFamily kFollowerFamilies[] = {
      {"saker_cluster_follower_durable_end",
       "What a follower of a queue this node leads has acknowledged durable.",
       [](const ClusterFollower& f) { return f.durable_end; }},
      {"saker_cluster_follower_lag", "Offsets the leader has that the follower has not acked.",
       [](const ClusterFollower& f) { return f.lag; }},
      {"saker_cluster_follower_synced", "1 while the follower receives batches as they come.",
       [](const ClusterFollower& f) -> uint64_t { return f.synced ? 1 : 0; }}};
  for (const FollowerFamily& f : kFollowerFamilies) {
    Family(out, f.name, "gauge", f.help);
    for (const ClusterQueue& q : v.queues) {
      for (const ClusterFollower& fo : q.followers) {
        *out += fmt::format("{}{{queue=\"{}\",follower=\"{}\"}} {}\n", f.name, q.name, fo.node,
                            f.value(fo));
      }
    }
  }

  const ClusterCounters& c = v.counters;
  const std::pair<const char*, uint64_t> counters[] = {{"takeovers", c.takeovers},
                                                       {"takeover_failures", c.takeover_failures},
                                                       {"fences_received", c.fences_received},
                                                       {"fenced_rejections", c.fenced_rejections},
                                                       {"step_downs", c.step_downs},
                                                       {"appends_sent", c.appends_sent},
                                                       {"appends_received", c.appends_received},
                                                       {"unknown_puts", c.unknown_puts}};
  static constexpr const char* kCounterHelp[] = {
      "Leaderships this node won and opened.",
      "Takeovers this node gave up (fence coverage, lost compare-and-set, fenced).",
      "Fences this node received as a replica.",
      "Appends and fences this node refused for a lower epoch.",
      "Leaderships this node gave up.",
      "Appends this node sent to followers.",
      "Appends this node received as a follower.",
      "Puts answered unknown: the quorum was not reached in time."};
  for (size_t i = 0; i < std::size(counters); i++) {
    const std::string name = fmt::format("saker_cluster_{}_total", counters[i].first);
    Family(out, name, "counter", kCounterHelp[i]);
    *out += fmt::format("{} {}\n", name, counters[i].second);
  }
}

std::string ClusterJson(const ClusterView& v) {
  std::string out =
      fmt::format("{{\"node_id\":{},\"zk_connected\":{},\"zookeeper\":\"{}\",\"nodes\":[",
                  v.node_id, v.zk_connected ? "true" : "false", JsonEscape(v.zookeeper));
  for (size_t i = 0; i < v.nodes.size(); i++) {
    const ClusterNode& n = v.nodes[i];
    out += fmt::format(
        "{}{{\"id\":{},\"host\":\"{}\",\"replication\":{},\"memcache\":{},\"thrift\":{},"
        "\"text\":{},\"admin\":{},\"append_rtt_us\":{}}}",
        i ? "," : "", n.id, JsonEscape(n.host), n.replication, n.memcache, n.thrift, n.text,
        n.admin, n.append_rtt_us);
  }
  out += "],\"queues\":[";
  for (size_t i = 0; i < v.queues.size(); i++) {
    const ClusterQueue& q = v.queues[i];
    out += fmt::format(
        "{}{{\"name\":\"{}\",\"leader\":{},\"epoch\":{},\"replicas\":[{}],\"ack_quorum\":{},"
        "\"role\":\"{}\",\"commit_end\":{},\"log_end\":{},\"followers\":[",
        i ? "," : "", JsonEscape(q.name), q.leader, q.epoch, JoinIds(q.replicas, ","), q.ack_quorum,
        JsonEscape(q.role), q.commit_end, q.log_end);
    for (size_t k = 0; k < q.followers.size(); k++) {
      const ClusterFollower& f = q.followers[k];
      out += fmt::format("{}{{\"node\":{},\"durable_end\":{},\"lag\":{},\"synced\":{}}}",
                         k ? "," : "", f.node, f.durable_end, f.lag, f.synced ? "true" : "false");
    }
    out += "]}";
  }
  const ClusterCounters& c = v.counters;
  out += fmt::format(
      "],\"counters\":{{\"takeovers\":{},\"takeover_failures\":{},\"fences_received\":{},"
      "\"fenced_rejections\":{},\"step_downs\":{},\"appends_sent\":{},\"appends_received\":{},"
      "\"unknown_puts\":{}}}}}",
      c.takeovers, c.takeover_failures, c.fences_received, c.fenced_rejections, c.step_downs,
      c.appends_sent, c.appends_received, c.unknown_puts);
  return out;
}

std::string ClusterHtml(const ClusterView& v) {
  std::string out = fmt::format(
      "<h2>cluster</h2><p>node <b>{}</b> &middot; ZooKeeper {} ({}) &middot; {} live nodes "
      "&middot; {} takeovers &middot; {} step-downs &middot; {} unknown puts</p>",
      v.node_id, v.zk_connected ? "connected" : "<b>disconnected</b>", HtmlEscape(v.zookeeper),
      v.nodes.size(), v.counters.takeovers, v.counters.step_downs, v.counters.unknown_puts);
  out +=
      "<table><tr><th>node</th><th>host</th><th>thrift</th><th>memcache</th><th>text</th>"
      "<th>admin</th><th>replication</th><th>append rtt (&micro;s)</th></tr>";
  for (const ClusterNode& n : v.nodes) {
    out += fmt::format(
        "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td></tr>",
        n.id, n.id == v.node_id ? " (this node)" : "", HtmlEscape(n.host), n.thrift, n.memcache,
        n.text, n.admin, n.replication,
        n.id == v.node_id     ? ""
        : n.append_rtt_us > 0 ? std::to_string(n.append_rtt_us)
                              : "-");
  }
  out +=
      "</table><p></p><table><tr><th>queue</th><th>leader</th><th>epoch</th><th>role here</th>"
      "<th>replicas</th><th>quorum</th><th>commit</th><th>log end</th>"
      "<th>followers (lag)</th></tr>";
  for (const ClusterQueue& q : v.queues) {
    std::string followers;
    for (const ClusterFollower& f : q.followers) {
      followers += fmt::format("{}node {}: {}{}", followers.empty() ? "" : ", ", f.node, f.lag,
                               f.synced ? "" : " (catching up)");
    }
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td></tr>",
        HtmlEscape(q.name), q.leader >= 0 ? std::to_string(q.leader) : "none", q.epoch,
        HtmlEscape(q.role), JoinIds(q.replicas, " "), q.ack_quorum, q.commit_end, q.log_end,
        followers.empty() ? "-" : followers);
  }
  out += "</table>";
  return out;
}

}  // namespace saker::admin

// The statistics renderings (server/admin/stats.h) over a hand-made Snapshot: Kestrel's items and
// bytes leave out leased items, open_transactions counts them, fan-out children report their own
// subscription, and /metrics and /stats.json name depth apart from items; a cluster's view shows
// in all three, and a single node's renderings have none of it.
#include "server/admin/stats.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

namespace saker::admin {
namespace {

class StatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    queue::QueueStats q;
    q.name = "jobs";
    q.items = 1;
    q.bytes = 6;
    q.open_transactions = 1;
    q.depth = 5;
    q.depth_bytes = 30;
    queue::SubscriptionStats primary;
    primary.depth = 2;
    primary.items = 1;
    primary.bytes = 6;
    primary.leased = 1;
    queue::SubscriptionStats child;
    child.name = "audit";
    child.depth = 5;
    child.items = 3;
    child.bytes = 20;
    child.leased = 2;
    child.aborted = 7;
    child.dropped = 4;
    q.subscriptions = {primary, child};
    snapshot_.counters = &counters_;
    snapshot_.queues = {q};
    snapshot_.status = "UP";
  }

  ServerCounters counters_;
  Snapshot snapshot_;
};

TEST_F(StatsTest, KestrelItemsLeaveOutOpenOnes) {
  const std::string out = KestrelStats(snapshot_);
  for (const char* line :
       {"STAT curr_items 4\r\n", "STAT bytes 26\r\n", "STAT queue_jobs_items 1\r\n",
        "STAT queue_jobs_bytes 6\r\n", "STAT queue_jobs_mem_items 1\r\n",
        "STAT queue_jobs_open_transactions 1\r\n", "STAT queue_jobs+audit_items 3\r\n",
        "STAT queue_jobs+audit_bytes 20\r\n", "STAT queue_jobs+audit_mem_bytes 20\r\n",
        "STAT queue_jobs+audit_open_transactions 2\r\n",
        "STAT queue_jobs+audit_canceled_transactions 7\r\n",
        "STAT queue_jobs_children jobs+audit\r\n"}) {
    EXPECT_NE(out.find(line), std::string::npos) << line;
  }
}

TEST_F(StatsTest, DumpStatsHasTheSameCounts) {
  const std::string out = KestrelDumpStats(snapshot_, {"jobs+audit"});
  EXPECT_EQ(out.find("queue 'jobs' {"), std::string::npos);
  EXPECT_NE(out.find("queue 'jobs+audit' {\r\n  items=3\r\n  bytes=20\r\n"), std::string::npos);
  EXPECT_NE(out.find("  open_transactions=2\r\n"), std::string::npos);
}

TEST_F(StatsTest, PrometheusNamesSayWhichIsWhich) {
  const std::string out = Prometheus(snapshot_);
  for (const char* line :
       {"saker_queue_items{queue=\"jobs\"} 1\n",
        "saker_queue_open_transactions{queue=\"jobs\"} 1\n",
        "saker_queue_depth{queue=\"jobs\"} 5\n", "saker_queue_depth_bytes{queue=\"jobs\"} 30\n",
        "saker_subscription_depth{queue=\"jobs\",subscription=\"audit\"} 5\n",
        "saker_subscription_items{queue=\"jobs\",subscription=\"audit\"} 3\n",
        "saker_subscription_leased{queue=\"jobs\",subscription=\"audit\"} 2\n",
        "saker_subscription_aborted_total{queue=\"jobs\",subscription=\"audit\"} 7\n",
        "saker_subscription_dropped_total{queue=\"jobs\",subscription=\"audit\"} 4\n"}) {
    EXPECT_NE(out.find(line), std::string::npos) << line;
  }
}

TEST_F(StatsTest, JsonHasOpenTransactionsDepthAbortedAndDropped) {
  const std::string out = Json(snapshot_);
  EXPECT_NE(out.find("\"items\":1,\"bytes\":6,\"open_transactions\":1,\"depth\":5,"
                     "\"depth_bytes\":30,"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\"name\":\"audit\",\"depth\":5,\"items\":3,\"bytes\":20,"),
            std::string::npos);
  EXPECT_NE(out.find("\"aborted\":7,\"expired\":0,\"dropped\":4,"), std::string::npos) << out;
}

// Node 1 leads "jobs" (followers 2, synced, and 3, catching up) and follows "<b>x</b>" (a name
// the status page must escape; queue names never have such bytes, hosts from ZooKeeper might).
ClusterView TwoQueueCluster() {
  ClusterView v;
  v.node_id = 1;
  v.zk_connected = true;
  v.zookeeper = "127.0.0.1:2181/saker";
  v.nodes = {{1, "127.0.0.1", 7001, 7002, 7003, 7004, 7005, 0},
             {2, "127.0.0.1", 7101, 7102, 7103, 7104, 7105, 850},
             {3, "<host&>", 7201, 7202, 7203, 7204, 7205, 0}};
  ClusterQueue jobs;
  jobs.name = "jobs";
  jobs.leader = 1;
  jobs.epoch = 7;
  jobs.replicas = {1, 2, 3};
  jobs.ack_quorum = 2;
  jobs.role = "leader";
  jobs.commit_end = 40;
  jobs.log_end = 42;
  jobs.followers = {{2, 41, 1, true}, {3, 12, 30, false}};
  ClusterQueue other;
  other.name = "<b>x</b>";
  other.leader = -1;
  other.epoch = 3;
  other.replicas = {1, 3};
  other.ack_quorum = 1;
  other.role = "candidate";
  v.queues = {jobs, other};
  v.counters.takeovers = 4;
  v.counters.takeover_failures = 1;
  v.counters.fences_received = 9;
  v.counters.fenced_rejections = 2;
  v.counters.step_downs = 3;
  v.counters.appends_sent = 100;
  v.counters.appends_received = 50;
  v.counters.unknown_puts = 6;
  return v;
}

TEST_F(StatsTest, SingleNodeShowsNoCluster) {
  EXPECT_EQ(Prometheus(snapshot_).find("saker_cluster_"), std::string::npos);
  EXPECT_EQ(Json(snapshot_).find("\"cluster\""), std::string::npos);
  History history;
  EXPECT_EQ(StatusPage(snapshot_, history).find("<h2>cluster</h2>"), std::string::npos);
}

TEST_F(StatsTest, PrometheusHasTheClusterView) {
  snapshot_.cluster = TwoQueueCluster();
  const std::string out = Prometheus(snapshot_);
  for (const char* line : {
           "saker_cluster_node_id 1\n",
           "saker_cluster_zookeeper_connected 1\n",
           "saker_cluster_live_nodes 3\n",
           "saker_cluster_append_rtt_seconds{node=\"2\"} 0.00085\n",
           "saker_cluster_append_rtt_seconds{node=\"3\"} 0\n",
           "saker_cluster_queue_leader{queue=\"jobs\"} 1\n",
           "saker_cluster_queue_leader{queue=\"<b>x</b>\"} -1\n",
           "saker_cluster_queue_epoch{queue=\"jobs\"} 7\n",
           "saker_cluster_queue_replicas{queue=\"jobs\"} 3\n",
           "saker_cluster_queue_ack_quorum{queue=\"jobs\"} 2\n",
           "saker_cluster_queue_commit_end{queue=\"jobs\"} 40\n",
           "saker_cluster_queue_log_end{queue=\"jobs\"} 42\n",
           "saker_cluster_queue_role{queue=\"jobs\",role=\"leader\"} 1\n",
           "saker_cluster_queue_role{queue=\"<b>x</b>\",role=\"candidate\"} 1\n",
           "saker_cluster_follower_durable_end{queue=\"jobs\",follower=\"3\"} 12\n",
           "saker_cluster_follower_lag{queue=\"jobs\",follower=\"2\"} 1\n",
           "saker_cluster_follower_lag{queue=\"jobs\",follower=\"3\"} 30\n",
           "saker_cluster_follower_synced{queue=\"jobs\",follower=\"2\"} 1\n",
           "saker_cluster_follower_synced{queue=\"jobs\",follower=\"3\"} 0\n",
           "# TYPE saker_cluster_takeovers_total counter\nsaker_cluster_takeovers_total 4\n",
           "saker_cluster_takeover_failures_total 1\n",
           "saker_cluster_fences_received_total 9\n",
           "saker_cluster_fenced_rejections_total 2\n",
           "saker_cluster_step_downs_total 3\n",
           "saker_cluster_appends_sent_total 100\n",
           "saker_cluster_appends_received_total 50\n",
           "saker_cluster_unknown_puts_total 6\n",
       }) {
    EXPECT_NE(out.find(line), std::string::npos) << line;
  }
  // The node itself has no round trip to itself.
  EXPECT_EQ(out.find("saker_cluster_append_rtt_seconds{node=\"1\"}"), std::string::npos);
  // Every family has one HELP and one TYPE line, and every sample follows its family's TYPE.
  std::set<std::string> typed, helped;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string family = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helped.insert(family).second) << "HELP twice: " << family;
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const std::string family = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(typed.insert(family).second) << "TYPE twice: " << family;
    } else if (line.rfind("saker_cluster_", 0) == 0) {
      const std::string name = line.substr(0, line.find_first_of("{ "));
      EXPECT_EQ(typed.count(name), 1u) << "no TYPE before " << line;
    }
  }
  EXPECT_EQ(typed, helped);
}

TEST_F(StatsTest, JsonHasTheClusterObject) {
  snapshot_.cluster = TwoQueueCluster();
  const std::string out = Json(snapshot_);
  for (const char* part : {
           "\"cluster\":{\"node_id\":1,\"zk_connected\":true,"
           "\"zookeeper\":\"127.0.0.1:2181/saker\",\"nodes\":[",
           "{\"id\":2,\"host\":\"127.0.0.1\",\"replication\":7101,\"memcache\":7102,"
           "\"thrift\":7103,\"text\":7104,\"admin\":7105,\"append_rtt_us\":850}",
           "{\"name\":\"jobs\",\"leader\":1,\"epoch\":7,\"replicas\":[1,2,3],\"ack_quorum\":2,"
           "\"role\":\"leader\",\"commit_end\":40,\"log_end\":42,\"followers\":["
           "{\"node\":2,\"durable_end\":41,\"lag\":1,\"synced\":true},"
           "{\"node\":3,\"durable_end\":12,\"lag\":30,\"synced\":false}]}",
           "\"leader\":-1,\"epoch\":3,\"replicas\":[1,3],",
           "\"counters\":{\"takeovers\":4,\"takeover_failures\":1,\"fences_received\":9,"
           "\"fenced_rejections\":2,\"step_downs\":3,\"appends_sent\":100,"
           "\"appends_received\":50,\"unknown_puts\":6}}}\n",
       }) {
    EXPECT_NE(out.find(part), std::string::npos) << part << "\nin " << out;
  }
}

TEST_F(StatsTest, StatusPageHasTheClusterEscaped) {
  snapshot_.cluster = TwoQueueCluster();
  History history;
  const std::string out = StatusPage(snapshot_, history);
  for (const char* part : {
           "<h2>cluster</h2><p>node <b>1</b> &middot; ZooKeeper connected (127.0.0.1:2181/saker)",
           "<td>1 (this node)</td><td>127.0.0.1</td><td>7003</td>",
           "<td>2</td><td>127.0.0.1</td><td>7103</td><td>7102</td><td>7104</td><td>7105</td>"
           "<td>7101</td><td>850</td>",
           "<td>&lt;host&amp;&gt;</td>",
           "<tr><td>jobs</td><td>1</td><td>7</td><td>leader</td><td>1 2 3</td><td>2</td>"
           "<td>40</td><td>42</td><td>node 2: 1, node 3: 30 (catching up)</td></tr>",
           "<tr><td>&lt;b&gt;x&lt;/b&gt;</td><td>none</td><td>3</td><td>candidate</td>",
       }) {
    EXPECT_NE(out.find(part), std::string::npos) << part << "\nin " << out;
  }
  EXPECT_EQ(out.find("<b>x</b>"), std::string::npos);
  EXPECT_EQ(out.find("<host&>"), std::string::npos);
}

}  // namespace
}  // namespace saker::admin

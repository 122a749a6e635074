// The statistics renderings (server/admin/stats.h) over a hand-made Snapshot: Kestrel's items and
// bytes leave out leased items, open_transactions counts them, fan-out children report their own
// subscription, and /metrics and /stats.json name depth apart from items.
#include "server/admin/stats.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace saker::admin

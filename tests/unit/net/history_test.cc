// admin::History (the status page's per-queue samples) and its sparkline: bounded rings, rates
// over the newest samples, forgetting deleted queues, the queue cap, and the status page using
// them.
#include "server/admin/history.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/admin/stats.h"

namespace saker::admin {
namespace {

queue::QueueStats Queue(const std::string& name, uint64_t put, uint64_t delivered, uint64_t depth) {
  queue::QueueStats q;
  q.name = name;
  q.put = put;
  q.depth = depth;
  queue::SubscriptionStats primary;
  primary.delivered = delivered;
  q.subscriptions = {primary};
  return q;
}

TEST(HistoryTest, RatesOverTheNewestSamples) {
  History h;
  EXPECT_EQ(h.RatesOf("jobs").put_per_s, 0);
  h.Record(1'000, {Queue("jobs", 0, 0, 0)});
  EXPECT_EQ(h.RatesOf("jobs").put_per_s, 0) << "one sample gives no rate";
  h.Record(11'000, {Queue("jobs", 100, 50, 50)});
  EXPECT_DOUBLE_EQ(h.RatesOf("jobs").put_per_s, 10);
  EXPECT_DOUBLE_EQ(h.RatesOf("jobs").get_per_s, 5);
  // Only the last kRateSpan intervals count: a burst long ago no longer shows.
  for (int i = 2; i <= 10; ++i) h.Record(1'000 + i * 10'000, {Queue("jobs", 100, 50, 50)});
  EXPECT_EQ(h.RatesOf("jobs").put_per_s, 0);
}

TEST(HistoryTest, RingKeepsTheNewestSamples) {
  History h;
  for (size_t i = 0; i < History::kMaxSamples + 5; ++i) {
    h.Record(static_cast<int64_t>(i) * 1000, {Queue("q", i, 0, i)});
  }
  std::vector<History::Sample> samples = h.Samples("q");
  ASSERT_EQ(samples.size(), History::kMaxSamples);
  EXPECT_EQ(samples.front().depth, 5u);
  EXPECT_EQ(samples.back().depth, History::kMaxSamples + 4);
}

TEST(HistoryTest, ForgetsDeletedQueuesAndRestartsRecreatedOnes) {
  History h;
  h.Record(0, {Queue("a", 5, 0, 5), Queue("b", 1, 0, 1)});
  h.Record(1000, {Queue("a", 9, 0, 9)});
  EXPECT_TRUE(h.Samples("b").empty());
  EXPECT_EQ(h.Samples("a").size(), 2u);
  h.Record(2000, {Queue("a", 1, 0, 1)});
  EXPECT_EQ(h.Samples("a").size(), 1u) << "counters went backwards: a new queue of that name";
}

TEST(HistoryTest, TracksAtMostMaxQueues) {
  History h(2);
  h.Record(0, {Queue("a", 0, 0, 0), Queue("b", 0, 0, 0), Queue("c", 0, 0, 0)});
  EXPECT_EQ(h.tracked(), 2u);
  EXPECT_TRUE(h.Samples("c").empty());
}

TEST(HistoryTest, SparklineIsInlineSvg) {
  EXPECT_EQ(DepthSparkline({}), "");
  std::string one = DepthSparkline({{0, 0, 0, 3}});
  EXPECT_EQ(one.find("<svg"), 0u);
  EXPECT_NE(one.find("<polyline"), std::string::npos);
  EXPECT_NE(one.find("depth, max 3"), std::string::npos);
  std::string line = DepthSparkline({{0, 0, 0, 0}, {1, 0, 0, 4}});
  // The deepest sample is at the top (y = 1), zero at the bottom (y = height - 1).
  EXPECT_NE(line.find(",23.0 "), std::string::npos) << line;
  EXPECT_NE(line.find(",1.0\""), std::string::npos) << line;
}

TEST(HistoryTest, StatusPageShowsRatesAndTrend) {
  History h;
  h.Record(0, {Queue("jobs", 0, 0, 0)});
  h.Record(2000, {Queue("jobs", 10, 4, 6)});
  ServerCounters counters;
  Snapshot s;
  s.counters = &counters;
  s.queues = {Queue("jobs", 10, 4, 6)};
  s.status = "UP";
  std::string page = StatusPage(s, h);
  EXPECT_NE(page.find("<svg"), std::string::npos);
  EXPECT_NE(page.find("<td>5.0</td><td>2.0</td>"), std::string::npos) << page;
  EXPECT_EQ(page.find("<script"), std::string::npos);
}

}  // namespace
}  // namespace saker::admin

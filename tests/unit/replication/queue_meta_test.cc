#include "replication/queue_meta.h"

#include <gtest/gtest.h>

#include <set>

namespace saker::replication {
namespace {

QueueMeta Sample() {
  QueueMeta m;
  m.incarnation = 0x1234abcd5678ef01;
  m.replicas = {3, 1, 2};
  m.ack_quorum = 2;
  m.claimed = 7;
  m.segments = {{1, 1, 3}, {4, 101, 1}, {7, 2001, 2}};
  return m;
}

TEST(QueueMetaTest, EncodingRoundTrips) {
  const QueueMeta m = Sample();
  auto back = DecodeQueueMeta(EncodeQueueMeta(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);
  EXPECT_EQ(back->epoch(), 7u);
  EXPECT_TRUE(back->HasReplica(1));
  EXPECT_FALSE(back->HasReplica(4));
}

TEST(QueueMetaTest, UnknownKeysAreIgnoredAndDamageIsReported) {
  auto m = DecodeQueueMeta(EncodeQueueMeta(Sample()) + "added_by_a_newer_node=1\n");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, Sample());
  for (const char* bad :
       {"incarnation=zz\nreplicas=1\n", "incarnation=1\nreplicas=1,x\n",
        "incarnation=1\nreplicas=1\nsegments=1:2\n", "incarnation=1\nno equals sign\n",
        "replicas=1,2,3\n", "incarnation=1\n"}) {
    auto r = DecodeQueueMeta(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsCorruption()) << bad;
  }
}

TEST(QueueMetaTest, NodeInfoRoundTripsAndNeedsAHost) {
  NodeInfo n{2, "10.0.0.7", 2224, 22133, 2229, 2222, 2223};
  auto back = DecodeNodeInfo(EncodeNodeInfo(n));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, n);
  EXPECT_FALSE(DecodeNodeInfo("id=2\nmemcache=1\n").ok());
  EXPECT_FALSE(DecodeNodeInfo("id=2\nhost=h\nthrift=-\n").ok());
}

TEST(QueueMetaTest, CutPointIsTheStartOfTheFirstLaterEpoch) {
  const std::vector<SegmentInfo> segs = {{1, 1, 3}, {4, 101, 1}, {7, 2001, 2}};
  EXPECT_EQ(CutPoint(segs, 1), 101u);  // its epoch-1 tail beyond 100 was never acknowledged
  EXPECT_EQ(CutPoint(segs, 3), 101u);  // an epoch that claimed but never opened a segment
  EXPECT_EQ(CutPoint(segs, 4), 2001u);
  EXPECT_EQ(CutPoint(segs, 7), UINT64_MAX);  // the current epoch: nothing to cut
  EXPECT_EQ(CutPoint(segs, 0), 1u);
  EXPECT_EQ(CutPoint({}, 5), UINT64_MAX);
}

TEST(QueueMetaTest, QuorumEndIsTheQuorumthLargest) {
  EXPECT_EQ(QuorumEnd({10, 30, 20}, 1), 30u);
  EXPECT_EQ(QuorumEnd({10, 30, 20}, 2), 20u);
  EXPECT_EQ(QuorumEnd({10, 30, 20}, 3), 10u);
  EXPECT_EQ(QuorumEnd({10, 30}, 3), 0u);  // fewer replicas known than the quorum
  EXPECT_EQ(QuorumEnd({10, 30}, 0), 0u);
  EXPECT_EQ(QuorumEnd({5, 5, 5}, 2), 5u);
}

TEST(QueueMetaTest, QuorumsAndCoverage) {
  EXPECT_EQ(AckQuorum(3, 0), 2u);
  EXPECT_EQ(AckQuorum(5, 0), 3u);
  EXPECT_EQ(AckQuorum(1, 0), 1u);
  EXPECT_EQ(AckQuorum(3, 3), 3u);
  EXPECT_EQ(AckQuorum(3, 9), 3u);  // never more than the replicas
  EXPECT_EQ(FenceCoverage(3, 2), 2u);
  EXPECT_EQ(FenceCoverage(3, 3), 1u);
  EXPECT_EQ(FenceCoverage(3, 1), 3u);
  EXPECT_EQ(FenceCoverage(5, 3), 3u);
}

TEST(QueueMetaTest, PlacementPutsTheCreatorFirstAndSpreadsQueues) {
  // The order ZooKeeper lists the live nodes in does not matter.
  EXPECT_EQ(Place("q", 2, {3, 2, 1}, 3), Place("q", 2, {1, 2, 3}, 3));
  for (const char* name : {"a", "jobs", "sms.out", "push"}) {
    auto set = Place(name, 2, {1, 2, 3, 4, 5}, 3);
    ASSERT_EQ(set.size(), 3u) << name;
    EXPECT_EQ(set[0], 2);
    EXPECT_EQ(std::set<int>(set.begin(), set.end()).size(), 3u) << name;  // no node twice
  }
  EXPECT_EQ(Place("q", 1, {1}, 3), std::vector<int>{1});  // fewer live nodes than replicas
  EXPECT_EQ(Place("q", 1, {1, 2}, 1), std::vector<int>{1});
  // Many queues created on one node spread their other replicas over every other node.
  std::set<int> seconds;
  for (int i = 0; i < 50; i++)
    seconds.insert(Place("q" + std::to_string(i), 1, {1, 2, 3, 4}, 2)[1]);
  EXPECT_EQ(seconds, (std::set<int>{2, 3, 4}));
}

}  // namespace
}  // namespace saker::replication

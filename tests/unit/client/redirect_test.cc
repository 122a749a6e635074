// The client's reading of a cluster's refusals (client/redirect.h): the leader's Thrift address
// in replication/cluster.cc's NOT_LEADER message, and which UNAVAILABLE answers it waits out.
#include "client/redirect.h"

#include <gtest/gtest.h>

namespace saker::client {
namespace {

TEST(RedirectTest, LeaderAddressIsTheThriftWord) {
  EXPECT_EQ(LeaderAddress("queue q is led by node 1: thrift=127.0.0.1:7103 "
                          "memcache=127.0.0.1:7102 text=127.0.0.1:7104"),
            "127.0.0.1:7103");
}

TEST(RedirectTest, LeaderAddressAtTheEndOrAlone) {
  EXPECT_EQ(LeaderAddress("memcache=h:1 thrift=node-2.example:2229"), "node-2.example:2229");
  EXPECT_EQ(LeaderAddress("thrift=h:65535"), "h:65535");
}

TEST(RedirectTest, LeaderAddressKeepsAnIpv6Host) {
  EXPECT_EQ(LeaderAddress("queue q is led by node 3: thrift=::1:2229 memcache=::1:22133"),
            "::1:2229");
}

TEST(RedirectTest, NoLeaderAddressWithoutAThriftWord) {
  EXPECT_EQ(LeaderAddress(""), std::nullopt);
  EXPECT_EQ(LeaderAddress("queue q is led by node 1, which is not reachable now"), std::nullopt);
  EXPECT_EQ(LeaderAddress("queue q is led by node 1: memcache=h:1 text=h:2"), std::nullopt);
  // Part of another word is not the key.
  EXPECT_EQ(LeaderAddress("nothrift=h:1"), std::nullopt);
}

TEST(RedirectTest, NoLeaderAddressWithABadHostOrPort) {
  EXPECT_EQ(LeaderAddress("thrift= memcache=h:1"), std::nullopt);
  EXPECT_EQ(LeaderAddress("thrift=h"), std::nullopt);
  EXPECT_EQ(LeaderAddress("thrift=:2229"), std::nullopt);
  EXPECT_EQ(LeaderAddress("thrift=h:"), std::nullopt);
  EXPECT_EQ(LeaderAddress("thrift=h:0"), std::nullopt);
  EXPECT_EQ(LeaderAddress("thrift=h:65536"), std::nullopt);
  EXPECT_EQ(LeaderAddress("thrift=h:22x9"), std::nullopt);
  EXPECT_EQ(LeaderAddress("thrift=h:1234567"), std::nullopt);
}

TEST(RedirectTest, AWordAfterAFalseStartStillCounts) {
  EXPECT_EQ(LeaderAddress("xthrift=a:1 thrift=b:2"), "b:2");
}

TEST(RedirectTest, OnlyAnOperatorsStatusIsFinal) {
  EXPECT_TRUE(UnavailableMayClear("queue q has no leader yet"));
  EXPECT_TRUE(UnavailableMayClear("not connected to ZooKeeper"));
  EXPECT_TRUE(UnavailableMayClear("queue q needs 2 live nodes for its quorum; 1 are up"));
  EXPECT_FALSE(UnavailableMayClear("server is READONLY"));
  EXPECT_FALSE(UnavailableMayClear("server is QUIESCENT"));
}

}  // namespace
}  // namespace saker::client

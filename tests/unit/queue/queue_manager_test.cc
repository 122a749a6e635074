// Tests of server/queue: one test per rule of docs/SEMANTICS.md, with a FakeClock.
#include "server/queue/queue_manager.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/queue/queue_test_util.h"

namespace saker::queue {
namespace {

using Strings = std::vector<std::string>;

class QueueManagerTest : public ::testing::Test {
 protected:
  void SetUp() override { h_.Start(); }
  saker::test::TempDir dir_;
  test::EngineHarness h_{dir_.path()};
};

TEST(QueueNameTest, RulesOfDesign) {
  EXPECT_TRUE(IsValidName("orders"));
  EXPECT_TRUE(IsValidName("a.b:c-d_E9"));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName(std::string(201, 'a')));
  EXPECT_TRUE(IsValidName(std::string(200, 'a')));
  EXPECT_FALSE(IsValidName("a/b"));
  EXPECT_FALSE(IsValidName("a b"));
  auto n = ParseQueueName("orders+audit");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->queue, "orders");
  EXPECT_EQ(n->subscription, "audit");
  EXPECT_FALSE(ParseQueueName("orders+").ok());
  EXPECT_FALSE(ParseQueueName("+x").ok());
  EXPECT_FALSE(ParseQueueName("a+b+c").ok());
}

TEST_F(QueueManagerTest, PutThenPlainGetInOrderWithDenseOffsets) {
  auto r = h_.Put("q", Strings{"a", "b", "c"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 3u);
  EXPECT_EQ(r->offsets, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(h_.Take("q", 2), (Strings{"a", "b"}));
  EXPECT_EQ(h_.Take("q"), (Strings{"c"}));
  EXPECT_TRUE(h_.Take("q").empty());
  EXPECT_EQ(h_->ListQueues(), (Strings{"q"}));
}

TEST_F(QueueManagerTest, BadNamesAreRefused) {
  auto r = h_.Put("bad name", Strings{"a"});
  EXPECT_TRUE(r.status().IsInvalidArgument());
  auto g = h_.Get("q/x");
  EXPECT_TRUE(g.status().IsInvalidArgument());
}

TEST_F(QueueManagerTest, BatchPutAcceptsPrefixUpToOversizedItem) {
  QueueConfig cfg = h_.config().defaults;
  cfg.max_item_size = 3;
  ASSERT_TRUE(h_->SetQueueConfig("q", cfg).ok());
  auto r = h_.Put("q", Strings{"abc", "abcd", "x"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 1u);
  EXPECT_TRUE(r->refused.IsInvalidArgument());
  EXPECT_EQ(h_.Take("q"), (Strings{"abc"}));
}

TEST_F(QueueManagerTest, FullQueueRejectsByDefault) {
  QueueConfig cfg = h_.config().defaults;
  cfg.max_items = 2;
  ASSERT_TRUE(h_->SetQueueConfig("q", cfg).ok());
  auto r = h_.Put("q", Strings{"a", "b", "c"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_TRUE(r->refused.IsBusy());
  EXPECT_EQ(h_.Take("q", 1), (Strings{"a"}));
  h_.PutOk("q", {"d"});
  EXPECT_EQ(h_.Take("q"), (Strings{"b", "d"}));
}

TEST_F(QueueManagerTest, MaxBytesCountsPayloadBytes) {
  QueueConfig cfg = h_.config().defaults;
  cfg.max_bytes = 5;
  ASSERT_TRUE(h_->SetQueueConfig("q", cfg).ok());
  auto r = h_.Put("q", Strings{"abc", "de", "f"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 2u);
}

TEST_F(QueueManagerTest, DropOldestMovesEverySubscriptionAndCountsDrops) {
  QueueConfig cfg = h_.config().defaults;
  cfg.max_items = 2;
  cfg.when_full = WhenFull::kDropOldest;
  ASSERT_TRUE(h_->SetQueueConfig("q", cfg).ok());
  ASSERT_TRUE(h_->CreateSubscription("q", "s", StartPosition::Earliest()).ok());
  h_.PutOk("q", {"a", "b", "c", "d"});
  EXPECT_EQ(h_.Take("q"), (Strings{"c", "d"}));
  EXPECT_EQ(h_.Take("q+s"), (Strings{"c", "d"}));
  auto st = h_->GetQueueStats("q");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->dropped, 2u);
  EXPECT_EQ(st->subscriptions[0].dropped, 2u);
  EXPECT_EQ(st->subscriptions[1].dropped, 2u);
}

TEST_F(QueueManagerTest, AckedLeaseIsNeverRedelivered) {
  h_.PutOk("q", {"a", "b"});
  auto g = h_.Lease("q");
  ASSERT_EQ(g.payloads, (Strings{"a"}));
  EXPECT_NE(g.leases[0], 0u);
  EXPECT_EQ(g.counts[0], 1u);
  EXPECT_EQ(h_->Ack(g.leases), 1u);
  EXPECT_EQ(h_->Ack(g.leases), 0u);  // twice: unknown the second time
  EXPECT_EQ(h_.Take("q"), (Strings{"b"}));
}

TEST_F(QueueManagerTest, AbortRedeliversLowestOffsetFirstWithCount) {
  h_.PutOk("q", {"a", "b", "c"});
  auto g = h_.Lease("q", 2);
  ASSERT_EQ(g.payloads, (Strings{"a", "b"}));
  EXPECT_EQ(h_->Abort(std::vector<uint64_t>{g.leases[1]}), 1u);
  EXPECT_EQ(h_->Abort(std::vector<uint64_t>{g.leases[0]}), 1u);
  auto again = h_.Lease("q", 3);
  EXPECT_EQ(again.payloads, (Strings{"a", "b", "c"}));
  EXPECT_EQ(again.counts, (std::vector<uint32_t>{2, 2, 1}));
}

TEST_F(QueueManagerTest, LeaseExpiryMakesItemDeliverableAgain) {
  h_.PutOk("q", {"a"});
  auto g = h_.Lease("q", 1, 1000);
  ASSERT_EQ(g.payloads.size(), 1u);
  EXPECT_TRUE(h_.Take("q").empty());
  h_.Advance(999);
  EXPECT_TRUE(h_.Take("q").empty());
  h_.Advance(1);
  EXPECT_EQ(h_.Take("q"), (Strings{"a"}));
  EXPECT_EQ(h_->Ack(g.leases), 0u);  // the expired lease is gone
}

TEST_F(QueueManagerTest, ExtendPushesTheLeaseDeadline) {
  h_.PutOk("q", {"a"});
  auto g = h_.Lease("q", 1, 1000);
  h_.Advance(900);
  EXPECT_EQ(h_->Extend(g.leases, 1000), 1u);
  h_.Advance(900);
  EXPECT_TRUE(h_.Take("q").empty());
  EXPECT_EQ(h_->Ack(g.leases), 1u);
}

TEST_F(QueueManagerTest, QueueLeaseTimeoutAppliesToReliableReads) {
  QueueConfig cfg = h_.config().defaults;
  cfg.lease_timeout_ms = 500;
  ASSERT_TRUE(h_->SetQueueConfig("q", cfg).ok());
  h_.PutOk("q", {"a"});
  h_.Lease("q");
  h_.Advance(500);
  EXPECT_EQ(h_.Take("q"), (Strings{"a"}));
}

TEST_F(QueueManagerTest, RedeliveryDelayFollowsBackoffSchedule) {
  QueueConfig cfg = h_.config().defaults;
  cfg.redelivery_backoff_ms = {100, 1000};
  ASSERT_TRUE(h_->SetQueueConfig("q", cfg).ok());
  h_.PutOk("q", {"a"});
  auto g = h_.Lease("q");
  h_->Abort(g.leases);
  EXPECT_TRUE(h_.Take("q").empty());
  h_.Advance(100);
  g = h_.Lease("q");
  ASSERT_EQ(g.counts, (std::vector<uint32_t>{2}));
  h_->Abort(g.leases);
  h_.Advance(999);
  EXPECT_TRUE(h_.Take("q").empty());
  h_.Advance(1);
  g = h_.Lease("q");
  ASSERT_EQ(g.counts, (std::vector<uint32_t>{3}));
  h_->Abort(g.leases);  // the last step repeats
  h_.Advance(999);
  EXPECT_TRUE(h_.Take("q").empty());
  h_.Advance(1);
  EXPECT_EQ(h_.Take("q"), (Strings{"a"}));
}

TEST_F(QueueManagerTest, ExplicitAbortDelayOverridesPolicy) {
  h_.PutOk("q", {"a"});
  auto g = h_.Lease("q");
  h_->Abort(g.leases, 50);
  EXPECT_TRUE(h_.Take("q").empty());
  h_.Advance(50);
  EXPECT_EQ(h_.Take("q"), (Strings{"a"}));
}

TEST_F(QueueManagerTest, MaxDeliveriesSendsToDeadLetterQueueAndAcks) {
  QueueConfig cfg = h_.config().defaults;
  cfg.max_deliveries = 2;
  ASSERT_TRUE(h_->SetQueueConfig("q", cfg).ok());
  h_.PutOk("q", {"poison", "ok"});
  h_->Abort(h_.Lease("q").leases);
  h_->Abort(h_.Lease("q").leases);
  h_.Settle();
  h_.RunUntil([&] { return h_->GetQueueStats("q.dlq")->items == 1; });
  EXPECT_EQ(h_.Take("q.dlq"), (Strings{"poison"}));
  EXPECT_EQ(h_.Take("q"), (Strings{"ok"}));
  auto st = h_->GetQueueStats("q");
  EXPECT_EQ(st->subscriptions[0].dead_lettered, 1u);
}

TEST_F(QueueManagerTest, ExpiredItemsAreSkippedAndCounted) {
  const int64_t now = h_.clock().NowWallMs();
  ASSERT_TRUE(h_.Put("q", std::vector<PutItem>{{"old", now + 100, ""}, {"new", 0, ""}}).ok());
  h_.Advance(100);
  EXPECT_EQ(h_.Take("q"), (Strings{"new"}));
  EXPECT_EQ(h_->GetQueueStats("q")->subscriptions[0].expired, 1u);
}

TEST_F(QueueManagerTest, MaxAgeCapsLifetime) {
  QueueConfig cfg = h_.config().defaults;
  cfg.max_age_ms = 1000;
  ASSERT_TRUE(h_->SetQueueConfig("q", cfg).ok());
  h_.PutOk("q", {"a"});
  h_.Advance(1000);
  EXPECT_TRUE(h_.Take("q").empty());
}

TEST_F(QueueManagerTest, ExpireToMovesExpiredItems) {
  QueueConfig cfg = h_.config().defaults;
  cfg.max_age_ms = 1000;
  cfg.expire_to = "ready";
  ASSERT_TRUE(h_->SetQueueConfig("pending", cfg).ok());
  h_.PutOk("pending", {"job"});
  h_.Advance(1000);
  auto n = h_->FlushExpired("pending");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  h_.RunUntil([&] { return h_->GetQueueStats("ready")->items == 1; });
  EXPECT_EQ(h_.Take("ready"), (Strings{"job"}));
  EXPECT_TRUE(h_.Take("pending").empty());
}

TEST(QueueExpiryTimerTest, MovesExpiredHeadsWithNobodyReadingAndStopsAtALiveItem) {
  saker::test::TempDir dir;
  test::EngineHarness h(dir.path());
  h.config().expiry_sweep_ms = 100;
  h.Start();
  QueueConfig cfg = h.config().defaults;
  cfg.max_age_ms = 1000;
  cfg.expire_to = "ready";
  ASSERT_TRUE(h->SetQueueConfig("pending", cfg).ok());
  h.PutOk("pending", {"a", "b"});
  h.Advance(500);
  h.PutOk("pending", {"c"});
  h.Advance(600);  // a and b are past max_age_ms, c is not
  h.RunUntil([&] { return h->GetQueueStats("ready")->items == 2; });
  EXPECT_EQ(h->GetQueueStats("pending")->items, 1u);
  h.Advance(500);
  h.RunUntil([&] { return h->GetQueueStats("ready")->items == 3; });
  EXPECT_EQ(h.Take("ready"), (Strings{"a", "b", "c"}));
  EXPECT_EQ(h->GetQueueStats("pending")->items, 0u);
}

TEST_F(QueueManagerTest, BlockingGetIsServedByLaterPutInArrivalOrder) {
  std::vector<std::string> first, second;
  GetOptions o;
  o.timeout_ms = -1;
  GetHandle h1 = h_->Get("q", o, [&](Result<std::vector<Delivery>> r) {
    for (auto& d : *r) first.emplace_back(d.payload);
  });
  GetHandle h2 = h_->Get("q", o, [&](Result<std::vector<Delivery>> r) {
    for (auto& d : *r) second.emplace_back(d.payload);
  });
  EXPECT_NE(h1, 0u);
  EXPECT_NE(h2, 0u);
  h_.PutOk("q", {"a"});
  h_.RunUntil([&] { return !first.empty(); });
  EXPECT_EQ(first, (Strings{"a"}));
  EXPECT_TRUE(second.empty());
  h_.PutOk("q", {"b"});
  h_.RunUntil([&] { return !second.empty(); });
  EXPECT_EQ(second, (Strings{"b"}));
}

TEST_F(QueueManagerTest, BlockingGetTimesOutEmpty) {
  bool done = false;
  size_t n = 99;
  GetOptions o;
  o.timeout_ms = 500;
  h_->Get("q", o, [&](Result<std::vector<Delivery>> r) {
    done = true;
    n = r->size();
  });
  h_.Advance(499);
  EXPECT_FALSE(done);
  h_.Advance(1);
  EXPECT_TRUE(done);
  EXPECT_EQ(n, 0u);
}

TEST_F(QueueManagerTest, FillModeWaitsForMaxItemsOrDeadline) {
  std::vector<std::string> got;
  bool done = false;
  GetOptions o;
  o.max_items = 3;
  o.timeout_ms = 1000;
  o.fill = true;
  h_->Get("q", o, [&](Result<std::vector<Delivery>> r) {
    for (auto& d : *r) got.emplace_back(d.payload);
    done = true;
  });
  h_.PutOk("q", {"a"});
  h_.PutOk("q", {"b"});
  EXPECT_FALSE(done);
  h_.Advance(1000);
  EXPECT_TRUE(done);
  EXPECT_EQ(got, (Strings{"a", "b"}));
}

TEST_F(QueueManagerTest, FillModeReturnsOnceFull) {
  size_t n = 0;
  GetOptions o;
  o.max_items = 2;
  o.timeout_ms = 1000;
  o.fill = true;
  h_->Get("q", o, [&](Result<std::vector<Delivery>> r) { n = r->size(); });
  h_.PutOk("q", {"a", "b"});
  h_.RunUntil([&] { return n == 2; });
}

TEST_F(QueueManagerTest, CancelledWaiterIsDroppedAndReleasesWhatItHeld) {
  GetOptions o;
  o.max_items = 5;
  o.timeout_ms = -1;
  o.fill = true;
  bool called = false;
  GetHandle h = h_->Get("q", o, [&](Result<std::vector<Delivery>>) { called = true; });
  h_.PutOk("q", {"a"});
  EXPECT_TRUE(h_->CancelGet(h));
  EXPECT_FALSE(h_->CancelGet(h));
  h_.Settle();
  EXPECT_FALSE(called);
  EXPECT_EQ(h_.Take("q"), (Strings{"a"}));
  EXPECT_EQ(h_->GetQueueStats("q")->subscriptions[0].waiters, 0u);
}

TEST_F(QueueManagerTest, PeekDoesNotConsume) {
  h_.PutOk("q", {"a", "b"});
  GetOptions o;
  o.peek = true;
  auto g = h_.Get("q", o);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->payloads, (Strings{"a"}));
  EXPECT_EQ(h_.Take("q"), (Strings{"a", "b"}));
}

TEST_F(QueueManagerTest, MaxUnackedStopsHandingOut) {
  QueueConfig cfg = h_.config().defaults;
  cfg.max_unacked = 2;
  ASSERT_TRUE(h_->SetQueueConfig("q", cfg).ok());
  h_.PutOk("q", {"a", "b", "c"});
  auto g = h_.Lease("q", 3);
  EXPECT_EQ(g.payloads.size(), 2u);
  EXPECT_TRUE(h_.Lease("q").payloads.empty());
  h_->Ack(std::vector<uint64_t>{g.leases[0]});
  EXPECT_EQ(h_.Lease("q").payloads, (Strings{"c"}));
}

TEST_F(QueueManagerTest, SubscriptionsEachSeeEveryItem) {
  h_.PutOk("q", {"a"});
  // First reference creates at latest: "a" is not seen by s.
  EXPECT_TRUE(h_.Take("q+s").empty());
  ASSERT_TRUE(h_->CreateSubscription("q", "e", StartPosition::Earliest()).ok());
  EXPECT_FALSE(h_->CreateSubscription("q", "e", StartPosition::Earliest()).ok());
  h_.PutOk("q", {"b"});
  EXPECT_EQ(h_.Take("q"), (Strings{"a", "b"}));
  EXPECT_EQ(h_.Take("q+s"), (Strings{"b"}));
  EXPECT_EQ(h_.Take("q+e"), (Strings{"a", "b"}));
}

TEST_F(QueueManagerTest, AcksOnOneSubscriptionNeverAffectAnother) {
  ASSERT_TRUE(h_->CreateSubscription("q", "s", StartPosition::Earliest()).ok());
  h_.PutOk("q", {"a"});
  h_->Ack(h_.Lease("q").leases);
  EXPECT_EQ(h_.Take("q+s"), (Strings{"a"}));
}

TEST_F(QueueManagerTest, CreateAtOffsetAndTimestamp) {
  h_.PutOk("q", {"a"});
  h_.Advance(1000);
  const int64_t t = h_.clock().NowWallMs();
  h_.PutOk("q", {"b", "c"});
  ASSERT_TRUE(h_->CreateSubscription("q", "o", StartPosition::Offset(3)).ok());
  ASSERT_TRUE(h_->CreateSubscription("q", "t", StartPosition::Timestamp(t)).ok());
  EXPECT_EQ(h_.Take("q+o"), (Strings{"c"}));
  EXPECT_EQ(h_.Take("q+t"), (Strings{"b", "c"}));
}

TEST_F(QueueManagerTest, SeekMovesTheCursorBothWays) {
  h_.PutOk("q", {"a", "b", "c"});
  EXPECT_EQ(h_.Take("q").size(), 3u);
  ASSERT_TRUE(h_->Seek("q", StartPosition::Offset(2)).ok());
  EXPECT_EQ(h_.Take("q"), (Strings{"b", "c"}));
  ASSERT_TRUE(h_->Seek("q", StartPosition::Latest()).ok());
  EXPECT_TRUE(h_.Take("q").empty());
}

TEST_F(QueueManagerTest, DeleteSubscriptionAndListWithLag) {
  ASSERT_TRUE(h_->CreateSubscription("q", "s", StartPosition::Earliest()).ok());
  h_.PutOk("q", {"a", "b"});
  h_.Advance(250);
  h_.Take("q", 1);
  auto list = h_->ListSubscriptions("q");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "");
  EXPECT_EQ((*list)[0].depth, 1u);
  EXPECT_EQ((*list)[1].name, "s");
  EXPECT_EQ((*list)[1].depth, 2u);
  EXPECT_EQ((*list)[1].oldest_age_ms, 250);
  ASSERT_TRUE(h_->DeleteSubscription("q", "s").ok());
  EXPECT_TRUE(h_->DeleteSubscription("q", "s").IsNotFound());
  EXPECT_TRUE(h_->DeleteSubscription("q", "").IsInvalidArgument());
  EXPECT_EQ(h_->ListSubscriptions("q")->size(), 1u);
}

TEST_F(QueueManagerTest, OwnerHelpersFollowKestrelOpenCloseAbort) {
  h_.PutOk("q", {"a", "b", "c"});
  const uint64_t conn = 7;
  h_.Lease("q", 1, 0, conn);
  h_.Lease("q", 1, 0, conn);
  EXPECT_EQ(h_->OwnerLeaseCount(conn, "q"), 2u);
  EXPECT_TRUE(h_->ConfirmOldest(conn, "q").value());  // confirms "a"
  EXPECT_TRUE(h_->AbortOldest(conn, "q").value());    // "b" goes back
  EXPECT_FALSE(h_->AbortOldest(conn, "q").value());
  h_.Lease("q", 2, 0, conn);  // b, c
  EXPECT_FALSE(h_->ConfirmCount(conn, "q", 3).value());
  EXPECT_EQ(h_->ReleaseOwner(conn), 2u);  // connection closed
  EXPECT_EQ(h_->OwnerLeaseCount(conn, "q"), 0u);
  EXPECT_EQ(h_.Take("q"), (Strings{"b", "c"}));
}

TEST_F(QueueManagerTest, ConfirmCountAcksOldestFirst) {
  h_.PutOk("q", {"a", "b", "c"});
  h_.Lease("q", 3, 0, 1);
  EXPECT_TRUE(h_->ConfirmCount(1, "q", 2).value());
  EXPECT_EQ(h_->ReleaseOwner(1), 1u);
  EXPECT_EQ(h_.Take("q"), (Strings{"c"}));
}

TEST_F(QueueManagerTest, StatusRulesAndPersistence) {
  h_.PutOk("q", {"a", "b"});
  auto g = h_.Lease("q");
  h_->SetStatus(ServerStatus::kReadOnly);
  EXPECT_TRUE(h_.Put("q", Strings{"x"}).status().IsUnavailable());
  EXPECT_TRUE(h_->Flush("q").IsUnavailable());
  EXPECT_TRUE(h_->DeleteQueue("q").IsUnavailable());
  EXPECT_TRUE(h_->FlushExpired("q").status().IsUnavailable());
  EXPECT_EQ(h_.Take("q"), (Strings{"b"}));  // reads still work
  h_->SetStatus(ServerStatus::kQuiescent);
  EXPECT_TRUE(h_.Get("q").status().IsUnavailable());
  EXPECT_EQ(h_->Ack(g.leases), 1u);  // acks always work
  h_.Restart();
  EXPECT_EQ(h_->status(), ServerStatus::kQuiescent);
  h_->SetStatus(ServerStatus::kUp);
  h_.PutOk("q", {"c"});
}

TEST_F(QueueManagerTest, FlushAcksEverythingIncludingLeases) {
  h_.PutOk("q", {"a", "b"});
  auto g = h_.Lease("q");
  ASSERT_TRUE(h_->Flush("q").ok());
  EXPECT_TRUE(h_.Take("q").empty());
  EXPECT_EQ(h_->Ack(g.leases), 0u);
  h_.PutOk("q", {"c"});
  EXPECT_EQ(h_.Take("q"), (Strings{"c"}));
}

TEST_F(QueueManagerTest, DeleteQueueRemovesItsFilesAndWakesWaiters) {
  h_.PutOk("q", {"a"});
  h_.Commit();
  auto st = h_->GetQueueStats("q");
  const std::string folder = dir_.Join(std::to_string(st->id));
  EXPECT_TRUE(std::filesystem::exists(folder));
  Status got;
  GetOptions o;
  o.timeout_ms = -1;
  h_->Get("q+s", o, [&](Result<std::vector<Delivery>> r) { got = r.status(); });
  std::optional<Status> deleted;
  ASSERT_TRUE(h_->DeleteQueue("q", [&](Status s) { deleted = s; }).ok());
  h_.Settle();
  EXPECT_TRUE(got.IsNotFound());
  h_.RunUntil([&] { return deleted.has_value(); });
  EXPECT_TRUE(deleted.value_or(Status::Timeout("delete")).ok());
  EXPECT_FALSE(std::filesystem::exists(folder));
  EXPECT_TRUE(h_->ListQueues().empty());
  // A new queue of the same name starts empty.
  EXPECT_TRUE(h_.Take("q").empty());
}

TEST_F(QueueManagerTest, IdempotencyKeyReturnsOriginalOffsetAcrossRestart) {
  auto r = h_.Put("q", std::vector<PutItem>{{"a", 0, "k1"}, {"b", 0, ""}});
  ASSERT_TRUE(r.ok());
  auto again = h_.Put("q", std::vector<PutItem>{{"a2", 0, "k1"}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->offsets, (std::vector<uint64_t>{1}));
  // Crash-like: the key was never committed to meta.db, only written to the log.
  h_.Restart();
  again = h_.Put("q", std::vector<PutItem>{{"a3", 0, "k1"}});
  EXPECT_EQ(again->offsets, (std::vector<uint64_t>{1}));
  h_.Commit();
  h_.Restart();
  again = h_.Put("q", std::vector<PutItem>{{"a4", 0, "k1"}});
  EXPECT_EQ(again->offsets, (std::vector<uint64_t>{1}));
  h_.Advance(60'001);
  again = h_.Put("q", std::vector<PutItem>{{"a5", 0, "k1"}});
  EXPECT_EQ(again->offsets, (std::vector<uint64_t>{3}));
  EXPECT_EQ(h_.Take("q"), (Strings{"a", "b", "a5"}));
}

TEST_F(QueueManagerTest, RestartKeepsAcksAndRedeliversOpenLeases) {
  ASSERT_TRUE(h_->CreateSubscription("q", "s", StartPosition::Earliest()).ok());
  h_.PutOk("q", {"a", "b", "c", "d"});
  auto g = h_.Lease("q", 3);
  h_->Ack(std::vector<uint64_t>{g.leases[0], g.leases[2]});  // a, c acked; b open
  h_.Take("q+s", 1);
  const uint64_t old_lease = g.leases[1];
  h_.Restart();
  auto again = h_.Lease("q", 10);
  EXPECT_EQ(again.payloads, (Strings{"b", "d"}));
  EXPECT_EQ(again.counts, (std::vector<uint32_t>{2, 1}));  // delivery counts are durable
  for (uint64_t id : again.leases) EXPECT_NE(id, old_lease);
  EXPECT_EQ(h_.Take("q+s"), (Strings{"b", "c", "d"}));
}

TEST_F(QueueManagerTest, RestartOpensManyQueuesInParallelAndKeepsEachOnesItems) {
  // Over 256 queues: recovery opens their logs on several threads (OpenLogsInParallel).
  constexpr int kQueues = 700;
  for (int i = 0; i < kQueues; ++i) {
    std::string n = std::to_string(i);
    h_.PutOk("many" + n, {"a" + n, "b" + n});
  }
  ASSERT_TRUE(h_->CreateSubscription("many7", "s", StartPosition::Earliest()).ok());
  h_.Take("many7", 1);
  h_.Restart();
  EXPECT_EQ(h_->ListQueues().size(), static_cast<size_t>(kQueues));
  for (int i = 0; i < kQueues; ++i) {
    std::string n = std::to_string(i);
    Strings expected = i == 7 ? Strings{"b7"} : Strings{"a" + n, "b" + n};
    ASSERT_EQ(h_.Take("many" + n), expected) << i;
  }
  EXPECT_EQ(h_.Take("many7+s"), (Strings{"a7", "b7"}));
  h_.PutOk("many699", {"c699"});
  EXPECT_EQ(h_.Take("many699"), (Strings{"c699"}));
}

TEST_F(QueueManagerTest, LeaseIdsAreUniqueAcrossRestarts) {
  h_.PutOk("q", {"a"});
  auto g1 = h_.Lease("q");
  h_.Restart();
  auto g2 = h_.Lease("q");
  ASSERT_EQ(g2.leases.size(), 1u);
  EXPECT_NE(g1.leases[0], g2.leases[0]);
  EXPECT_EQ(h_->Ack(g1.leases), 0u);
  EXPECT_EQ(h_->Ack(g2.leases), 1u);
}

TEST_F(QueueManagerTest, RetentionDeletesSegmentsBelowEveryAckFloor) {
  h_.Stop();
  h_.config().config_for = [this](std::string_view) {
    QueueConfig cfg = h_.config().defaults;
    cfg.segment_bytes = 4096;
    return cfg;
  };
  h_.Start();
  ASSERT_TRUE(h_->CreateSubscription("q", "slow", StartPosition::Earliest()).ok());
  for (int i = 0; i < 20; i++) h_.PutOk("q", {std::string(1000, 'x')});
  const uint64_t before = h_->GetQueueStats("q")->log_bytes;
  EXPECT_EQ(h_.Take("q").size(), 20u);
  h_.Commit();
  h_.Commit();
  EXPECT_EQ(h_->GetQueueStats("q")->first_offset, 1u);  // "slow" holds everything
  EXPECT_EQ(h_.Take("q+slow").size(), 20u);
  h_.Commit();
  h_.Commit();
  auto st = h_->GetQueueStats("q");
  EXPECT_GT(st->first_offset, 1u);
  EXPECT_LT(st->log_bytes, before);
}

TEST_F(QueueManagerTest, EvictedBatchesAreReadBackFromTheLog) {
  h_.Stop();
  h_.config().tail_cache_bytes = 2048;
  h_.config().cold_cache_bytes = 2048;
  h_.Start();
  for (int i = 0; i < 10; i++) h_.PutOk("q", {std::string(500, static_cast<char>('a' + i))});
  auto got = h_.Take("q", 10);
  // Whatever was evicted comes back through cold reads, in order.
  std::vector<std::string> all = got;
  while (all.size() < 10) {
    auto more = h_.Take("q", 10);
    ASSERT_FALSE(more.empty());
    all.insert(all.end(), more.begin(), more.end());
  }
  for (int i = 0; i < 10; i++) EXPECT_EQ(all[i][0], static_cast<char>('a' + i));
}

// A queue's big put rounds go out with O_DIRECT while its subscriptions read from the tail
// cache, and through the page cache while one is behind it (it will read them from disk).
TEST_F(QueueManagerTest, PutsGoDirectOnlyWhileSubscriptionsKeepUp) {
  if (!saker::test::DirectIoWorks(dir_.path())) GTEST_SKIP() << "no O_DIRECT here";
  h_.Stop();
  h_.config().tail_cache_bytes = 256 << 10;
  h_.config().direct_io_min_bytes = 8 << 10;
  h_.config().defaults.sync = storage::SyncPolicy{};  // always: only those go direct
  h_.Start();
  const std::vector<std::string> put(4, std::string(4000, 'x'));  // one 16 KB round a put
  auto direct_writes = [&](const char* q) { return h_->GetQueueStats(q)->log_direct_writes; };
  // Past the first MiB of a segment its tail is zero-filled, and rounds may go direct.
  for (int i = 0; i < 400; i++) {
    h_.PutOk("keeps-up", put);
    ASSERT_EQ(h_.Take("keeps-up", 4).size(), 4u);
    h_.PutOk("behind", put);
  }
  EXPECT_GT(direct_writes("keeps-up"), 0u);
  EXPECT_EQ(direct_writes("behind"), 0u);
  // Once "behind" has caught up, its puts go direct too.
  while (!h_.Take("behind", 100).empty()) {
  }
  for (int i = 0; i < 50; i++) {
    h_.PutOk("behind", put);
    ASSERT_EQ(h_.Take("behind", 4).size(), 4u);
  }
  EXPECT_GT(direct_writes("behind"), 0u);
}

TEST_F(QueueManagerTest, StatsCountDeliveriesAndAcks) {
  h_.PutOk("q", {"a", "b"});
  auto g = h_.Lease("q", 2);
  h_->Ack(std::vector<uint64_t>{g.leases[0]});
  h_->Abort(std::vector<uint64_t>{g.leases[1]});
  h_.Take("q");
  auto st = h_->GetQueueStats("q");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->put, 2u);
  const SubscriptionStats& s = st->subscriptions[0];
  EXPECT_EQ(s.delivered, 3u);
  EXPECT_EQ(s.redelivered, 1u);
  EXPECT_EQ(s.acked, 2u);
  EXPECT_EQ(s.aborted, 1u);
  EXPECT_EQ(s.depth, 0u);
  EXPECT_EQ(st->items, 0u);
}

}  // namespace
}  // namespace saker::queue

namespace saker::queue {
namespace {

size_t OpenFds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n++;
  return n;
}

TEST(QueueManagerManyQueuesTest, IdleQueuesHoldNoDescriptors) {
  saker::test::TempDir dir;
  test::EngineHarness h(dir.path());
  h.config().max_open_files = 8;
  h.Start();
  const size_t before = OpenFds();
  // Queues created in one loop iteration share one meta.db commit.
  int stored = 0;
  for (int i = 0; i < 50; i++) {
    h->Put("q" + std::to_string(i), std::vector<PutItem>{{"x", 0, ""}},
           [&](Result<PutResult> r) { stored += r.ok() ? static_cast<int>(r->accepted) : 0; });
  }
  h.RunUntil([&] { return stored == 50; });
  EXPECT_LE(OpenFds(), before + 8);
  h.Restart();
  EXPECT_EQ(h->ListQueues().size(), 50u);
  EXPECT_EQ(h.Take("q49"), (std::vector<std::string>{"x"}));
}

}  // namespace
}  // namespace saker::queue

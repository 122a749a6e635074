// Tests of what the queue engine does for replication and durability (issue #10): acks durable
// through the cursor log when answered, the commit end, batches given at an offset, truncation,
// incarnations, node ids in lease ids, and Kestrel's counts.
#include <gtest/gtest.h>

#include <filesystem>

#include "server/queue/queue_manager.h"
#include "server/storage/batch.h"
#include "server/storage/cursor_op.h"
#include "server/storage/queue_identity.h"
#include "tests/unit/queue/queue_test_util.h"

namespace saker::queue {
namespace {

using Strings = std::vector<std::string>;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.config().commit_interval_ms = 3'600'000;  // only the cursor log holds the acks
    h_.Start();
  }
  storage::BatchPtr Given(uint64_t base, const Strings& payloads, uint64_t epoch = 0) {
    storage::BatchBuilder b;
    for (const std::string& p : payloads) b.Add(1000, 0, {}, p);
    return b.Finish(epoch, base);
  }
  Status Append(const std::string& q, storage::BatchPtr batch) {
    std::optional<Status> out;
    h_->AppendBatch(q, std::move(batch), [&](Status st) { out = st; });
    h_.RunUntil([&] { return out.has_value(); });
    return out.value_or(Status::Timeout("append"));
  }
  Status Truncate(const std::string& q, uint64_t offset) {
    std::optional<Status> out;
    h_->Truncate(q, offset, [&](Status st) { out = st; });
    h_.RunUntil([&] { return out.has_value(); });
    return out.value_or(Status::Timeout("truncate"));
  }
  // Takes `n` items, over as many gets as cold reads need.
  Strings TakeAll(const std::string& name, size_t n) {
    Strings all;
    while (all.size() < n) {
      Strings more = h_.Take(name, 10);
      if (more.empty()) break;
      all.insert(all.end(), more.begin(), more.end());
    }
    return all;
  }
  saker::test::TempDir dir_;
  test::EngineHarness h_{dir_.path()};
};

TEST_F(EngineTest, AnsweredAckSurvivesACrashWithNoCheckpoint) {
  h_.PutOk("q", {"a", "b", "c"});
  auto g = h_.Lease("q", 3);
  ASSERT_TRUE(h_.AckDurably({g.leases[0], g.leases[2]}).ok());
  h_.Crash();
  h_.Start();
  EXPECT_EQ(h_.Take("q"), (Strings{"b"}));
}

TEST_F(EngineTest, DurableRunsOnlyAfterTheCursorBatchIsWritten) {
  h_.PutOk("q", {"a"});
  auto g = h_.Lease("q");
  bool durable = false;
  EXPECT_EQ(h_->Ack(g.leases, [&](Status st) { durable = st.ok(); }), 1u);
  EXPECT_FALSE(durable);  // not before the loop wrote the cursor batch and storage completed
  h_.RunUntil([&] { return durable; });
  bool nothing = false;
  EXPECT_EQ(h_->Ack(std::vector<uint64_t>{12345}, [&](Status st) { nothing = st.ok(); }), 0u);
  EXPECT_TRUE(nothing);  // nothing changed: at once
}

TEST_F(EngineTest, CursorLogReplaysAcrossRepeatedCrashesAndSubscriptionChanges) {
  ASSERT_TRUE(h_->CreateSubscription("q", "s", StartPosition::Earliest()).ok());
  h_.PutOk("q", {"a", "b", "c", "d"});
  auto g = h_.Lease("q+s", 2);
  ASSERT_TRUE(h_.AckDurably({g.leases[1]}).ok());  // b
  h_.Crash();
  h_.Start();
  g = h_.Lease("q+s", 1);
  EXPECT_EQ(g.payloads, (Strings{"a"}));
  EXPECT_EQ(g.counts, (std::vector<uint32_t>{2}));  // the delivery count came from the log
  ASSERT_TRUE(h_.AckDurably({g.leases[0]}).ok());
  ASSERT_TRUE(h_->Seek("q", StartPosition::Offset(3)).ok());
  ASSERT_TRUE(h_->Flush("q+s").ok());
  h_.Commit();  // a checkpoint in the middle: the replay starts after it
  ASSERT_TRUE(h_->DeleteSubscription("q", "s").ok());
  ASSERT_TRUE(h_->CreateSubscription("q", "s", StartPosition::Offset(4)).ok());
  h_.Settle();
  h_.Crash();
  h_.Start();
  EXPECT_EQ(h_.Take("q"), (Strings{"c", "d"}));
  EXPECT_EQ(h_.Take("q+s"), (Strings{"d"}));
}

TEST_F(EngineTest, GivenBatchesAppendAtTheirOffsetAndCompleteLikePuts) {
  ASSERT_TRUE(Append("q", Given(1, {"a", "b"}, 3)).ok());
  ASSERT_TRUE(Append("q", Given(3, {"c"}, 4)).ok());
  EXPECT_TRUE(Append("q", Given(2, {"x"})).IsInvalidArgument());  // not at the end
  EXPECT_TRUE(Append("q", Given(9, {"x"})).IsInvalidArgument());
  storage::BatchBuilder cursor;
  cursor.Add(1, 0, {}, "op");
  EXPECT_TRUE(Append("q", cursor.Finish(0, 4, storage::kBatchFlagCursor)).IsInvalidArgument());
  auto st = h_->GetQueueStats("q");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->epoch, 4u);
  EXPECT_EQ(st->commit_end, 4u);
  EXPECT_EQ(st->durable_end, 4u);
  h_.PutOk("q", {"d"});  // local puts go on from there, in the queue's epoch
  EXPECT_EQ(h_.Take("q"), (Strings{"a", "b", "c", "d"}));
  h_.Restart();
  EXPECT_EQ(h_->GetQueueStats("q")->epoch, 4u);  // from the log
}

// Append, truncate, append other bytes at the same offsets: every reader sees only the new ones.
TEST_F(EngineTest, TruncatedBytesAreNeverServedAgain) {
  h_.Stop();
  h_.config().tail_cache_bytes = 2048;  // most batches are read back cold
  h_.config().cold_cache_bytes = 2048;
  h_.Start();
  ASSERT_TRUE(h_->CreateSubscription("q", "cold", StartPosition::Earliest()).ok());
  for (int i = 0; i < 8; i++) h_.PutOk("q", {std::string(400, static_cast<char>('a' + i))});
  // The cold subscription reads the start, so the reader pool reads ahead past it.
  ASSERT_EQ(h_.Take("q+cold", 1), (Strings{std::string(400, 'a')}));
  ASSERT_TRUE(Truncate("q", 3).ok());
  EXPECT_EQ(h_->GetQueueStats("q")->next_offset, 3u);
  EXPECT_TRUE(Truncate("q", 9).IsInvalidArgument());
  for (int i = 0; i < 6; i++) h_.PutOk("q", {std::string(400, static_cast<char>('A' + i))});
  Strings want;
  for (char c : std::string("abABCDEF")) want.push_back(std::string(400, c));
  EXPECT_EQ(TakeAll("q", want.size()), want);
  EXPECT_EQ(TakeAll("q+cold", want.size()), Strings(want.begin() + 1, want.end()));
  h_.Restart();
  ASSERT_TRUE(h_->Seek("q", StartPosition::Earliest()).ok());
  EXPECT_EQ(TakeAll("q", want.size() + 1), want);
}

TEST_F(EngineTest, TruncateFailsPutsNotYetCommittedAboveTheCut) {
  h_.PutOk("q", {"a", "b"});
  std::optional<Result<PutResult>> late;
  h_->Put("q", {PutItem{"c", 0, ""}}, [&](Result<PutResult> r) { late.emplace(std::move(r)); });
  h_.Settle();  // written, maybe durable; either way the cut wins or it was answered first
  std::optional<Status> cut;
  h_->Truncate("q", 3, [&](Status st) { cut = st; });
  h_.RunUntil([&] { return cut.has_value() && late.has_value(); });
  ASSERT_TRUE(cut->ok()) << cut->ToString();
  if (late->ok()) {
    EXPECT_EQ(h_->GetQueueStats("q")->next_offset, 3u);
  } else {
    EXPECT_TRUE(late->status().IsUnavailable()) << late->status().ToString();
  }
  EXPECT_EQ(h_.Take("q"), (Strings{"a", "b"}));
}

TEST_F(EngineTest, IncarnationIsRandomKeptInTheFolderAndStable) {
  h_.PutOk("q", {"a"});
  auto st = h_->GetQueueStats("q");
  ASSERT_TRUE(st.ok());
  EXPECT_NE(st->incarnation, 0u);
  auto id = storage::ReadQueueIdentity(dir_.Join(std::to_string(st->id)));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->name, "q");
  EXPECT_EQ(id->incarnation, st->incarnation);
  h_.Restart();
  EXPECT_EQ(h_->GetQueueStats("q")->incarnation, st->incarnation);
  ASSERT_TRUE(h_->DeleteQueue("q").ok());
  h_.PutOk("q", {"b"});
  EXPECT_NE(h_->GetQueueStats("q")->incarnation, st->incarnation);
}

TEST_F(EngineTest, AFolderOfAnotherIncarnationStopsOnlyThatQueue) {
  h_.PutOk("q", {"a"});
  h_.PutOk("other", {"b"});
  const uint64_t id = h_->GetQueueStats("q")->id;
  h_.Stop();
  storage::QueueIdentity other;
  other.name = "q";
  other.incarnation = 77;
  ASSERT_TRUE(storage::WriteQueueIdentity(dir_.Join(std::to_string(id)), other).ok());
  h_.Start();
  auto st = h_->GetQueueStats("q");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->failed);
  EXPECT_TRUE(h_.Put("q", Strings{"x"}).status().IsIOError());
  EXPECT_EQ(h_.Take("other"), (Strings{"b"}));
}

TEST_F(EngineTest, LeaseIdsCarryTheNodeId) {
  h_.Stop();
  h_.config().node_id = 513;
  h_.Start();
  h_.PutOk("q", {"a"});
  auto g = h_.Lease("q");
  ASSERT_EQ(g.leases.size(), 1u);
  EXPECT_EQ(g.leases[0] >> 52, 513u);
}

TEST_F(EngineTest, NodeIdOverTheLimitIsRefused) {
  h_.Stop();
  EngineConfig c = h_.config();
  c.node_id = 4096;
  EventLoop loop;
  storage::StorageThread storage(&loop);
  storage.Start();
  EXPECT_TRUE(QueueManager::Open(c, &loop, &storage).status().IsInvalidArgument());
  storage.Stop();
}

TEST_F(EngineTest, KestrelItemsAndBytesLeaveOpenItemsOut) {
  h_.PutOk("q", {"aaaa", "bb", "c"});
  auto g = h_.Lease("q");  // "aaaa" open
  auto st = h_->GetQueueStats("q");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->items, 2u);
  EXPECT_EQ(st->bytes, 3u);
  EXPECT_EQ(st->open_transactions, 1u);
  EXPECT_EQ(st->depth, 3u);
  EXPECT_EQ(st->depth_bytes, 7u);
  EXPECT_EQ(st->subscriptions[0].items, 2u);
  EXPECT_EQ(st->subscriptions[0].leased, 1u);
  h_->Ack(g.leases);
  st = h_->GetQueueStats("q");
  EXPECT_EQ(st->items, 2u);
  EXPECT_EQ(st->open_transactions, 0u);
  EXPECT_EQ(st->depth, 2u);
}

}  // namespace
}  // namespace saker::queue

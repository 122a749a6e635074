// Tests of the queue engine's parts that hold no I/O: LeaseTable, ColdCache, DedupeIndex,
// Deadlines (server/queue/*.h), each on its own as Cursor is tested.
#include <gtest/gtest.h>

#include "server/queue/cold_cache.h"
#include "server/queue/deadlines.h"
#include "server/queue/dedupe_index.h"
#include "server/queue/lease_table.h"

namespace saker::queue {
namespace {

storage::BatchPtr MakeBatch(uint64_t base, size_t count, size_t payload_bytes = 10,
                            const std::string& key = "") {
  storage::BatchBuilder b;
  for (size_t i = 0; i < count; i++) b.Add(1000 + i, 0, key, std::string(payload_bytes, 'x'));
  return b.Finish(0, base);
}

TEST(LeaseTableTest, IdsCarryNodeAndBootAndNeverCollideAcrossThem) {
  LeaseTable a, b, c;
  a.SetPrefix(1, 7);
  b.SetPrefix(2, 7);
  c.SetPrefix(1, 8);
  const uint64_t ida = a.New(1, 5, nullptr).id;
  const uint64_t idb = b.New(1, 5, nullptr).id;
  const uint64_t idc = c.New(1, 5, nullptr).id;
  EXPECT_NE(ida, idb);
  EXPECT_NE(ida, idc);
  EXPECT_EQ(ida >> (LeaseTable::kCounterBits + LeaseTable::kBootBits), 1u);
  EXPECT_EQ(idb >> (LeaseTable::kCounterBits + LeaseTable::kBootBits), 2u);
  LeaseTable top;
  top.SetPrefix(LeaseTable::kMaxNodeId, 1);
  EXPECT_EQ(top.New(1, 1, nullptr).id >> (LeaseTable::kCounterBits + LeaseTable::kBootBits),
            LeaseTable::kMaxNodeId);
}

TEST(LeaseTableTest, OwnersSeeTheirLeasesOldestFirstUntilErased) {
  LeaseTable t;
  t.SetPrefix(0, 1);
  Lease& l1 = t.New(1, 10, nullptr);
  const uint64_t id1 = l1.id;
  t.SetOwner(l1, 42, "q");
  Lease& l2 = t.New(1, 11, nullptr);
  const uint64_t id2 = l2.id;
  t.SetOwner(l2, 42, "q");
  Lease& l3 = t.New(2, 3, nullptr);
  const uint64_t id3 = l3.id;
  t.SetOwner(l3, 42, "q+audit");
  ASSERT_NE(t.OwnerSet(42, "q"), nullptr);
  EXPECT_EQ(*t.OwnerSet(42, "q")->begin(), id1);
  EXPECT_EQ(t.OwnerCount(42, "q"), 2u);
  EXPECT_EQ(t.OwnerIds(42).size(), 3u);
  t.Erase(id1);
  EXPECT_EQ(t.Find(id1), nullptr);
  EXPECT_EQ(*t.OwnerSet(42, "q")->begin(), id2);
  t.Erase(id2);
  t.Erase(id3);
  EXPECT_EQ(t.OwnerSet(42, "q"), nullptr);
  EXPECT_TRUE(t.OwnerIds(42).empty());
  EXPECT_EQ(t.size(), 0u);
  t.Erase(id3);  // unknown: no-op
}

TEST(ColdCacheTest, FindsByOffsetAndEvictsTheOldestAcrossQueues) {
  const storage::BatchPtr b1 = MakeBatch(1, 4);
  const uint64_t size = b1->size_bytes();
  ColdCache cache(2 * size);
  cache.Add(1, b1);
  cache.Add(2, MakeBatch(1, 4));
  EXPECT_EQ(cache.Find(1, 3), b1);
  EXPECT_EQ(cache.Find(1, 5), nullptr);
  cache.Add(1, MakeBatch(5, 4));  // over budget: queue 1's first batch goes
  EXPECT_EQ(cache.Find(1, 1), nullptr);
  EXPECT_NE(cache.Find(2, 1), nullptr);
  EXPECT_NE(cache.Find(1, 8), nullptr);
  EXPECT_EQ(cache.size_bytes(), 2 * size);
  EXPECT_FALSE(cache.Fits(1));
}

TEST(ColdCacheTest, DropBelowFromAndDropKeepTheByteCount) {
  ColdCache cache(1 << 20);
  cache.Add(1, MakeBatch(1, 4));
  cache.Add(1, MakeBatch(5, 4));
  cache.Add(1, MakeBatch(9, 4));
  EXPECT_EQ(cache.From(1, 6).size(), 2u);
  cache.DropBelow(1, 5);  // [1,5) is done
  EXPECT_EQ(cache.Find(1, 2), nullptr);
  EXPECT_TRUE(cache.Contains(1, 5));
  cache.DropFrom(1, 7);  // the log was cut at 7: [5,9) reaches past it
  EXPECT_FALSE(cache.Contains(1, 5));
  EXPECT_FALSE(cache.Contains(1, 9));
  EXPECT_EQ(cache.size_bytes(), 0u);
  cache.Add(1, MakeBatch(5, 2));
  cache.Drop(1);
  EXPECT_EQ(cache.size_bytes(), 0u);
  EXPECT_EQ(cache.Find(1, 5), nullptr);
}

TEST(DedupeIndexTest, KeysLiveForTheWindowAndTheLatestPutWins) {
  DedupeIndex d;
  d.Add("k", 5, 1000);
  EXPECT_EQ(d.Find("k", 1500, 1000), 5u);
  EXPECT_FALSE(d.Find("k", 2001, 1000).has_value());
  d.Add("k", 9, 1800);
  d.Expire(2500, 1000);  // the first entry's time is past, the key's latest is not
  EXPECT_EQ(d.Find("k", 2500, 1000), 9u);
  d.Expire(3000, 1000);
  EXPECT_EQ(d.size(), 0u);
}

TEST(DedupeIndexTest, OutOfOrderRestoreStillExpiresInTimeOrder) {
  DedupeIndex d;
  d.Add("late", 2, 5000);
  d.Add("early", 1, 1000);
  d.Expire(2500, 1000);
  EXPECT_FALSE(d.Find("early", 2500, 10'000).has_value());
  EXPECT_EQ(d.Find("late", 2500, 10'000), 2u);
}

TEST(DedupeIndexTest, DurableKeysAreTakenOnceAndTruncationForgetsTheCut) {
  DedupeIndex d;
  d.Add("a", 1, 1000);
  d.Add("b", 2, 1000);
  d.MarkDurable(7, *MakeBatch(1, 2, 3, "a"));
  std::vector<storage::DedupeRecord> out;
  EXPECT_EQ(d.TakeDurable(&out), 2u);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].queue_id, 7u);
  out.clear();
  EXPECT_EQ(d.TakeDurable(&out), 2u);
  EXPECT_TRUE(out.empty());
  d.ForgetFrom(2);
  EXPECT_TRUE(d.Find("a", 1000, 1000).has_value());
  EXPECT_FALSE(d.Find("b", 1000, 1000).has_value());
  EXPECT_EQ(d.through(), 1u);
}

TEST(DeadlinesTest, PopsDueEventsEarliestFirst) {
  Deadlines d;
  d.Add(30, Deadlines::Kind::kWaiter, 3);
  d.Add(10, Deadlines::Kind::kLease, 1);
  d.Add(20, Deadlines::Kind::kRedeliver, 2);
  EXPECT_FALSE(d.PopDue(9).has_value());
  auto e = d.PopDue(25);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->id, 1u);
  EXPECT_EQ(e->kind, Deadlines::Kind::kLease);
  EXPECT_EQ(d.PopDue(25)->id, 2u);
  EXPECT_FALSE(d.PopDue(25).has_value());
  EXPECT_EQ(d.size(), 1u);
}

}  // namespace
}  // namespace saker::queue

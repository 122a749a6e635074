// Tests of server/storage/meta_store: schema, cursor ops, dedupe keys, settings, reopen.
#include "server/storage/meta_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>

#include "tests/testutil/testutil.h"

namespace saker::storage {
namespace {

using Type = CursorOp::Type;

class MetaStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<MetaStore> OpenStore() {
    auto r = MetaStore::Open(dir_.Join("meta.db"));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(r).value();
  }
  static CursorOp Op(Type t, const std::string& sub, uint64_t offset, uint32_t count = 0) {
    return CursorOp{t, 1, sub, offset, count};
  }
  test::TempDir dir_;
};

TEST_F(MetaStoreTest, EmptyStoreLoadsNothingAndHasLatestSchema) {
  auto store = OpenStore();
  EXPECT_EQ(store->schema_version(), 3);
  auto snap = store->Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->queues.empty());
  EXPECT_TRUE(snap->subscriptions.empty());
}

TEST_F(MetaStoreTest, CursorOpsSurviveReopen) {
  {
    auto store = OpenStore();
    MetaBatch b;
    b.create_queues.push_back({1, "orders", 123});
    b.cursor_ops = {Op(Type::kCreate, "", 1),        Op(Type::kCreate, "audit", 5),
                    Op(Type::kAck, "", 3),           Op(Type::kAck, "", 4),
                    Op(Type::kFloor, "", 2),         Op(Type::kDeliveries, "", 2, 3),
                    Op(Type::kDeliveries, "", 2, 2), Op(Type::kAck, "audit", 4)};
    b.settings["status"] = "READONLY";
    ASSERT_TRUE(store->Commit(b).ok());
  }
  auto store = OpenStore();
  EXPECT_EQ(store->schema_version(), 3);
  auto snap = store->Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->queues.size(), 1u);
  EXPECT_EQ(snap->queues[0].name, "orders");
  EXPECT_EQ(snap->queues[0].created_ms, 123);
  ASSERT_EQ(snap->subscriptions.size(), 2u);
  const SubscriptionRecord& def = snap->subscriptions[0];
  EXPECT_EQ(def.name, "");
  EXPECT_EQ(def.ack_floor, 2u);
  EXPECT_EQ(def.acked, (std::vector<uint64_t>{3, 4}));
  ASSERT_EQ(def.deliveries.size(), 1u);
  EXPECT_EQ(def.deliveries[0], (std::pair<uint64_t, uint32_t>{2, 3}));  // counts never drop
  // An ack below the floor is not stored.
  EXPECT_TRUE(snap->subscriptions[1].acked.empty());
  EXPECT_EQ(snap->settings["status"], "READONLY");
}

TEST_F(MetaStoreTest, FloorDropsStateBelowAndSeekDropsAll) {
  auto store = OpenStore();
  MetaBatch b;
  b.create_queues.push_back({1, "q", 0});
  b.cursor_ops = {Op(Type::kCreate, "", 1), Op(Type::kAck, "", 5), Op(Type::kAck, "", 9),
                  Op(Type::kDeliveries, "", 7, 1), Op(Type::kFloor, "", 6)};
  ASSERT_TRUE(store->Commit(b).ok());
  auto snap = store->Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->subscriptions[0].acked, (std::vector<uint64_t>{9}));
  EXPECT_EQ(snap->subscriptions[0].deliveries.size(), 1u);
  MetaBatch seek;
  seek.cursor_ops = {Op(Type::kSeek, "", 2)};
  ASSERT_TRUE(store->Commit(seek).ok());
  snap = store->Load();
  EXPECT_EQ(snap->subscriptions[0].ack_floor, 2u);
  EXPECT_TRUE(snap->subscriptions[0].acked.empty());
  EXPECT_TRUE(snap->subscriptions[0].deliveries.empty());
}

TEST_F(MetaStoreTest, DedupeKeysAreForgottenByAgeAndDeletedWithQueue) {
  auto store = OpenStore();
  MetaBatch b;
  b.create_queues = {{1, "a", 0}, {2, "b", 0}};
  b.dedupe_keys = {{1, "k1", 10, 1000}, {1, "k2", 11, 2000}, {2, "k1", 3, 2000}};
  b.dedupe_through = {{1, 11}, {2, 3}};
  ASSERT_TRUE(store->Commit(b).ok());
  MetaBatch forget;
  forget.dedupe_forget_before_ms = 1500;
  forget.delete_queues = {2};
  ASSERT_TRUE(store->Commit(forget).ok());
  auto snap = store->Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->queues.size(), 1u);
  ASSERT_EQ(snap->dedupe_keys.size(), 1u);
  EXPECT_EQ(snap->dedupe_keys[0].key, "k2");
  EXPECT_EQ(snap->dedupe_through[1], 11u);
}

TEST_F(MetaStoreTest, DeleteSubscriptionRemovesItsCursor) {
  auto store = OpenStore();
  MetaBatch b;
  b.create_queues = {{1, "a", 0}};
  b.cursor_ops = {Op(Type::kCreate, "x", 1), Op(Type::kAck, "x", 2), Op(Type::kDelete, "x", 0)};
  ASSERT_TRUE(store->Commit(b).ok());
  auto snap = store->Load();
  EXPECT_TRUE(snap->subscriptions.empty());
}

TEST_F(MetaStoreTest, IncarnationsCheckpointAndDeliveredEndRoundTripAndGoWithTheQueue) {
  {
    auto store = OpenStore();
    MetaBatch b;
    QueueRecord q1{1, "orders", 10, 0xfeedface12345678ull};
    QueueRecord q2{2, "old", 20, 0};
    b.create_queues = {q1, q2};
    b.cursor_ops = {Op(Type::kCreate, "", 1), Op(Type::kDelivered, "", 7),
                    Op(Type::kDelivered, "", 4)};
    b.cursor_log_through = {{1, 12}, {2, 3}};
    ASSERT_TRUE(store->Commit(b).ok());
    MetaBatch c;
    c.set_incarnations = {{2, 42}};
    c.cursor_log_through = {{1, 9}};  // never goes back
    ASSERT_TRUE(store->Commit(c).ok());
  }
  auto store = OpenStore();
  auto snap = store->Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->queues.size(), 2u);
  EXPECT_EQ(snap->queues[0].incarnation, 0xfeedface12345678ull);
  EXPECT_EQ(snap->queues[1].incarnation, 42u);
  EXPECT_EQ(snap->cursor_log_through.at(1), 12u);
  EXPECT_EQ(snap->cursor_log_through.at(2), 3u);
  ASSERT_EQ(snap->subscriptions.size(), 1u);
  EXPECT_EQ(snap->subscriptions[0].delivered_end, 7u);
  MetaBatch d;
  d.delete_queues = {1};
  ASSERT_TRUE(store->Commit(d).ok());
  snap = store->Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->queues.size(), 1u);
  EXPECT_EQ(snap->cursor_log_through.count(1), 0u);
  EXPECT_TRUE(snap->subscriptions.empty());
}

TEST_F(MetaStoreTest, SchemaOneDatabaseMigratesKeepingItsRows) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.Join("meta.db").c_str(), &db), SQLITE_OK);
    const char* v1 =
        "CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied_ms INTEGER);"
        "INSERT INTO migrations (version) VALUES (1);"
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE queues (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        "  created_ms INTEGER NOT NULL, dedupe_through INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE subscriptions (queue_id INTEGER NOT NULL, name TEXT NOT NULL,"
        "  ack_floor INTEGER NOT NULL, PRIMARY KEY (queue_id, name)) WITHOUT ROWID;"
        "CREATE TABLE acked (queue_id INTEGER NOT NULL, sub TEXT NOT NULL, offset INTEGER NOT NULL,"
        "  PRIMARY KEY (queue_id, sub, offset)) WITHOUT ROWID;"
        "CREATE TABLE deliveries (queue_id INTEGER NOT NULL, sub TEXT NOT NULL,"
        "  offset INTEGER NOT NULL, count INTEGER NOT NULL,"
        "  PRIMARY KEY (queue_id, sub, offset)) WITHOUT ROWID;"
        "CREATE TABLE dedupe (queue_id INTEGER NOT NULL, key TEXT NOT NULL,"
        "  offset INTEGER NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (queue_id, key)) WITHOUT "
        "ROWID;"
        "INSERT INTO queues (id, name, created_ms) VALUES (7, 'jobs', 5);"
        "INSERT INTO subscriptions VALUES (7, '', 3);"
        "INSERT INTO acked VALUES (7, '', 4);";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = OpenStore();
  EXPECT_EQ(store->schema_version(), 3);
  auto snap = store->Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->queues.size(), 1u);
  EXPECT_EQ(snap->queues[0].name, "jobs");
  EXPECT_EQ(snap->queues[0].incarnation, 0u);
  EXPECT_EQ(snap->cursor_log_through.at(7), 1u);
  ASSERT_EQ(snap->subscriptions.size(), 1u);
  EXPECT_EQ(snap->subscriptions[0].ack_floor, 3u);
  EXPECT_EQ(snap->subscriptions[0].acked, (std::vector<uint64_t>{4}));
  EXPECT_EQ(snap->subscriptions[0].delivered_end, 0u);
}

TEST_F(MetaStoreTest, DeletionLeavesARecordUntilDropped) {
  {
    auto store = OpenStore();
    MetaBatch create;
    create.create_queues.push_back({4, "jobs", 1, 9});
    create.cursor_ops = {CursorOp{Type::kCreate, 4, "", 1, 0}};
    ASSERT_TRUE(store->Commit(create).ok());
    MetaBatch del;
    del.delete_queues = {4};
    del.deleted_ms = 77;
    ASSERT_TRUE(store->Commit(del).ok());
  }
  auto store = OpenStore();
  auto snap = store->Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->queues.empty());
  EXPECT_TRUE(snap->subscriptions.empty());
  EXPECT_EQ(snap->deleted_queues, (std::set<uint64_t>{4}));
  MetaBatch drop;
  drop.drop_deletions = {4};
  ASSERT_TRUE(store->Commit(drop).ok());
  EXPECT_TRUE(store->Load()->deleted_queues.empty());
}

TEST_F(MetaStoreTest, IntegrityCheckPassesOnAGoodStoreAndGarbageIsCorruption) {
  {
    auto store = OpenStore();
    EXPECT_TRUE(store->CheckIntegrity().ok());
  }
  {
    std::ofstream out(dir_.Join("garbage.db"), std::ios::binary);
    out << std::string(8192, 'x');
  }
  auto bad = MetaStore::Open(dir_.Join("garbage.db"));
  EXPECT_TRUE(bad.status().IsCorruption()) << bad.status().ToString();
}

}  // namespace
}  // namespace saker::storage

// Tests of server/storage/queue_identity: the QUEUE file of a queue folder.
#include "server/storage/queue_identity.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "tests/testutil/testutil.h"

namespace saker::storage {
namespace {

QueueIdentity Identity(const std::string& name, uint64_t incarnation) {
  QueueIdentity id;
  id.name = name;
  id.incarnation = incarnation;
  return id;
}

TEST(QueueIdentityTest, WrittenIdentityReadsBack) {
  test::TempDir dir;
  ASSERT_TRUE(WriteQueueIdentity(dir.path(), Identity("orders.dlq", 0x00ab00cd00ef0012ull)).ok());
  auto id = ReadQueueIdentity(dir.path());
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->name, "orders.dlq");
  EXPECT_EQ(id->incarnation, 0x00ab00cd00ef0012ull);
  ASSERT_TRUE(WriteQueueIdentity(dir.path(), Identity("orders", 5)).ok());  // replaced whole
  EXPECT_EQ(ReadQueueIdentity(dir.path())->incarnation, 5u);
}

TEST(QueueIdentityTest, MissingIsNotFoundAndGarbageIsCorruption) {
  test::TempDir dir;
  EXPECT_TRUE(ReadQueueIdentity(dir.path()).status().IsNotFound());
  for (const char* text :
       {"", "name=q\n", "incarnation=0000000000000001\n", "name=q\nincarnation=12\n",
        "name=q\nincarnation=zz00000000000001\n", "name=q\nincarnation=0000000000000000\n"}) {
    std::ofstream(dir.Join("QUEUE"), std::ios::trunc) << text;
    EXPECT_TRUE(ReadQueueIdentity(dir.path()).status().IsCorruption()) << text;
  }
}

TEST(QueueIdentityTest, EveryFieldRoundTrips) {
  test::TempDir dir;
  QueueIdentity in;
  in.name = "orders";
  in.incarnation = 0x5f0c9a7e21b3d844ull;
  in.created_ms = 1764743639000;
  in.subscriptions = {"audit", "billing"};
  in.config = {{"max_items", "100"}, {"sync", "interval:5"}, {"dlq", ""}};
  ASSERT_TRUE(WriteQueueIdentity(dir.path(), in).ok());
  auto out = ReadQueueIdentity(dir.path());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, in);
  EXPECT_EQ(EncodeQueueIdentity(in),
            "name=orders\nincarnation=5f0c9a7e21b3d844\ncreated_ms=1764743639000\n"
            "subscription=audit\nsubscription=billing\n"
            "config.dlq=\nconfig.max_items=100\nconfig.sync=interval:5\n");
}

TEST(QueueIdentityTest, OldFileWithNameAndIncarnationOnlyReads) {
  auto id = DecodeQueueIdentity("name=q\nincarnation=0000000000000007\n");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->name, "q");
  EXPECT_EQ(id->incarnation, 7u);
  EXPECT_EQ(id->created_ms, 0);
  EXPECT_TRUE(id->subscriptions.empty());
  EXPECT_TRUE(id->config.empty());
}

TEST(QueueIdentityTest, BadLinesAreCorruption) {
  const std::string head = "name=q\nincarnation=0000000000000001\n";
  for (const char* tail : {"junk\n", "=x\n", "color=red\n", "created_ms=-1\n", "created_ms=x\n",
                           "subscription=\n", "config.=1\n"}) {
    auto id = DecodeQueueIdentity(head + tail);
    EXPECT_TRUE(id.status().IsCorruption()) << tail;
  }
  EXPECT_TRUE(DecodeQueueIdentity("name=\nincarnation=0000000000000001\n").status().IsCorruption());
}

TEST(QueueIdentityTest, RemoveQueueFolderRemovesEverythingAndAMissingFolderIsDone) {
  test::TempDir dir;
  const std::string folder = dir.Join("7");
  std::filesystem::create_directories(folder + "/cursors");
  ASSERT_TRUE(WriteQueueIdentity(folder, Identity("gone", 9)).ok());
  std::ofstream(folder + "/00000000000000000001.log") << "data";
  ASSERT_TRUE(RemoveQueueFolder(folder).ok());
  EXPECT_FALSE(std::filesystem::exists(folder));
  EXPECT_TRUE(RemoveQueueFolder(folder).ok());
}

TEST(QueueIdentityTest, NewIncarnationsAreNonZeroAndDistinct) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; i++) {
    uint64_t v = NewIncarnation();
    EXPECT_NE(v, 0u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace saker::storage

// Tests of server/storage/queue_identity: the QUEUE file of a queue folder.
#include "server/storage/queue_identity.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "tests/testutil/testutil.h"

namespace saker::storage {
namespace {

TEST(QueueIdentityTest, WrittenIdentityReadsBack) {
  test::TempDir dir;
  ASSERT_TRUE(WriteQueueIdentity(dir.path(), {"orders.dlq", 0x00ab00cd00ef0012ull}).ok());
  auto id = ReadQueueIdentity(dir.path());
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->name, "orders.dlq");
  EXPECT_EQ(id->incarnation, 0x00ab00cd00ef0012ull);
  ASSERT_TRUE(WriteQueueIdentity(dir.path(), {"orders", 5}).ok());  // replaced whole
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

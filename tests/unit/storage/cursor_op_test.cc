// Tests of server/storage/cursor_op: the cursor-log record encoding (FORMAT.md "Cursor log").
#include "server/storage/cursor_op.h"

#include <gtest/gtest.h>

namespace saker::storage {
namespace {

using Type = CursorOp::Type;

TEST(CursorOpTest, EveryTypeRoundTrips) {
  for (Type t : {Type::kCreate, Type::kDelete, Type::kFloor, Type::kSeek, Type::kAck,
                 Type::kDeliveries, Type::kDelivered}) {
    CursorOp op{t, 99, "audit", 0x0102030405060708ull, 77};
    auto back = DecodeCursorOp(EncodeCursorOp(op));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->type, t);
    EXPECT_EQ(back->queue_id, 0u);  // not part of the record
    EXPECT_EQ(back->subscription, "audit");
    EXPECT_EQ(back->offset, 0x0102030405060708ull);
    EXPECT_EQ(back->count, 77u);
  }
}

TEST(CursorOpTest, EmptyAndLongestNamesRoundTrip) {
  for (const std::string& name : {std::string(), std::string(200, 'n')}) {
    auto back = DecodeCursorOp(EncodeCursorOp({Type::kAck, 1, name, 5, 0}));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->subscription, name);
  }
  EXPECT_EQ(EncodeCursorOp({Type::kAck, 1, "", 5, 0}).size(), 14u);
}

TEST(CursorOpTest, TruncatedLongAndUnknownRecordsAreCorruption) {
  const std::string good = EncodeCursorOp({Type::kSeek, 1, "sub", 9, 0});
  for (size_t n = 0; n < good.size(); n++) {
    EXPECT_TRUE(DecodeCursorOp(good.substr(0, n)).status().IsCorruption()) << n;
  }
  EXPECT_TRUE(DecodeCursorOp(good + "x").status().IsCorruption());
  for (char type : {char{0}, char{8}, char{127}}) {
    std::string bad = good;
    bad[0] = type;
    EXPECT_TRUE(DecodeCursorOp(bad).status().IsCorruption());
  }
}

}  // namespace
}  // namespace saker::storage

// Tests of server/queue/cursor: the per-subscription state machine and the ops it emits.
#include "server/queue/cursor.h"

#include <gtest/gtest.h>

namespace saker::queue {
namespace {

using Type = storage::CursorOp::Type;

std::vector<storage::CursorOp> Ops(Cursor& c) {
  std::vector<storage::CursorOp> ops;
  c.TakeOps(1, "s", &ops);
  return ops;
}

TEST(CursorTest, DeliversInOrderAndAdvancesFloorOnInOrderAcks) {
  Cursor c(1);
  EXPECT_EQ(c.NextDeliverable(4, 0), 1u);
  c.Take(1);
  EXPECT_EQ(c.NextDeliverable(4, 0), 2u);
  c.Take(2);
  EXPECT_EQ(c.in_flight(), 2u);
  EXPECT_TRUE(c.Ack(1));
  EXPECT_FALSE(c.Ack(1));
  EXPECT_EQ(c.floor(), 2u);
  auto ops = Ops(c);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].type, Type::kFloor);
  EXPECT_EQ(ops[0].offset, 2u);
  EXPECT_FALSE(c.dirty());
}

TEST(CursorTest, OutOfOrderAckIsKeptAboveTheFloor) {
  Cursor c(1);
  c.Take(c.NextDeliverable(3, 0));
  c.Take(c.NextDeliverable(3, 0));
  EXPECT_TRUE(c.Ack(2));
  EXPECT_EQ(c.floor(), 1u);
  EXPECT_EQ(c.Depth(3), 1u);
  auto ops = Ops(c);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].type, Type::kAck);
  EXPECT_EQ(ops[0].offset, 2u);
  EXPECT_TRUE(c.Ack(1));
  EXPECT_EQ(c.floor(), 3u);
}

TEST(CursorTest, ReleasedOffsetsComeBackLowestFirstAfterTheirDelay) {
  Cursor c(1);
  for (int i = 0; i < 3; i++) c.Take(c.NextDeliverable(4, 0));
  c.Release(3, 0, 0);
  c.Release(2, 100, 0);
  EXPECT_EQ(c.NextDeliverable(4, 0), 3u);
  c.Take(3);
  EXPECT_EQ(c.NextDeliverable(4, 50), 0u);
  EXPECT_EQ(c.NextDeliverable(4, 100), 2u);
}

TEST(CursorTest, RestoreSkipsAckedOffsetsAndKeepsCounts) {
  Cursor c(5);
  c.Restore({5, 7}, {{6, 3}, {4, 9}}, 8);
  EXPECT_EQ(c.floor(), 6u);
  EXPECT_EQ(c.DeliveryCount(6), 3u);
  EXPECT_EQ(c.DeliveryCount(4), 0u);
  EXPECT_EQ(c.NextDeliverable(10, 0), 6u);
  c.Take(6);
  EXPECT_EQ(c.NextDeliverable(10, 0), 8u);
  EXPECT_FALSE(c.dirty());
}

TEST(CursorTest, AckBelowCountsOnlyNewlyAckedAndForgetsInFlight) {
  Cursor c(1);
  c.Take(c.NextDeliverable(10, 0));
  c.Take(c.NextDeliverable(10, 0));
  c.Ack(2);
  EXPECT_EQ(c.AckBelow(5), 3u);  // 1, 3, 4
  EXPECT_EQ(c.floor(), 5u);
  EXPECT_EQ(c.in_flight(), 0u);
  EXPECT_EQ(c.NextDeliverable(10, 0), 5u);
}

TEST(CursorTest, SeekResetsEverything) {
  Cursor c(1);
  c.Take(c.NextDeliverable(10, 0));
  c.CountDelivery(1);
  c.Ack(3);
  c.Seek(2);
  EXPECT_EQ(c.floor(), 2u);
  EXPECT_EQ(c.in_flight(), 0u);
  EXPECT_EQ(c.DeliveryCount(1), 0u);
  EXPECT_FALSE(c.dirty());
  EXPECT_EQ(c.NextDeliverable(10, 0), 2u);
}

TEST(CursorTest, DeliveryCountsAreEmittedAndDroppedBelowTheFloor) {
  Cursor c(1);
  c.Take(c.NextDeliverable(3, 0));
  EXPECT_EQ(c.CountDelivery(1), 1u);
  EXPECT_EQ(c.CountDelivery(1), 2u);
  auto ops = Ops(c);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].type, Type::kDeliveries);
  EXPECT_EQ(ops[0].count, 2u);
  EXPECT_EQ(ops[1].type, Type::kDelivered);
  EXPECT_EQ(ops[1].offset, 2u);
  c.Ack(1);
  EXPECT_EQ(c.DeliveryCount(1), 0u);
}

TEST(CursorTest, DeliveredHighWaterMarkRisesOnlyAndSurvivesSeekAndRestore) {
  Cursor c(1);
  c.Take(c.NextDeliverable(10, 0));
  c.CountDelivery(1);
  c.Take(5);
  c.CountDelivery(5);
  EXPECT_EQ(c.delivered_end(), 6u);
  auto ops = Ops(c);
  ASSERT_FALSE(ops.empty());
  EXPECT_EQ(ops.back().type, Type::kDelivered);
  EXPECT_EQ(ops.back().offset, 6u);
  c.Release(1, 0, 0);
  c.CountDelivery(1);  // a redelivery below the mark moves nothing
  for (const auto& op : Ops(c)) EXPECT_NE(op.type, Type::kDelivered);
  c.Seek(2);
  EXPECT_EQ(c.delivered_end(), 6u);
  Cursor restored(3);
  restored.Restore({}, {}, 9);
  EXPECT_EQ(restored.delivered_end(), 9u);
  EXPECT_FALSE(restored.dirty());
}

}  // namespace
}  // namespace saker::queue

// Batch encoding and parsing, and SyncPolicy text form.
#include "server/storage/batch.h"

#include <gtest/gtest.h>

#include "server/common/coding.h"
#include "server/storage/sync_policy.h"
#include "tests/testutil/testutil.h"

namespace saker::storage {
namespace {

class BatchTest : public ::testing::Test {
 protected:
  BatchPtr Build(uint64_t base, int n) {
    BatchBuilder b;
    for (int i = 0; i < n; i++) {
      b.Add(1000 + i, i % 2 ? 5000 : 0, i % 3 ? "" : "key" + std::to_string(i),
            test::MakePayload(base + i, 10 + i));
    }
    return b.Finish(/*epoch=*/7, base, /*flags=*/3);
  }
};

TEST_F(BatchTest, RoundTrip) {
  BatchPtr batch = Build(42, 5);
  ASSERT_EQ(batch->count(), 5u);
  auto parsed = Batch::Parse(batch->bytes());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const Batch& p = **parsed;
  EXPECT_EQ(p.base_offset(), 42u);
  EXPECT_EQ(p.last_offset(), 46u);
  EXPECT_EQ(p.end_offset(), 47u);
  EXPECT_EQ(p.epoch(), 7u);
  EXPECT_EQ(p.flags(), 3);
  EXPECT_EQ(p.max_timestamp_ms(), 1004);
  for (uint64_t o = 42; o <= 46; o++) {
    RecordView r = p.Record(o);
    int i = static_cast<int>(o - 42);
    EXPECT_EQ(r.offset, o);
    EXPECT_EQ(r.timestamp_ms, 1000 + i);
    EXPECT_EQ(r.expiry_ms, i % 2 ? 5000 : 0);
    EXPECT_EQ(r.key, i % 3 ? "" : "key" + std::to_string(i));
    EXPECT_EQ(r.payload, test::MakePayload(o, 10 + i));
    EXPECT_EQ(r.payload, batch->Record(o).payload);
  }
}

TEST_F(BatchTest, SizeIsKnownBeforeFinish) {
  BatchBuilder b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size_bytes(), kBatchHeaderBytes);
  b.Add(1, 0, "k", "payload");
  EXPECT_EQ(b.size_bytes(), kBatchHeaderBytes + kRecordHeaderBytes + 1 + 7);
  BatchPtr batch = b.Finish(0, 1);
  EXPECT_EQ(batch->size_bytes(), kBatchHeaderBytes + kRecordHeaderBytes + 8);
  EXPECT_TRUE(b.empty());
  b.Add(2, 0, "", "x");
  EXPECT_EQ(b.Finish(0, 2)->Record(2).payload, "x");
}

TEST_F(BatchTest, EmptyPayloadAndKey) {
  BatchBuilder b;
  b.Add(5, 0, "", "");
  auto parsed = Batch::Parse(b.Finish(0, 9)->bytes());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)->Record(9).payload, "");
}

TEST_F(BatchTest, EveryByteFlipIsDetected) {
  std::string bytes = Build(1, 3)->bytes();
  for (size_t i = 0; i < bytes.size(); i++) {
    std::string bad = bytes;
    bad[i] ^= 0x40;
    EXPECT_FALSE(Batch::Parse(bad).ok()) << "byte " << i;
  }
}

TEST_F(BatchTest, TruncatedIsCorruption) {
  std::string bytes = Build(1, 3)->bytes();
  for (size_t n : {size_t{0}, size_t{10}, kBatchHeaderBytes, bytes.size() - 1}) {
    auto r = Batch::Parse(bytes.substr(0, n));
    EXPECT_TRUE(r.status().IsCorruption()) << n;
  }
}

TEST_F(BatchTest, BadLengthIsCorruption) {
  std::string bytes = Build(1, 1)->bytes();
  EncodeFixed32(bytes.data() + 4, 20);
  auto r = Batch::Parse(bytes);
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("length"), std::string_view::npos);
}

TEST_F(BatchTest, UnknownVersionIsCorruption) {
  std::string bytes = Build(1, 1)->bytes();
  EncodeFixed16(bytes.data() + 12, 2);
  auto r = Batch::Parse(bytes);
  EXPECT_NE(r.status().message().find("version 2"), std::string_view::npos);
}

TEST_F(BatchTest, HeaderLayoutMatchesFormat) {
  std::string bytes = Build(77, 2)->bytes();
  EXPECT_EQ(bytes.substr(0, 4), "SKRB");
  EXPECT_EQ(DecodeFixed32(bytes.data() + 4), bytes.size());
  EXPECT_EQ(DecodeFixed16(bytes.data() + 12), 1);
  EXPECT_EQ(DecodeFixed16(bytes.data() + 14), 3);
  EXPECT_EQ(DecodeFixed64(bytes.data() + 16), 7u);
  EXPECT_EQ(DecodeFixed64(bytes.data() + 24), 77u);
  EXPECT_EQ(DecodeFixed32(bytes.data() + 32), 2u);
  EXPECT_EQ(DecodeFixed64(bytes.data() + 40), 1001u);
  // First record: length, timestamp, expiry, key length, key, payload.
  EXPECT_EQ(DecodeFixed32(bytes.data() + 48), 20u + 4 + 10);
  EXPECT_EQ(DecodeFixed64(bytes.data() + 52), 1000u);
  EXPECT_EQ(DecodeFixed64(bytes.data() + 60), 0u);
  EXPECT_EQ(DecodeFixed32(bytes.data() + 68), 4u);
  EXPECT_EQ(bytes.substr(72, 4), "key0");
}

class SyncPolicyTest : public ::testing::Test {};

TEST_F(SyncPolicyTest, ParsesAndPrints) {
  for (const char* text : {"always", "never", "interval:1", "interval:250"}) {
    auto p = SyncPolicy::Parse(text);
    ASSERT_TRUE(p.ok()) << text;
    EXPECT_EQ(p->ToString(), text);
  }
  EXPECT_EQ(SyncPolicy::Parse("interval:250")->interval_ms, 250u);
  EXPECT_EQ(SyncPolicy::Parse("never")->mode, SyncPolicy::Mode::kNever);
}

TEST_F(SyncPolicyTest, RejectsBadText) {
  for (const char* text : {"", "Always", "interval:", "interval:0", "interval:-5", "interval:5x",
                           "interval:99999999999", "sometimes"}) {
    EXPECT_TRUE(SyncPolicy::Parse(text).status().IsInvalidArgument()) << text;
  }
}

}  // namespace
}  // namespace saker::storage

// Tests of server/common: Status, Result, CRC32C, coding, EventLoop.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "server/common/coding.h"
#include "server/common/crc32c.h"
#include "server/common/event_loop.h"
#include "server/common/logging.h"
#include "server/common/status.h"

namespace saker {
namespace {

TEST(StatusTest, OkIsCheapAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ErrorKeepsCodeAndMessageThroughCopies) {
  Status s = Status::Corruption("queue=q segment=1.log position=42: bad crc");
  Status copy = s;
  EXPECT_TRUE(copy.IsCorruption());
  EXPECT_EQ(copy.ToString(), "Corruption: queue=q segment=1.log position=42: bad crc");
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> good(7);
  Result<int> bad(Status::NotFound("no queue"));
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
}

// Test vectors from RFC 3720 (iSCSI), B.4.
TEST(Crc32cTest, StandardVectors) {
  char buf[32];
  std::memset(buf, 0, sizeof buf);
  EXPECT_EQ(0x8a9136aau, crc32c::Value(buf, sizeof buf));
  std::memset(buf, 0xff, sizeof buf);
  EXPECT_EQ(0x62a8ab43u, crc32c::Value(buf, sizeof buf));
  for (int i = 0; i < 32; i++) buf[i] = static_cast<char>(i);
  EXPECT_EQ(0x46dd794eu, crc32c::Value(buf, sizeof buf));
  EXPECT_EQ(0xe3069283u, crc32c::Value("123456789", 9));
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  const char* s = "hello world, this is saker";
  size_t n = std::strlen(s);
  EXPECT_EQ(crc32c::Value(s, n), crc32c::Extend(crc32c::Value(s, 5), s + 5, n - 5));
}

TEST(Crc32cTest, MaskRoundTripsAndDiffers) {
  uint32_t crc = crc32c::Value("foo", 3);
  EXPECT_NE(crc, crc32c::Mask(crc));
  EXPECT_EQ(crc, crc32c::Unmask(crc32c::Mask(crc)));
}

TEST(CodingTest, FixedRoundTrip) {
  std::string s;
  PutFixed32(&s, 0xdeadbeef);
  PutFixed64(&s, 0x0102030405060708ull);
  ASSERT_EQ(s.size(), 12u);
  EXPECT_EQ(DecodeFixed32(s.data()), 0xdeadbeefu);
  EXPECT_EQ(DecodeFixed64(s.data() + 4), 0x0102030405060708ull);
  EXPECT_EQ(static_cast<uint8_t>(s[0]), 0xef);  // little-endian on disk
}

TEST(EventLoopTest, PostFromAnotherThreadRunsOnLoopInOrder) {
  EventLoop loop;
  std::vector<int> seen;
  std::thread t([&] {
    for (int i = 0; i < 100; i++) loop.Post([&seen, i] { seen.push_back(i); });
    loop.Post([&] { loop.Stop(); });
  });
  loop.Run();
  t.join();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; i++) EXPECT_EQ(seen[i], i);
}

TEST(EventLoopTest, BeforeSleepHookRunsEachIteration) {
  EventLoop loop;
  int hooks = 0;
  loop.AddBeforeSleep([&] { hooks++; });
  loop.RunOnce();
  loop.RunOnce();
  EXPECT_GE(hooks, 2);
}

TEST(RateLimitTest, LetsOneThroughPerIntervalAndCountsTheRest) {
  logging::RateLimit limit(std::chrono::hours(1));
  uint64_t skipped = 99;
  EXPECT_TRUE(limit.Allow(&skipped));
  EXPECT_EQ(skipped, 0u);
  EXPECT_FALSE(limit.Allow(&skipped));
  EXPECT_FALSE(limit.Allow(&skipped));
  logging::RateLimit always(std::chrono::milliseconds(0));
  EXPECT_TRUE(always.Allow(&skipped));
  EXPECT_TRUE(always.Allow(&skipped));
  EXPECT_EQ(skipped, 0u);
}

}  // namespace
}  // namespace saker

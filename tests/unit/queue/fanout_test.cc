// Fan-out: a subscription is a cursor over the one log, so 16 subscriptions cost the same disk
// bytes as one, and each sees every item exactly once, in order.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/queue/queue_test_util.h"

namespace saker::queue {
namespace {

constexpr uint64_t kItems = 100'000;
constexpr size_t kPayload = 256;
constexpr uint64_t kPerPut = 1000;

// Bytes stored for the data dir: the logs' data (segment files are preallocated ahead of the
// writer in chunks whose timing varies, so their apparent size is not compared) plus meta.db.
uint64_t MetaBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

// Puts kItems into "q" read by `subs` subscriptions that each drain and ack everything;
// returns the bytes stored after a clean stop.
uint64_t RunFanout(int subs) {
  saker::test::TempDir dir;
  test::EngineHarness h(dir.path());
  // Keep every segment so the comparison is about what is stored, not what retention freed.
  h.config().defaults.retain_bytes = 1ull << 40;
  h.Start();
  std::vector<std::string> names;
  for (int i = 0; i < subs; i++) {
    names.push_back("s" + std::to_string(i));
    EXPECT_TRUE(h->CreateSubscription("q", names.back(), StartPosition::Earliest()).ok());
  }
  const std::string payload(kPayload, 'x');
  for (uint64_t done = 0; done < kItems; done += kPerPut) {
    std::vector<PutItem> items(kPerPut, PutItem{payload, 0, ""});
    for (uint64_t i = 0; i < kPerPut; i++) items[i].payload.replace(0, 8, std::to_string(done + i));
    auto r = h.Put("q", std::move(items));
    EXPECT_TRUE(r.ok() && r->accepted == kPerPut);
  }
  for (const std::string& name : names) {
    uint64_t next = 1;
    while (true) {
      std::optional<Result<std::vector<Delivery>>> out;
      GetOptions o;
      o.max_items = 5000;
      h->Get("q+" + name, o, [&](Result<std::vector<Delivery>> r) { out.emplace(std::move(r)); });
      h.RunUntil([&] { return out.has_value(); });
      EXPECT_TRUE(out.has_value() && out->ok());
      if (!out.has_value() || !out->ok() || (*out)->empty()) break;
      for (const Delivery& d : out->value()) {
        EXPECT_EQ(d.offset, next);
        EXPECT_EQ(d.payload.substr(0, std::to_string(next - 1).size()), std::to_string(next - 1));
        next++;
      }
    }
    EXPECT_EQ(next, kItems + 1) << "subscription " << name;
    auto st = h->GetQueueStats("q");
    for (const auto& s : st->subscriptions) {
      if (s.name == name) {
        EXPECT_EQ(s.depth, 0u);
      }
    }
  }
  const uint64_t log_bytes = h->GetQueueStats("q")->log_bytes;
  h.Stop();
  return log_bytes + MetaBytes(dir.path());
}

TEST(FanoutTest, SixteenSubscriptionsCostTheDiskBytesOfOne) {
  const uint64_t one = RunFanout(1);
  const uint64_t sixteen = RunFanout(16);
  EXPECT_GT(one, kItems * kPayload);
  RecordProperty("bytes_one", std::to_string(one));
  RecordProperty("bytes_sixteen", std::to_string(sixteen));
  EXPECT_LE(sixteen, one + one / 20) << "one=" << one << " sixteen=" << sixteen;
}

}  // namespace
}  // namespace saker::queue

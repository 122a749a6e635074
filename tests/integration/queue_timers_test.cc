// The engine's timers as a Kestrel client meets them over memcache, against a real sakerd:
// /abort waits out the queue's redelivery delay; the expiration timer moves expired items to
// expire_to with nobody reading the source queue; a backlog's age is known right after a
// restart, before anything reads it.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

std::string WriteConfig(const TempDir& dir, const std::string& body) {
  std::string path = dir.Join("saker.toml");
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(body.c_str(), f);
  std::fclose(f);
  return path;
}

// The value of `queue_<q>_<field>` in memcache `stats`, or -1 if it is missing.
long long QueueStat(RawClient& c, const std::string& q, const std::string& field) {
  c.Send("stats\r\n");
  std::string all = c.ReadUntil("END\r\n");
  std::string key = "STAT queue_" + q + "_" + field + " ";
  size_t at = all.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(all.substr(at + key.size()));
}

TEST(QueueTimersTest, AbortWaitsOutTheRedeliveryDelay) {
  TempDir dir;
  ServerProcess server(dir.Join("data"),
                       {"--config", WriteConfig(dir, "[defaults]\nredelivery_delay_ms = 1500\n")});
  ASSERT_TRUE(server.Start());
  RawClient c(server.port("memcache"));
  c.Send("set jobs 0 0 3\r\nabc\r\n");
  ASSERT_EQ(c.ReadUntil("\r\n"), "STORED\r\n");
  c.Send("get jobs/open\r\n");
  ASSERT_EQ(c.ReadUntil("END\r\n"), "VALUE jobs 0 3\r\nabc\r\nEND\r\n");
  const auto aborted = std::chrono::steady_clock::now();
  c.Send("get jobs/abort\r\n");
  ASSERT_EQ(c.ReadUntil("END\r\n"), "END\r\n");
  // Within the delay the item is not deliverable; a blocking get receives it once it is.
  c.Send("get jobs\r\n");
  EXPECT_EQ(c.ReadUntil("END\r\n"), "END\r\n");
  c.Send("get jobs/t=5000\r\n");
  EXPECT_EQ(c.ReadUntil("END\r\n", std::chrono::seconds(6)), "VALUE jobs 0 3\r\nabc\r\nEND\r\n");
  EXPECT_GE(std::chrono::steady_clock::now() - aborted, std::chrono::milliseconds(1400));
}

TEST(QueueTimersTest, ExpiredItemsMoveToExpireToWithNobodyReading) {
  // Kestrel's delayed-work pattern: jobs_pending holds items for max_age_ms, then they move to
  // jobs_ready. Nothing ever reads jobs_pending.
  TempDir dir;
  ServerProcess server(dir.Join("data"),
                       {"--config", WriteConfig(dir,
                                                "[server]\nexpiry_sweep_ms = 100\n"
                                                "[queues.\"jobs_pending\"]\nmax_age_ms = 300\n"
                                                "expire_to = \"jobs_ready\"\n")});
  ASSERT_TRUE(server.Start());
  RawClient c(server.port("memcache"));
  for (int i = 0; i < 3; i++) {
    c.Send("set jobs_pending 0 0 2\r\nj" + std::to_string(i) + "\r\n");
    ASSERT_EQ(c.ReadUntil("\r\n"), "STORED\r\n");
  }
  c.Send("get jobs_ready\r\n");
  EXPECT_EQ(c.ReadUntil("END\r\n"), "END\r\n");  // not before max_age_ms
  for (int i = 0; i < 3; i++) {
    c.Send("get jobs_ready/t=5000\r\n");
    EXPECT_EQ(c.ReadUntil("END\r\n", std::chrono::seconds(6)),
              "VALUE jobs_ready 0 2\r\nj" + std::to_string(i) + "\r\nEND\r\n");
  }
  EXPECT_EQ(QueueStat(c, "jobs_pending", "items"), 0);
  EXPECT_EQ(QueueStat(c, "jobs_pending", "expired_items"), 3);
}

TEST(QueueTimersTest, BacklogAgeIsKnownAfterARestartBeforeAnyRead) {
  TempDir dir;
  const auto put_at = std::chrono::steady_clock::now();
  {
    ServerProcess server(dir.Join("data"), {"--sync", "always"});
    ASSERT_TRUE(server.Start());
    RawClient c(server.port("memcache"));
    for (int i = 0; i < 20; i++) {
      c.Send("set backlog 0 0 4\r\nitem\r\n");
      ASSERT_EQ(c.ReadUntil("\r\n"), "STORED\r\n");
    }
    ASSERT_EQ(server.Stop(), 0);
  }
  // The items are at least this old once the restarted server is asked.
  while (std::chrono::steady_clock::now() - put_at < std::chrono::milliseconds(1500)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ServerProcess server(dir.Join("data"), {"--sync", "always"});
  ASSERT_TRUE(server.Start());
  RawClient c(server.port("memcache"));
  EXPECT_EQ(QueueStat(c, "backlog", "items"), 20);
  // The head is read back in the background right after the start.
  EXPECT_TRUE(
      WaitFor([&] { return QueueStat(c, "backlog", "age") >= 1000; }, std::chrono::seconds(5)))
      << "age " << QueueStat(c, "backlog", "age");
}

}  // namespace
}  // namespace saker::test

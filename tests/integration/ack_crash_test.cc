// An answered ack is final (docs/SEMANTICS.md): with --sync always, workers take items with
// memcache reliable reads and close each one with `get q/close/open`; sakerd is SIGKILLed at a
// random moment; after a restart no item whose close was answered is delivered again, and every
// STORED item was delivered at least once over the run.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

constexpr int kWorkers = 3;
constexpr int kRounds = 20;

// Reads one memcache get reply: the item's payload, "" for END; nullopt if the connection died
// or the reply is not a get reply (an error: the request's outcome is unknown).
std::optional<std::string> ReadGet(RawClient& c) {
  std::string line = c.ReadUntil("\r\n", std::chrono::seconds(5));
  if (line == "END\r\n") return std::string();
  if (line.rfind("VALUE ", 0) != 0) return std::nullopt;
  const size_t len = std::stoul(line.substr(line.rfind(' ') + 1));
  std::string body = c.ReadN(len + 2);
  if (body.size() != len + 2 || c.ReadUntil("\r\n", std::chrono::seconds(5)) != "END\r\n") {
    return std::nullopt;
  }
  return body.substr(0, len);
}

TEST(AckCrashTest, AnsweredClosesAreNeverRedeliveredAcrossSigkills) {
  TempDir dir;
  std::mt19937 rng(20261202);
  std::set<std::string> stored;         // every item answered STORED
  std::set<std::string> closed;         // items whose /close was answered
  std::map<std::string, int> delivered;  // item -> deliveries seen
  int next_item = 0;
  int redelivered_after_close = 0;
  for (int round = 0; round < kRounds; round++) {
    ServerProcess server(dir.path(), {"--sync", "always"});
    ASSERT_TRUE(server.Start()) << server.Log();
    const int port = server.port("memcache");
    {
      RawClient p(port);
      ASSERT_TRUE(p.connected());
      std::string batch;
      std::vector<std::string> items;
      for (int i = 0; i < 60; i++) {
        items.push_back("item-" + std::to_string(next_item++));
        batch += "set q 0 0 " + std::to_string(items.back().size()) + "\r\n" + items.back() + "\r\n";
      }
      ASSERT_TRUE(p.Send(batch));
      for (const std::string& item : items) {
        ASSERT_EQ(p.ReadUntil("\r\n", std::chrono::seconds(5)), "STORED\r\n") << server.Log();
        stored.insert(item);
      }
    }
    std::mutex mu;
    std::atomic<int> answered{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; w++) {
      workers.emplace_back([&] {
        RawClient c(port);
        if (!c.connected() || !c.Send("get q/open/t=50\r\n")) return;
        std::optional<std::string> held = ReadGet(c);
        while (held && !stop) {
          if (!held->empty()) {
            std::lock_guard<std::mutex> lock(mu);
            if (closed.count(*held) > 0) redelivered_after_close++;
            delivered[*held]++;
          }
          if (!c.Send("get q/close/open/t=50\r\n")) return;
          std::optional<std::string> next = ReadGet(c);
          if (!next) return;  // killed before the reply: that close is unknown
          if (!held->empty()) {
            std::lock_guard<std::mutex> lock(mu);
            closed.insert(*held);
            answered++;
          }
          held = next;
        }
      });
    }
    const int target = 5 + static_cast<int>(rng() % 40);
    ASSERT_TRUE(WaitFor([&] { return answered >= target; }, std::chrono::seconds(20)))
        << server.Log();
    server.Kill();
    stop = true;
    for (auto& t : workers) t.join();
  }
  // Drain what is left with plain gets on a last restart.
  ServerProcess server(dir.path(), {"--sync", "always"});
  ASSERT_TRUE(server.Start()) << server.Log();
  RawClient c(server.port("memcache"));
  ASSERT_TRUE(c.connected());
  while (true) {
    ASSERT_TRUE(c.Send("get q\r\n"));
    std::optional<std::string> item = ReadGet(c);
    ASSERT_TRUE(item.has_value());
    if (item->empty()) break;
    if (closed.count(*item) > 0) redelivered_after_close++;
    delivered[*item]++;
  }
  server.Stop();
  EXPECT_EQ(redelivered_after_close, 0);
  for (const std::string& item : stored) EXPECT_GT(delivered[item], 0) << item << " was lost";
  std::printf("rounds %d stored %zu answered closes %zu redelivered after close %d\n", kRounds,
              stored.size(), closed.size(), redelivered_after_close);
}

}  // namespace
}  // namespace saker::test

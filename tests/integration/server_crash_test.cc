// sakerd under put load with --sync always is SIGKILLed at a random moment; after a restart
// every item that got STORED is there, exactly once, and nothing that was never sent is.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

constexpr int kWriters = 4;
constexpr int kWindow = 16;  // sets in flight per connection

std::string Item(int writer, int seq) {
  return "w" + std::to_string(writer) + "-" + std::to_string(seq) + "-" +
         MakePayload(static_cast<uint64_t>(writer * 1000003 + seq), 64);
}

TEST(ServerCrashTest, SigkillUnderPutLoadKeepsEveryStoredItem) {
  TempDir dir;
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 3; round++) {
    ServerProcess server(dir.Join("data"), {"--sync", "always"});
    ASSERT_TRUE(server.Start());
    int port = server.port("memcache");
    std::mutex mu;
    std::set<std::string> stored;
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; w++) {
      writers.emplace_back([&, w] {
        RawClient c(port);
        if (!c.connected()) return;
        int sent = 0, acked = 0;
        while (!stop) {
          std::string batch;
          int first = sent;
          for (int i = 0; i < kWindow; i++, sent++) {
            std::string item = Item(round * 10 + w, sent);
            batch += "set crash 0 0 " + std::to_string(item.size()) + "\r\n" + item + "\r\n";
          }
          if (!c.Send(batch)) return;
          for (int i = first; i < sent; i++) {
            std::string line = c.ReadUntil("\r\n", std::chrono::seconds(2));
            if (line != "STORED\r\n") return;  // the server died mid-reply
            std::lock_guard<std::mutex> lock(mu);
            stored.insert(Item(round * 10 + w, i));
            acked++;
          }
        }
      });
    }
    ASSERT_TRUE(WaitFor(
        [&] {
          std::lock_guard<std::mutex> lock(mu);
          return stored.size() >= 200;
        },
        std::chrono::seconds(20)));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));  // a random moment
    server.Kill();
    stop = true;
    for (auto& t : writers) t.join();

    ServerProcess again(dir.Join("data"));
    ASSERT_TRUE(again.Start());
    RawClient reader(again.port("memcache"));
    std::set<std::string> seen;
    while (true) {
      ASSERT_TRUE(reader.Send("get crash\r\n"));
      std::string head = reader.ReadUntil("\r\n");
      if (head == "END\r\n") break;
      ASSERT_EQ(head.rfind("VALUE crash 0 ", 0), 0u) << head;
      size_t len = std::stoul(head.substr(14));
      std::string item = reader.ReadN(len);
      ASSERT_EQ(reader.ReadN(7), "\r\nEND\r\n");
      EXPECT_TRUE(seen.insert(item).second) << "delivered twice: " << item.substr(0, 20);
      // Anything delivered must be an item some writer sent (whole, not torn).
      size_t dash1 = item.find('-'), dash2 = item.find('-', dash1 + 1);
      ASSERT_NE(dash2, std::string::npos);
      int writer = std::stoi(item.substr(1, dash1 - 1));
      int seq = std::stoi(item.substr(dash1 + 1, dash2 - dash1 - 1));
      EXPECT_EQ(item, Item(writer, seq));
    }
    for (const auto& item : stored) {
      EXPECT_TRUE(seen.count(item)) << "lost a STORED item: " << item.substr(0, 20);
    }
    ASSERT_EQ(again.Stop(), 0) << again.Log();
  }
}

}  // namespace
}  // namespace saker::test

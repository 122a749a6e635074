// sakerd under put load with --sync always is SIGKILLed at a random moment; after a restart
// every item that got STORED is there, exactly once, and nothing that was never sent is. Once
// into one queue, once into queues created as the load goes.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
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

// The queue an item goes to.
using QueueOf = std::function<std::string(int writer, int seq)>;

// One round: sakerd on `data` takes sets from kWriters connections until a random moment after
// 200 are STORED, is SIGKILLed, and is started again; then every STORED item is in its queue
// exactly once, and whatever else comes back is an item some writer sent to that queue, whole.
void CrashRound(const std::string& data, int round, const QueueOf& queue_of, std::mt19937& rng) {
  ServerProcess server(data, {"--sync", "always"});
  ASSERT_TRUE(server.Start());
  int port = server.port("memcache");
  std::mutex mu;
  std::set<std::pair<std::string, std::string>> stored;  // (queue, item)
  std::set<std::string> queues;                          // every queue a set was sent to
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; w++) {
    writers.emplace_back([&, w] {
      RawClient c(port);
      if (!c.connected()) return;
      const int writer = round * 10 + w;
      int sent = 0;
      while (!stop) {
        std::string batch;
        int first = sent;
        for (int i = 0; i < kWindow; i++, sent++) {
          std::string item = Item(writer, sent);
          std::string queue = queue_of(writer, sent);
          {
            std::lock_guard<std::mutex> lock(mu);
            queues.insert(queue);
          }
          batch += "set " + queue + " 0 0 " + std::to_string(item.size()) + "\r\n" + item + "\r\n";
        }
        if (!c.Send(batch)) return;
        for (int i = first; i < sent; i++) {
          std::string line = c.ReadUntil("\r\n", std::chrono::seconds(2));
          if (line != "STORED\r\n") return;  // the server died mid-reply
          std::lock_guard<std::mutex> lock(mu);
          stored.insert({queue_of(writer, i), Item(writer, i)});
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

  ServerProcess again(data);
  ASSERT_TRUE(again.Start());
  RawClient reader(again.port("memcache"));
  std::set<std::pair<std::string, std::string>> seen;
  for (const std::string& queue : queues) {
    const std::string value_prefix = "VALUE " + queue + " 0 ";
    while (true) {
      ASSERT_TRUE(reader.Send("get " + queue + "\r\n"));
      std::string head = reader.ReadUntil("\r\n");
      if (head == "END\r\n") break;
      ASSERT_EQ(head.rfind(value_prefix, 0), 0u) << head;
      size_t len = std::stoul(head.substr(value_prefix.size()));
      std::string item = reader.ReadN(len);
      ASSERT_EQ(reader.ReadN(7), "\r\nEND\r\n");
      EXPECT_TRUE(seen.insert({queue, item}).second) << "delivered twice: " << item.substr(0, 20);
      // Anything delivered must be an item some writer sent to this queue (whole, not torn).
      size_t dash1 = item.find('-'), dash2 = item.find('-', dash1 + 1);
      ASSERT_NE(dash2, std::string::npos);
      int writer = std::stoi(item.substr(1, dash1 - 1));
      int seq = std::stoi(item.substr(dash1 + 1, dash2 - dash1 - 1));
      EXPECT_EQ(item, Item(writer, seq));
      EXPECT_EQ(queue, queue_of(writer, seq));
    }
  }
  for (const auto& entry : stored) {
    EXPECT_TRUE(seen.count(entry))
        << "lost a STORED item of " << entry.first << ": " << entry.second.substr(0, 20);
  }
  ASSERT_EQ(again.Stop(), 0) << again.Log();
}

TEST(ServerCrashTest, SigkillUnderPutLoadKeepsEveryStoredItem) {
  TempDir dir;
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 3; round++) {
    CrashRound(
        dir.Join("data"), round, [](int, int) { return std::string("crash"); }, rng);
  }
}

// A new queue every 8 items of each writer: rounds of the storage thread sync many new logs at
// once (one syncfs), and new queues are opened on the engine's meta thread while appends go on.
TEST(ServerCrashTest, SigkillWhileCreatingQueuesKeepsEveryStoredItem) {
  TempDir dir;
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 2; round++) {
    CrashRound(
        dir.Join("data"), round,
        [](int writer, int seq) {
          return "many" + std::to_string(writer) + "_" + std::to_string(seq / 8);
        },
        rng);
  }
}

}  // namespace
}  // namespace saker::test

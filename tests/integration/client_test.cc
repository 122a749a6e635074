// The client library and its example programs against a real sakerd.
#include <gtest/gtest.h>
#include <saker/client.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

using namespace std::chrono_literals;
using client::Code;
using client::Status;

// Runs a command, returns its exit code and stdout.
int RunCommand(const std::string& command, std::string* out) {
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start());
    address_ = "127.0.0.1:" + std::to_string(server_.port("thrift"));
    client::Options options;
    options.servers = {address_};
    client_ = std::make_unique<client::Client>(options);
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "sakerd log:\n%s\n", server_.Log().c_str());
  }
  TempDir dir_;
  ServerProcess server_{dir_.Join("data")};
  std::string address_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(ClientTest, PutGetAckNack) {
  auto put = client_->Put("jobs", {{"a"}, {"b", "k1"}, {"c"}});
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->accepted, 3);
  EXPECT_EQ(put->offsets.size(), 3u);
  EXPECT_TRUE(put->refused.ok());

  auto got = client_->Get("jobs", "", 2, 0ms, 10s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ(got.value()[0].data, "a");
  EXPECT_EQ(got.value()[0].delivery_count, 1);
  EXPECT_NE(got.value()[0].lease_id, 0);

  auto acked = client_->Ack("jobs", {got.value()[0].lease_id});
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(acked.value(), 1);
  auto extended = client_->Extend("jobs", {got.value()[1].lease_id}, 20s);
  ASSERT_TRUE(extended.ok());
  EXPECT_EQ(extended.value(), 1);
  auto nacked = client_->Nack("jobs", {got.value()[1].lease_id}, 0ms);
  ASSERT_TRUE(nacked.ok());
  EXPECT_EQ(nacked.value(), 1);

  auto again = client_->Get("jobs", "", 10, 1000ms, 10s);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ(again.value()[0].data, "b");
  EXPECT_EQ(again.value()[0].delivery_count, 2);

  auto info = client_->GetQueueInfo("jobs");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "jobs");
  EXPECT_EQ(info->next_offset - info->first_offset, 3);
  auto queues = client_->ListQueues();
  ASSERT_TRUE(queues.ok());
  EXPECT_NE(std::find(queues->begin(), queues->end(), "jobs"), queues->end());
}

TEST_F(ClientTest, Subscriptions) {
  ASSERT_TRUE(client_->Put("events", {{"x"}, {"y"}}).ok());
  ASSERT_TRUE(
      client_->CreateSubscription("events", "audit", {client::StartPosition::Kind::kEarliest, 0})
          .ok());
  client::Status dup = client_->CreateSubscription("events", "audit", {});
  EXPECT_EQ(dup.code(), Code::kInvalidArgument) << dup.ToString();

  auto subs = client_->ListSubscriptions("events");
  ASSERT_TRUE(subs.ok());
  bool found = false;
  for (const auto& s : subs.value()) found |= s.name == "audit" && s.lag == 2;
  EXPECT_TRUE(found);

  ASSERT_TRUE(
      client_->SeekSubscription("events", "audit", {client::StartPosition::Kind::kLatest, 0}).ok());
  auto got = client_->Get("events", "audit", 10);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
  ASSERT_TRUE(client_->DeleteSubscription("events", "audit").ok());
  EXPECT_EQ(client_->DeleteSubscription("events", "audit").code(), Code::kNotFound);
}

TEST_F(ClientTest, KestrelMethods) {
  ASSERT_TRUE(client_->Put("k", {{"head"}}).ok());
  auto peek = client_->Peek("k");
  ASSERT_TRUE(peek.ok());
  EXPECT_EQ(peek->items, 1);
  ASSERT_TRUE(peek->head_item.has_value());
  EXPECT_EQ(*peek->head_item, "head");
  ASSERT_TRUE(client_->FlushQueue("k").ok());
  EXPECT_EQ(client_->Peek("k")->items, 0);
  ASSERT_TRUE(client_->DeleteQueue("k").ok());
  auto status = client_->GetServerStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status.value(), client::ServerStatus::kUp);
  auto version = client_->Version();
  ASSERT_TRUE(version.ok());
  EXPECT_FALSE(version->empty());
}

TEST_F(ClientTest, ClusterStatusOfASingleNodeIsNotFound) {
  auto r = client_->GetClusterStatus();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "not a cluster: sakerd runs without --zookeeper");
}

// UNAVAILABLE answers are waited out until the deadline, but not the server status an operator
// set: a put or flush under READONLY is refused at once, not after request_timeout.
TEST_F(ClientTest, UnavailableFromTheServerStatusIsNotRetried) {
  client::Options options;
  options.servers = {address_};
  options.request_timeout = 20s;
  client::Client c(options);
  ASSERT_TRUE(c.SetServerStatus(client::ServerStatus::kReadOnly).ok());
  const auto start = std::chrono::steady_clock::now();
  auto put = c.Put("ro", {{"x"}});
  EXPECT_EQ(put.status().code(), Code::kUnavailable);
  EXPECT_EQ(put.status().message(), "server is READONLY");
  Status flush = c.FlushQueue("ro");
  EXPECT_EQ(flush.code(), Code::kUnavailable) << flush.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  ASSERT_TRUE(c.SetServerStatus(client::ServerStatus::kUp).ok());
  EXPECT_TRUE(c.Put("ro", {{"x"}}).ok());
}

TEST_F(ClientTest, ReconnectsWithBackoffAfterServerRestart) {
  ASSERT_TRUE(client_->Put("r", {{"1"}}).ok());
  EXPECT_EQ(server_.Stop(), 0);
  auto down = client_->Put("r", {{"2"}});
  EXPECT_EQ(down.status().code(), Code::kUnavailable) << down.status().ToString();
  // Backing off: fails fast without connecting.
  EXPECT_EQ(client_->Put("r", {{"2"}}).status().code(), Code::kUnavailable);
  ASSERT_TRUE(server_.Start());
  // The restarted server has new ports: the first client cannot reach it; a client with a
  // dead first server spreads puts to the live one.
  client::Options live;
  live.servers = {"127.0.0.1:1", "127.0.0.1:" + std::to_string(server_.port("thrift"))};
  client::Client spread(live);
  for (int i = 0; i < 4; ++i) {
    auto put = spread.Put("r", {{"x"}});
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    EXPECT_EQ(put->server, 1);
  }
  auto got = spread.Get("r", "", 10);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->size(), 5u);
}

TEST_F(ClientTest, ConsumerAcksAndNacksWithBackoff) {
  std::vector<client::PutItem> items;
  for (int i = 0; i < 20; ++i) items.push_back({std::to_string(i)});
  ASSERT_TRUE(client_->Put("work", items).ok());
  client::ConsumerOptions options;
  options.client.servers = {address_};
  options.queue = "work";
  options.workers = 3;
  options.wait = 50ms;
  options.nack_backoff_min = 5ms;
  client::Consumer consumer(options, [](const client::Item& item) {
    return item.data == "7" && item.delivery_count < 3 ? client::Disposition::kNack
                                                       : client::Disposition::kAck;
  });
  consumer.Start();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (consumer.acked() < 20 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  consumer.Stop();
  EXPECT_EQ(consumer.acked(), 20);
  EXPECT_EQ(consumer.nacked(), 2);
  EXPECT_EQ(client_->GetQueueInfo("work")->items, 0);

  EXPECT_EQ(client::Consumer::NackDelay(options, 1), 5ms);
  EXPECT_EQ(client::Consumer::NackDelay(options, 3), 20ms);
  options.nack_backoff_max = 30ms;
  EXPECT_EQ(client::Consumer::NackDelay(options, 10), 30ms);
}

TEST_F(ClientTest, ExamplesProduceAndConsume) {
  std::string bin = SAKER_BIN_DIR;
  std::string out;
  ASSERT_EQ(RunCommand(bin + "/saker-example-producer " + address_ + " ex 25", &out), 0) << out;
  EXPECT_NE(out.find("put 25 items, last offset"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(RunCommand(bin + "/saker-example-worker " + address_ + " ex 25", &out), 0) << out;
  EXPECT_NE(out.find("acked 25"), std::string::npos) << out;
}

}  // namespace
}  // namespace saker::test

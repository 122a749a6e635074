// The `saker` CLI against a real sakerd: every subcommand, --json, exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

struct Output {
  int code = -1;
  std::string out;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "sakerd log:\n%s\n", server_.Log().c_str());
  }

  // Runs `saker --server ... ARGS` (stdin from `input`), capturing stdout.
  Output Saker(const std::string& args, const std::string& input = "") {
    std::string in_path = dir_.Join("stdin");
    FILE* f = std::fopen(in_path.c_str(), "w");
    std::fputs(input.c_str(), f);
    std::fclose(f);
    std::string command = std::string(SAKER_BIN_DIR) +
                          "/saker --server 127.0.0.1:" + std::to_string(server_.port("thrift")) +
                          " " + args + " < " + in_path + " 2>/dev/null";
    Output result;
    FILE* p = popen(command.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) result.out.append(buf, n);
    int status = pclose(p);
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
  }

  TempDir dir_;
  ServerProcess server_{dir_.Join("data")};
};

TEST_F(CliTest, PutGetAckNack) {
  Output put = Saker("put jobs one two");
  EXPECT_EQ(put.code, 0);
  EXPECT_EQ(put.out, "put 2 items, offsets 1..2\n");
  EXPECT_EQ(Saker("put jobs", "three\nfour\n").out, "put 2 items, offsets 3..4\n");
  EXPECT_EQ(Saker("--json put jobs five").out, "{\"accepted\":1,\"offsets\":[5]}\n");

  EXPECT_EQ(Saker("peek jobs").out, "one\n");
  Output taken = Saker("get jobs --ack");
  EXPECT_EQ(taken.code, 0);
  EXPECT_EQ(taken.out, "one\n");

  Output leased = Saker("get jobs --open --max 2");
  ASSERT_EQ(leased.code, 0);
  size_t tab = leased.out.find('\t');
  ASSERT_NE(tab, std::string::npos) << leased.out;
  std::string first_lease = leased.out.substr(0, tab);
  size_t line2 = leased.out.find('\n') + 1;
  std::string second_lease = leased.out.substr(line2, leased.out.find('\t', line2) - line2);
  EXPECT_EQ(Saker("ack jobs " + first_lease).out, "acked 1 of 1 leases\n");
  EXPECT_EQ(Saker("ack jobs " + first_lease).code, 3);
  EXPECT_EQ(Saker("nack jobs --delay 0 " + second_lease).code, 0);

  Output json = Saker("--json get jobs --ack --max 10");
  EXPECT_EQ(json.code, 0);
  EXPECT_NE(json.out.find("\"data\":\"three\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"delivery_count\":2"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"data\":\"five\""), std::string::npos) << json.out;

  EXPECT_EQ(Saker("get jobs --wait 50").code, 3);
  EXPECT_EQ(Saker("peek jobs").code, 3);
}

TEST_F(CliTest, QueuesStatsFlushDelete) {
  ASSERT_EQ(Saker("create made").code, 0);
  ASSERT_EQ(Saker("put q1 a b c").code, 0);
  Output queues = Saker("queues");
  EXPECT_EQ(queues.code, 0);
  EXPECT_NE(queues.out.find("QUEUE"), std::string::npos);
  EXPECT_NE(queues.out.find("made"), std::string::npos) << queues.out;
  EXPECT_NE(Saker("--json queues").out.find("{\"queue\":\"q1\",\"items\":3,"), std::string::npos);

  Output stats = Saker("--json stats q1");
  EXPECT_EQ(stats.code, 0);
  EXPECT_NE(stats.out.find("\"next_offset\":4"), std::string::npos) << stats.out;
  EXPECT_NE(Saker("stats q1").out.find("queue q1"), std::string::npos);

  EXPECT_EQ(Saker("flush q1").out, "flushed q1\n");
  EXPECT_NE(Saker("--json stats q1").out.find("\"items\":0"), std::string::npos);
  EXPECT_EQ(Saker("delete q1").code, 0);
  EXPECT_EQ(Saker("--json queues").out.find("\"q1\""), std::string::npos);
}

TEST_F(CliTest, Subscriptions) {
  ASSERT_EQ(Saker("put ev a b").code, 0);
  EXPECT_EQ(Saker("sub create ev audit --start earliest").code, 0);
  EXPECT_EQ(Saker("sub create ev audit").code, 1);
  Output list = Saker("--json sub list ev");
  EXPECT_NE(list.out.find("{\"name\":\"audit\",\"ack_floor\":1,\"lag\":2,"), std::string::npos)
      << list.out;
  EXPECT_EQ(Saker("get ev --sub audit --ack").out, "a\n");
  EXPECT_EQ(Saker("sub seek ev audit --to offset:1").code, 0);
  EXPECT_EQ(Saker("get ev --sub audit --ack").out, "a\n");
  EXPECT_EQ(Saker("sub seek ev audit --to bogus").code, 2);
  Output tail = Saker("tail ev --sub audit");
  EXPECT_EQ(tail.code, 0);
  EXPECT_EQ(tail.out, "b\n");
  ASSERT_EQ(Saker("put ev c").code, 0);
  Output follow = Saker("--json tail ev --sub audit --follow & sleep 2; kill $!");
  EXPECT_EQ(follow.out, "{\"offset\":3,\"data\":\"c\"}\n");
  EXPECT_EQ(Saker("sub delete ev audit").code, 0);
  EXPECT_EQ(Saker("sub delete ev audit").code, 3);
}

TEST_F(CliTest, StatusAndUsage) {
  EXPECT_EQ(Saker("status get").out, "up\n");
  EXPECT_EQ(Saker("status set readonly").code, 0);
  EXPECT_EQ(Saker("--json status get").out, "{\"status\":\"readonly\"}\n");
  EXPECT_EQ(Saker("status set up").code, 0);
  EXPECT_EQ(Saker("status set sideways").code, 2);
  EXPECT_EQ(Saker("").code, 2);
  EXPECT_EQ(Saker("frobnicate").code, 2);
  EXPECT_EQ(Saker("get").code, 2);
  EXPECT_EQ(Saker("--help").code, 0);
  Output down = {};
  std::string command = std::string(SAKER_BIN_DIR) + "/saker --server 127.0.0.1:1 queues 2>&1";
  FILE* p = popen(command.c_str(), "r");
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) down.out.append(buf, n);
  int status = pclose(p);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(down.out.find("saker: UNAVAILABLE: 127.0.0.1:1: connect"), std::string::npos)
      << down.out;
}

}  // namespace
}  // namespace saker::test

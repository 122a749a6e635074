// READONLY and QUIESCENT through the `saker` CLI against a real sakerd: flush and delete exit
// non-zero with the status in the message, as a put does, and change nothing.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

struct CliRun {
  int code = -1;
  std::string output;  // stdout and stderr
};

class ReadOnlyCliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "sakerd log:\n%s\n", server_.Log().c_str());
  }

  CliRun Saker(const std::string& args) {
    std::string command = "timeout -k 5 60 " + std::string(SAKER_BIN_DIR) +
                          "/saker --server 127.0.0.1:" + std::to_string(server_.port("thrift")) +
                          " " + args + " 2>&1 < /dev/null";
    CliRun run;
    FILE* p = popen(command.c_str(), "r");
    char buf[1024];
    while (size_t n = fread(buf, 1, sizeof buf, p)) run.output.append(buf, n);
    int status = pclose(p);
    run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
  }

  TempDir dir_;
  ServerProcess server_{dir_.Join("data")};
};

TEST_F(ReadOnlyCliTest, FlushAndDeleteAreRefusedLikePuts) {
  ASSERT_EQ(Saker("put kept a b").code, 0);
  for (std::string status : {"readonly", "quiescent"}) {
    ASSERT_EQ(Saker("status set " + status).code, 0);
    // The same code and message for all three (the CLI exits 1 for UNAVAILABLE).
    const std::string refusal = "saker: UNAVAILABLE: server is " +
                                std::string(status == "readonly" ? "READONLY" : "QUIESCENT");
    for (std::string command : {"put kept c", "flush kept", "delete kept"}) {
      CliRun r = Saker(command);
      EXPECT_EQ(r.code, 1) << command << " under " << status << ": " << r.output;
      EXPECT_NE(r.output.find(refusal), std::string::npos) << command << ": " << r.output;
    }
    ASSERT_EQ(Saker("status set up").code, 0);
  }
  CliRun got = Saker("get kept -n 10 --ack");
  EXPECT_EQ(got.code, 0) << got.output;
  EXPECT_NE(got.output.find("a"), std::string::npos) << got.output;
  EXPECT_NE(got.output.find("b"), std::string::npos) << got.output;
  EXPECT_EQ(got.output.find("c"), std::string::npos) << got.output;
}

}  // namespace
}  // namespace saker::test

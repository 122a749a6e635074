// saker-bench against a real sakerd: a short W1 and W2 run each print one JSON line.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

std::string RunBench(int port, const std::string& args, int* code) {
  std::string command = std::string(SAKER_BIN_DIR) +
                        "/saker-bench --server 127.0.0.1:" + std::to_string(port) +
                        " --seconds 0.5 " + args + " 2>/dev/null";
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(BenchTest, W1AndW2PrintOneJsonLine) {
  TempDir dir;
  ServerProcess server(dir.Join("data"));
  ASSERT_TRUE(server.Start());
  int code = -1;
  std::string w1 = RunBench(server.port("thrift"), "--workload w1 -c 2 --window 4", &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(w1.rfind("{\"bench\":\"w1\",\"backend\":\"saker\"", 0), 0u) << w1;
  EXPECT_NE(w1.find("\"p99_us\":"), std::string::npos) << w1;
  EXPECT_EQ(w1.find("\"items\":0,"), std::string::npos) << w1;

  std::string w2 =
      RunBench(server.port("thrift"), "--workload w2 -p 1 --workers 1 --window 4", &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(w2.rfind("{\"bench\":\"w2\",\"backend\":\"saker\"", 0), 0u) << w2;
  EXPECT_EQ(w2.find("\"acked\":0,"), std::string::npos) << w2;
  EXPECT_EQ(std::count(w2.begin(), w2.end(), '\n'), 1);
}

}  // namespace
}  // namespace saker::test

// sakerd as a process: the ready line, the admin port, the text protocol, flags, signals.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

std::string HttpGet(int port, const std::string& path) {
  RawClient c(port);
  c.Send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  c.WaitClosed();
  return c.ReadUntil("\x01never", std::chrono::milliseconds(1));
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "sakerd log:\n%s\n", server_.Log().c_str());
  }
  TempDir dir_;
  ServerProcess server_{dir_.Join("data")};
};

TEST_F(ServerTest, ReadyLineNamesEveryListener) {
  for (const char* name : {"memcache", "thrift", "text", "admin"}) {
    EXPECT_GT(server_.port(name), 0) << server_.ready_line();
  }
}

TEST_F(ServerTest, AdminEndpoints) {
  int admin = server_.port("admin");
  RawClient mc(server_.port("memcache"));
  mc.Send("set metered 0 0 3\r\nabc\r\n");
  ASSERT_EQ(mc.ReadUntil("\r\n"), "STORED\r\n");

  std::string health = HttpGet(admin, "/healthz");
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  EXPECT_NE(HttpGet(admin, "/readyz").find("200 OK"), std::string::npos);

  std::string metrics = HttpGet(admin, "/metrics");
  EXPECT_NE(metrics.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(metrics.find("saker_subscription_depth{queue=\"metered\",subscription=\"\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("saker_put_latency_seconds_count 1"), std::string::npos);
  EXPECT_NE(metrics.find("saker_storage_fsyncs_total"), std::string::npos);

  std::string json = HttpGet(admin, "/stats.json");
  EXPECT_NE(json.find("\"name\":\"metered\""), std::string::npos) << json;
  std::string page = HttpGet(admin, "/");
  EXPECT_NE(page.find("<table>"), std::string::npos);
  EXPECT_NE(page.find("metered"), std::string::npos);
  EXPECT_NE(HttpGet(admin, "/nope").find("404"), std::string::npos);
}

TEST_F(ServerTest, TextProtocol) {
  RawClient t(server_.port("text"));
  t.Send("put jobs:\nfirst\nsecond\n\nget jobs\nget jobs\nget jobs\nconfirm jobs 1\nbogus\n");
  EXPECT_EQ(t.ReadUntil("\n"), "+2\n");
  EXPECT_EQ(t.ReadUntil("\n"), ":first\n");
  EXPECT_EQ(t.ReadUntil("\n"), ":second\n");
  EXPECT_EQ(t.ReadUntil("\n"), "*\n");
  EXPECT_EQ(t.ReadUntil("\n"), "-Not that many transactions open.\n");
  EXPECT_EQ(t.ReadUntil("\n"), "-Unknown command: bogus\n");
}

TEST_F(ServerTest, TextGetIsAbortedOnDisconnect) {
  {
    RawClient t(server_.port("text"));
    t.Send("put work:\nonly\n\nget work\n");
    EXPECT_EQ(t.ReadUntil("\n"), "+1\n");
    EXPECT_EQ(t.ReadUntil("\n"), ":only\n");
  }
  RawClient again(server_.port("text"));
  std::string got;
  EXPECT_TRUE(WaitFor(
      [&] {
        again.Send("get work\n");
        got = again.ReadUntil("\n");
        return got == ":only\n";
      },
      std::chrono::seconds(5)))
      << got;
}

TEST_F(ServerTest, SigtermExitsZeroAndKeepsData) {
  RawClient mc(server_.port("memcache"));
  mc.Send("set kept 0 0 4\r\ndata\r\n");
  ASSERT_EQ(mc.ReadUntil("\r\n"), "STORED\r\n");
  int status = server_.Stop();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ServerProcess again(dir_.Join("data"));
  ASSERT_TRUE(again.Start());
  RawClient mc2(again.port("memcache"));
  mc2.Send("get kept\r\n");
  EXPECT_EQ(mc2.ReadUntil("END\r\n"), "VALUE kept 0 4\r\ndata\r\nEND\r\n");
}

TEST_F(ServerTest, MemcacheShutdownCommandStopsTheServer) {
  RawClient mc(server_.port("memcache"));
  mc.Send("shutdown\r\n");
  EXPECT_TRUE(mc.WaitClosed());
  int status = -1;
  ASSERT_TRUE(server_.WaitExit(std::chrono::seconds(10), &status));
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(ServerTest, ThriftFrameDeclaringHugeSizesIsRefusedAndServerLives) {
  // A 20-byte frame whose `put` argument claims a 2 GiB string: libthrift alone would try to
  // allocate it (thrift_codec.h). The connection closes; the server keeps serving.
  std::string payload = std::string("\x80\x01\x00\x01", 4) + std::string("\x00\x00\x00\x03", 4) +
                        "put" + std::string(4, '\0') + "\x0b" + std::string("\x00\x01", 2) +
                        std::string("\x7f\xff\xff\xf0", 4);
  std::string frame(4, '\0');
  frame[3] = static_cast<char>(payload.size());
  RawClient bad(server_.port("thrift"));
  bad.Send(frame + payload);
  EXPECT_TRUE(bad.WaitClosed());
  RawClient mc(server_.port("memcache"));
  mc.Send("set alive 0 0 2\r\nok\r\n");
  EXPECT_EQ(mc.ReadUntil("\r\n"), "STORED\r\n");
}

TEST(SakerdConfigTest, IdleConnectionsAreClosedAfterClientTimeout) {
  TempDir dir;
  std::string config = dir.Join("saker.toml");
  FILE* f = std::fopen(config.c_str(), "w");
  std::fputs("[server]\nclient_timeout_ms = 200\n", f);
  std::fclose(f);
  ServerProcess server(dir.Join("data"), {"--config", config});
  ASSERT_TRUE(server.Start());
  RawClient idle(server.port("memcache"));
  RawClient waiting(server.port("memcache"));
  waiting.Send("get never/t=1000\r\n");  // a pending reply is not idle
  EXPECT_TRUE(idle.WaitClosed(std::chrono::seconds(5)));
  EXPECT_EQ(waiting.ReadUntil("\r\n", std::chrono::seconds(5)), "END\r\n");
}

TEST(SakerdFlagsTest, BadFlagExitsTwoWithUsage) {
  std::string cmd = std::string(SAKER_BIN_DIR) + "/sakerd --no-such-flag 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = pclose(p);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(out.find("--no-such-flag"), std::string::npos) << out;
  EXPECT_NE(out.find("--data-dir"), std::string::npos) << out;
}

TEST(SakerdFlagsTest, PortInUseFailsToStart) {
  TempDir dir;
  ServerProcess first(dir.Join("a"));
  ASSERT_TRUE(first.Start());
  ServerProcess second(dir.Join("b"), {"--memcache-port", std::to_string(first.port("memcache"))});
  EXPECT_FALSE(second.Start(std::chrono::seconds(10)));
}

}  // namespace
}  // namespace saker::test

// The admin HTTP port of a real sakerd, through curl: /readyz follows the server status as
// Kestrel's read set did, a restored READONLY/QUIESCENT status is logged at start, and the status
// page shows rates and a depth sparkline from the sampler.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

// The response (status line, headers, body) as curl, a real HTTP client, gets it.
std::string HttpGet(int port, const std::string& path) {
  std::string command = "curl -s -i --max-time 10 http://127.0.0.1:" + std::to_string(port) + path;
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  return out;
}

std::string Body(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

// Sends a memcache request and returns its one-line reply.
std::string Memcache(int port, const std::string& request) {
  RawClient mc(port);
  mc.Send(request);
  return mc.ReadUntil("\r\n");
}

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::FILE* f = std::fopen(config_.c_str(), "w");
    std::fputs("[server]\nstatus_sample_ms = 1000\n", f);
    std::fclose(f);
    ASSERT_TRUE(server_->Start());
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "sakerd log:\n%s\n", server_->Log().c_str());
  }

  int admin() const { return server_->port("admin"); }
  int memcache() const { return server_->port("memcache"); }

  TempDir dir_;
  std::string config_ = dir_.Join("saker.toml");
  std::unique_ptr<ServerProcess> server_ = std::make_unique<ServerProcess>(
      dir_.Join("data"), std::vector<std::string>{"--config", config_});
};

TEST_F(AdminTest, ReadyzFollowsTheServerStatus) {
  std::string up = HttpGet(admin(), "/readyz");
  EXPECT_EQ(up.rfind("HTTP/1.1 200", 0), 0u) << up;
  EXPECT_EQ(Body(up), "ready\n");

  ASSERT_EQ(Memcache(memcache(), "status quiescent\r\n"), "END\r\n");
  std::string quiescent = HttpGet(admin(), "/readyz");
  EXPECT_EQ(quiescent.rfind("HTTP/1.1 503", 0), 0u) << quiescent;
  EXPECT_EQ(Body(quiescent), "not ready: QUIESCENT\n");
  EXPECT_EQ(HttpGet(admin(), "/healthz").rfind("HTTP/1.1 200", 0), 0u) << "alive all the same";

  // Kestrel kept a READONLY server in its read set: its consumers can still drain it.
  ASSERT_EQ(Memcache(memcache(), "status readonly\r\n"), "END\r\n");
  std::string readonly = HttpGet(admin(), "/readyz");
  EXPECT_EQ(readonly.rfind("HTTP/1.1 200", 0), 0u) << readonly;
  EXPECT_EQ(Body(readonly), "ready: READONLY\n");

  ASSERT_EQ(Memcache(memcache(), "status up\r\n"), "END\r\n");
  EXPECT_EQ(Body(HttpGet(admin(), "/readyz")), "ready\n");
}

TEST_F(AdminTest, RestoredStatusIsLoggedAtStart) {
  EXPECT_EQ(server_->Log().find("restored"), std::string::npos) << "UP says nothing";
  ASSERT_EQ(Memcache(memcache(), "status quiescent\r\n"), "END\r\n");
  ASSERT_EQ(server_->Stop(), 0);

  server_ = std::make_unique<ServerProcess>(dir_.Join("data"),
                                            std::vector<std::string>{"--config", config_});
  ASSERT_TRUE(server_->Start());
  // The log is written asynchronously: the line may land just after the ready line.
  EXPECT_TRUE(WaitFor(
      [&] {
        return server_->Log().find(
                   "status QUIESCENT restored from meta.db: puts, gets, flushes "
                   "and deletes are refused until `saker status set up`") != std::string::npos;
      },
      Scaled(std::chrono::seconds(5))));
  EXPECT_EQ(Body(HttpGet(admin(), "/readyz")), "not ready: QUIESCENT\n");
}

TEST_F(AdminTest, StatusPageShowsRatesAndADepthSparkline) {
  ASSERT_EQ(Memcache(memcache(), "set jobs 0 0 1\r\nx\r\n"), "STORED\r\n");
  // A first sample of the queue, then ten more puts: the next samples show a put rate.
  std::string page;
  ASSERT_TRUE(WaitFor(
      [&] {
        page = HttpGet(admin(), "/");
        return page.find("<svg") != std::string::npos;
      },
      Scaled(std::chrono::seconds(10))))
      << page;
  RawClient mc(memcache());
  for (int i = 0; i < 10; ++i) {
    mc.Send("set jobs 0 0 1\r\nx\r\n");
    ASSERT_EQ(mc.ReadUntil("\r\n"), "STORED\r\n");
  }
  // The row: queue, subscription, depth, trend, put/s, get/s. The rate covers 6 samples (6 s).
  const std::string zero_rate = "</svg></td><td>0.0</td>";
  ASSERT_TRUE(WaitFor(
      [&] {
        page = HttpGet(admin(), "/");
        return page.find("<td>jobs</td><td>(default)</td><td>11</td><td><svg") !=
                   std::string::npos &&
               page.find(zero_rate) == std::string::npos;
      },
      Scaled(std::chrono::seconds(10))))
      << page;
  EXPECT_NE(page.find("<polyline"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("://"), std::string::npos) << "no external assets";
}

}  // namespace
}  // namespace saker::test

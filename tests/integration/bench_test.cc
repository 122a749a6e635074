// saker-bench against a real sakerd (W1-W5 over Thrift, W2-W4 over memcache) and a real
// redis-server (the redis backend): short runs with small sizes, each printing one JSON line
// whose fields are checked; the memcache runs also check the server's own counts afterwards.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

// Runs saker-bench (killed by timeout(1) after `limit_s` scaled seconds) and returns stdout.
std::string RunBench(const std::string& server, const std::string& args, int* code,
                     int limit_s = 60) {
  int limit = static_cast<int>(Scaled(std::chrono::seconds(limit_s)).count() / 1000);
  std::string command = "timeout -s KILL " + std::to_string(limit) + " " +
                        std::string(SAKER_BIN_DIR) + "/saker-bench --server " + server + " " +
                        args + " 2>/dev/null";
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// The numbers of a flat JSON line ({"k":1,"s":"x",...}): key -> value, strings and booleans
// as their text. Enough for saker-bench's own output.
std::map<std::string, std::string> Fields(const std::string& line) {
  std::map<std::string, std::string> out;
  size_t i = line.find('{');
  while (i != std::string::npos && i < line.size()) {
    size_t k0 = line.find('"', i);
    if (k0 == std::string::npos) break;
    size_t k1 = line.find('"', k0 + 1);
    size_t v0 = k1 + 2;
    size_t v1 = line.find_first_of(",}", v0);
    std::string value = line.substr(v0, v1 - v0);
    if (!value.empty() && value.front() == '"') value = value.substr(1, value.size() - 2);
    out[line.substr(k0 + 1, k1 - k0 - 1)] = value;
    i = v1 + 1;
  }
  return out;
}

double Number(const std::map<std::string, std::string>& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? -1 : std::atof(it->second.c_str());
}

// Checks the common shape: one line, the bench and backend named.
void ExpectOneLine(const std::string& out, const std::string& bench, const std::string& backend) {
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(out.rfind("{\"bench\":\"" + bench + "\",\"backend\":\"" + backend + "\"", 0), 0u)
      << out;
}

class BenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.Join("data"));
    ASSERT_TRUE(server_->Start());
    address_ = "127.0.0.1:" + std::to_string(server_->port("thrift"));
  }
  std::string Flags() const {
    return "--server-pid " + std::to_string(server_->pid()) + " --data-dir " + dir_.Join("data");
  }

  std::string MemcacheAddress() const {
    return "127.0.0.1:" + std::to_string(server_->port("memcache"));
  }
  // `field` of `queue` in memcache `stats` (STAT queue_<queue>_<field> N); -1 if absent.
  int64_t QueueStat(const std::string& queue, const std::string& field) const {
    RawClient c(server_->port("memcache"));
    if (!c.Send("stats\r\n")) return -1;
    std::string out = c.ReadUntil("END\r\n");
    std::string key = "STAT queue_" + queue + "_" + field + " ";
    size_t at = out.find(key);
    return at == std::string::npos ? -1 : std::atoll(out.c_str() + at + key.size());
  }
  // Waits until the leases of the bench's closed connections are given back.
  bool NoOpenReads(const std::string& queue) const {
    return WaitFor([&] { return QueueStat(queue, "open_transactions") == 0; },
                   std::chrono::seconds(10));
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string address_;
};

TEST_F(BenchTest, W1AndW2PrintOneJsonLine) {
  int code = -1;
  std::string w1 = RunBench(address_, "--workload w1 -c 2 --window 4 --seconds 0.5", &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(w1, "w1", "saker");
  auto f1 = Fields(w1);
  EXPECT_GT(Number(f1, "items"), 0) << w1;
  EXPECT_GT(Number(f1, "p99_us"), 0) << w1;

  std::string w2 =
      RunBench(address_, "--workload w2 -p 1 --workers 1 --window 4 --seconds 0.5", &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(w2, "w2", "saker");
  EXPECT_GT(Number(Fields(w2), "acked"), 0) << w2;
}

TEST_F(BenchTest, W2WorkersCanKeepSeveralGetsInFlightNativelyButNotOverMemcache) {
  int code = -1;
  std::string out =
      RunBench(address_,
               "--workload w2 -p 1 --workers 2 --window 4 --gets-in-flight 3 --seconds 0.5", &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(out, "w2", "saker");
  auto f = Fields(out);
  EXPECT_EQ(f["gets_in_flight"], "3") << out;
  EXPECT_GT(Number(f, "acked"), 0) << out;
  EXPECT_LE(Number(f, "acked"), Number(f, "produced")) << out;
  RunBench(MemcacheAddress(), "--protocol memcache --workload w2 --gets-in-flight 2 --seconds 0.5",
           &code);
  EXPECT_EQ(code, 2) << "Kestrel allows one open read a connection";
}

TEST_F(BenchTest, W3DeliversToEverySubscriptionAndCountsBytesOnDisk) {
  int code = -1;
  std::string out = RunBench(
      address_, "--workload w3 -k 2 --window 4 --put-batch 4 --seconds 0.5 " + Flags(), &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(out, "w3", "saker");
  auto f = Fields(out);
  EXPECT_EQ(f["subscriptions"], "2") << out;
  EXPECT_GT(Number(f, "put_items"), 0) << out;
  EXPECT_GT(Number(f, "delivered"), 0) << out;
  // Every put item is at least its 256-byte payload on disk.
  EXPECT_GE(Number(f, "disk_bytes_per_item"), 256) << out;
  EXPECT_GT(Number(f, "server_rss_bytes"), 0) << out;
}

TEST_F(BenchTest, W4DrainsTheBacklogWhileProducersPut) {
  int code = -1;
  std::string out = RunBench(address_,
                             "--workload w4 --backlog 2000 --fill-batch 50 -c 2 --window 4 "
                             "-p 1 --workers 2 --rate 1000 --max-drain-seconds 20 " +
                                 Flags(),
                             &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(out, "w4", "saker");
  auto f = Fields(out);
  EXPECT_EQ(f["backlog"], "2000") << out;
  EXPECT_EQ(f["drained"], "true") << out;
  // Caught up leaves what the workers hold in flight unacked: get_batch × gets_in_flight each.
  const double in_flight =
      Number(f, "workers") * Number(f, "get_batch") * Number(f, "gets_in_flight");
  EXPECT_GE(Number(f, "acked") + in_flight, 2000 + Number(f, "produced")) << out;
  EXPECT_GT(Number(f, "items_per_s"), 0) << out;
  EXPECT_GE(Number(f, "server_peak_rss_bytes"), Number(f, "server_rss_bytes")) << out;
}

TEST_F(BenchTest, W5PutsToManyQueues) {
  int code = -1;
  std::string out = RunBench(
      address_, "--workload w5 --queues 40 --items-per-queue 2 -c 2 --window 4 " + Flags(), &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(out, "w5", "saker");
  auto f = Fields(out);
  EXPECT_EQ(f["queues"], "40") << out;
  EXPECT_EQ(f["items"], "80") << out;
  EXPECT_GT(Number(f, "server_rss_bytes"), 0) << out;
}

// Kestrel's worker loop: every delivered item was closed by the worker's next get.
TEST_F(BenchTest, W2OverMemcacheAcksWhatItDelivers) {
  int code = -1;
  std::string out = RunBench(MemcacheAddress(),
                             "--protocol memcache --queue mcw2 --workload w2 -p 1 --workers 4 "
                             "--window 4 --seconds 0.5",
                             &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(out, "w2", "saker");
  auto f = Fields(out);
  EXPECT_EQ(f["protocol"], "memcache") << out;
  EXPECT_EQ(f["workers"], "4") << out;
  EXPECT_EQ(f["get_batch"], "1") << out;
  EXPECT_GT(Number(f, "acked"), 0) << out;
  EXPECT_GT(Number(f, "e2e_p99_us"), 0) << out;
  ASSERT_TRUE(NoOpenReads("mcw2"));
  // Each worker leaves at most the one item it held unacked when the run stopped.
  EXPECT_GE(QueueStat("mcw2", "transactions"), Number(f, "acked")) << out;
}

TEST_F(BenchTest, W3OverMemcacheReadsEverySubscription) {
  int code = -1;
  std::string out = RunBench(MemcacheAddress(),
                             "--protocol memcache --queue mcw3 --workload w3 -k 2 --window 4 "
                             "--put-batch 4 --seconds 0.5 " +
                                 Flags(),
                             &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(out, "w3", "saker");
  auto f = Fields(out);
  EXPECT_EQ(f["protocol"], "memcache") << out;
  EXPECT_GT(Number(f, "put_items"), 0) << out;
  EXPECT_GT(Number(f, "delivered"), 0) << out;
  EXPECT_GE(Number(f, "disk_bytes_per_item"), 256) << out;
  // The subscriptions were made and read over memcache as q+s1, q+s2.
  EXPECT_GT(QueueStat("mcw3+s1", "transactions"), 0) << out;
  EXPECT_GT(QueueStat("mcw3+s2", "transactions"), 0) << out;
}

TEST_F(BenchTest, W4OverMemcacheDrainsTheBacklog) {
  int code = -1;
  std::string out = RunBench(MemcacheAddress(),
                             "--protocol memcache --queue mcw4 --workload w4 --backlog 2000 -c 2 "
                             "--window 4 -p 1 --workers 4 --rate 1000 --max-drain-seconds 20 " +
                                 Flags(),
                             &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(out, "w4", "saker");
  auto f = Fields(out);
  EXPECT_EQ(f["protocol"], "memcache") << out;
  EXPECT_EQ(f["backlog"], "2000") << out;
  EXPECT_EQ(f["drained"], "true") << out;
  // Each worker may still hold the one item its last get opened.
  EXPECT_GE(Number(f, "acked"), 2000 + Number(f, "produced") - 4) << out;
  EXPECT_GT(Number(f, "server_peak_rss_bytes"), 0) << out;
  ASSERT_TRUE(NoOpenReads("mcw4"));
  // Left over: puts in flight when the run stopped (window 4) and items the 4 workers held.
  EXPECT_LE(QueueStat("mcw4", "items"), 8) << out;
}

bool OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// redis-server (AOF on, fsync always, as bench-compare runs it) on a free loopback port.
class RedisProcess {
 public:
  explicit RedisProcess(const std::string& dir) : dir_(dir), port_(FreePort()) {}
  ~RedisProcess() { Stop(); }

  bool Start() {
    std::vector<std::string> args = {"redis-server",
                                     "--bind",
                                     "127.0.0.1",
                                     "--port",
                                     std::to_string(port_),
                                     "--dir",
                                     dir_,
                                     "--appendonly",
                                     "yes",
                                     "--appendfsync",
                                     "always",
                                     "--save",
                                     "",
                                     "--daemonize",
                                     "no"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      int log = open((dir_ + "/redis.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (log >= 0) {
        dup2(log, STDOUT_FILENO);
        dup2(log, STDERR_FILENO);
      }
      execvp(argv[0], argv.data());
      _exit(127);
    }
    return WaitFor(
        [this] {
          RawClient c(port_);
          return c.connected() && c.Send("PING\r\n") &&
                 c.ReadUntil("\r\n", std::chrono::milliseconds(500)) == "+PONG\r\n";
        },
        std::chrono::seconds(10));
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    if (!WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; },
                 std::chrono::seconds(10))) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_;
  int port_;
  pid_t pid_ = -1;
};

TEST(BenchRedisTest, EveryWorkloadRunsAgainstRedisServer) {
  if (!OnPath("redis-server")) {
    GTEST_SKIP() << "redis-server is not installed (scripts/install-deps installs it)";
  }
  TempDir dir;
  RedisProcess redis(dir.path());
  ASSERT_TRUE(redis.Start()) << "redis-server did not answer PING on port " << redis.port();
  std::string address = "127.0.0.1:" + std::to_string(redis.port());
  std::string common = " --backend redis --window 4 --server-pid " + std::to_string(redis.pid());
  int code = -1;

  std::string w1 = RunBench(address, "--workload w1 -c 2 --seconds 0.5" + common, &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(w1, "w1", "redis");
  EXPECT_GT(Number(Fields(w1), "items"), 0) << w1;

  std::string w2 =
      RunBench(address, "--workload w2 -p 1 --workers 1 --seconds 0.5" + common, &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(w2, "w2", "redis");
  EXPECT_GT(Number(Fields(w2), "acked"), 0) << w2;

  std::string w3 = RunBench(
      address, "--workload w3 -k 2 --put-batch 4 --seconds 0.5 --data-dir " + dir.path() + common,
      &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(w3, "w3", "redis");
  auto f3 = Fields(w3);
  EXPECT_GT(Number(f3, "delivered"), 0) << w3;
  EXPECT_GE(Number(f3, "disk_bytes_per_item"), 256) << w3;

  std::string w4 = RunBench(address,
                            "--workload w4 --backlog 2000 -c 2 -p 1 --workers 2 --rate 1000 "
                            "--max-drain-seconds 20" +
                                common,
                            &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(w4, "w4", "redis");
  auto f4 = Fields(w4);
  EXPECT_EQ(f4["backlog"], "2000") << w4;
  EXPECT_EQ(f4["drained"], "true") << w4;

  std::string w5 =
      RunBench(address, "--workload w5 --queues 40 --items-per-queue 2 -c 2" + common, &code);
  EXPECT_EQ(code, 0);
  ExpectOneLine(w5, "w5", "redis");
  EXPECT_EQ(Fields(w5)["items"], "80") << w5;
}

}  // namespace
}  // namespace saker::test

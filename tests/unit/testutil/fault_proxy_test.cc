// FaultProxy against a real echo server on 127.0.0.1: forwarding, half-close, Cut, Blackhole,
// SetDelay, Heal and SetTarget.
#include "tests/testutil/fault_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// Echoes every connection's bytes back, a thread per connection; on a client's FIN it
// half-closes too.
class EchoServer {
 public:
  EchoServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(0);
    socklen_t len = sizeof addr;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 128) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "echo server: " << strerror(errno);
    }
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~EchoServer() {
    shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    accept_thread_.join();
    std::lock_guard lock(mu_);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    for (std::thread& t : threads_) t.join();
    for (int fd : fds_) close(fd);
    close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  uint64_t accepted() const { return accepted_; }
  uint64_t open() const { return open_; }
  uint64_t received() const { return received_; }
  // Half-closes every connection from the server's side; they keep reading.
  void HalfCloseAll() {
    std::lock_guard lock(mu_);
    for (int fd : fds_) shutdown(fd, SHUT_WR);
  }

 private:
  void AcceptLoop() {
    int fd;
    while ((fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0) {
      std::lock_guard lock(mu_);
      accepted_++;
      open_++;
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }
  void Serve(int fd) {
    std::vector<char> buf(64 * 1024);
    ssize_t n;
    while ((n = recv(fd, buf.data(), buf.size(), 0)) > 0) {
      received_ += static_cast<uint64_t>(n);
      for (ssize_t sent = 0, w = 0; sent < n && w >= 0; sent += w) {
        w = send(fd, buf.data() + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
      }
    }
    shutdown(fd, SHUT_WR);
    open_--;
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<int> fds_;              // guarded by mu_
  std::vector<std::thread> threads_;  // guarded by mu_
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> received_{0};
};

// A blocking client socket connected to 127.0.0.1:port (the kernel completes the handshake
// even when the proxy has not accepted yet).
int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "connect 127.0.0.1:" << port << ": " << strerror(errno);
  }
  return fd;
}

void SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << strerror(errno);
    sent += static_cast<size_t>(n);
  }
}

// What a read found by its deadline.
enum class End { kOpen, kEof, kReset };

// Reads up to `want` bytes into `got` until it has them, the stream ends or `timeout`
// (scaled) passes.
End Read(int fd, size_t want, std::string* got, milliseconds timeout) {
  auto deadline = SteadyClock::now() + Scaled(timeout);
  char buf[64 * 1024];
  while (got->size() < want) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) == 0) return End::kOpen;
    ssize_t n = recv(fd, buf, std::min(sizeof buf, want - got->size()), 0);
    if (n == 0) return End::kEof;
    if (n < 0) return End::kReset;
    got->append(buf, static_cast<size_t>(n));
  }
  return End::kOpen;
}

std::string Echo(int fd, const std::string& bytes) {
  SendAll(fd, bytes);
  std::string got;
  Read(fd, bytes.size(), &got, milliseconds(5000));
  return got;
}

// Waits for the stream to end: kEof or kReset, or kOpen if it did not by `timeout`.
End WaitEnd(int fd, milliseconds timeout) {
  std::string ignored;
  return Read(fd, SIZE_MAX, &ignored, timeout);
}

class FaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto proxy = FaultProxy::Start(echo_.port());
    ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
    proxy_ = std::move(proxy.value());
  }

  EchoServer echo_;
  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(FaultProxyTest, ForwardsBytesBothWays) {
  int fd = Connect(proxy_->port());
  EXPECT_EQ(Echo(fd, "hello"), "hello");
  // Megabytes: the writer blocks on full socket buffers while this thread reads.
  std::string big = MakePayload(7, 3 * 1024 * 1024);
  std::thread writer([&] { SendAll(fd, big); });
  std::string got;
  EXPECT_EQ(Read(fd, big.size(), &got, milliseconds(10000)), End::kOpen);
  writer.join();
  EXPECT_TRUE(got == big);
  // The proxy counts a write once it returns, maybe just after the client has read it.
  EXPECT_TRUE(WaitFor(
      [&] {
        FaultProxy::Counters c = proxy_->counters();
        return c.bytes_to_target == big.size() + 5 && c.bytes_to_client == big.size() + 5;
      },
      milliseconds(5000)));
  EXPECT_EQ(proxy_->counters().accepted, 1u);
  EXPECT_EQ(proxy_->counters().open, 1u);
  close(fd);
}

TEST_F(FaultProxyTest, ManyConnectionsAtOnce) {
  std::vector<int> fds;
  for (int i = 0; i < 64; i++) fds.push_back(Connect(proxy_->port()));
  for (size_t i = 0; i < fds.size(); i++) SendAll(fds[i], "conn-" + std::to_string(i));
  for (size_t i = 0; i < fds.size(); i++) {
    std::string want = "conn-" + std::to_string(i);
    std::string got;
    Read(fds[i], want.size(), &got, milliseconds(5000));
    EXPECT_EQ(got, want);
  }
  EXPECT_EQ(proxy_->counters().accepted, 64u);
  EXPECT_TRUE(WaitFor([&] { return proxy_->counters().open == 64; }, milliseconds(5000)));
  for (int fd : fds) close(fd);
  EXPECT_TRUE(WaitFor([&] { return proxy_->counters().open == 0; }, milliseconds(5000)));
  EXPECT_TRUE(WaitFor([&] { return echo_.open() == 0; }, milliseconds(5000)));
}

TEST_F(FaultProxyTest, ClientHalfCloseIsForwarded) {
  int fd = Connect(proxy_->port());
  SendAll(fd, "abc");
  shutdown(fd, SHUT_WR);
  // The echo server sees the FIN after "abc", echoes and half-closes: an orderly end here.
  std::string got;
  EXPECT_EQ(Read(fd, SIZE_MAX, &got, milliseconds(5000)), End::kEof);
  EXPECT_EQ(got, "abc");
  EXPECT_TRUE(WaitFor([&] { return proxy_->counters().open == 0; }, milliseconds(5000)));
  close(fd);
}

TEST_F(FaultProxyTest, TargetHalfCloseIsForwarded) {
  int fd = Connect(proxy_->port());
  EXPECT_EQ(Echo(fd, "x"), "x");
  echo_.HalfCloseAll();
  EXPECT_EQ(WaitEnd(fd, milliseconds(5000)), End::kEof);
  // Only one direction ended: bytes still reach the target.
  SendAll(fd, "after");
  EXPECT_TRUE(WaitFor([&] { return echo_.received() == 6; }, milliseconds(5000)));
  EXPECT_EQ(proxy_->counters().open, 1u);
  close(fd);
  EXPECT_TRUE(WaitFor([&] { return proxy_->counters().open == 0; }, milliseconds(5000)));
}

TEST_F(FaultProxyTest, CutResetsOpenConnectionsAndRefusesNewOnes) {
  int fd = Connect(proxy_->port());
  EXPECT_EQ(Echo(fd, "x"), "x");
  proxy_->Cut();
  EXPECT_EQ(proxy_->counters().open, 0u);
  EXPECT_EQ(WaitEnd(fd, milliseconds(5000)), End::kReset);
  EXPECT_TRUE(WaitFor([&] { return echo_.open() == 0; }, milliseconds(5000)));
  close(fd);

  int late = Connect(proxy_->port());
  EXPECT_EQ(WaitEnd(late, milliseconds(5000)), End::kReset);
  EXPECT_EQ(proxy_->counters().refused, 1u);
  EXPECT_EQ(echo_.accepted(), 1u);
  close(late);
}

TEST_F(FaultProxyTest, HealAfterCutForwardsAgain) {
  proxy_->Cut();
  proxy_->Heal();
  int fd = Connect(proxy_->port());
  EXPECT_EQ(Echo(fd, "back"), "back");
  EXPECT_EQ(proxy_->counters().refused, 0u);
  close(fd);
}

TEST_F(FaultProxyTest, BlackholeHoldsBytesAndKeepsTheConnection) {
  int fd = Connect(proxy_->port());
  EXPECT_EQ(Echo(fd, "a"), "a");
  proxy_->Blackhole();
  SendAll(fd, "b");
  int waiting = Connect(proxy_->port());
  // Nothing may arrive while the blackhole lasts; 50 ms is how long this test looks.
  std::string got;
  EXPECT_EQ(Read(fd, 1, &got, milliseconds(50)), End::kOpen);
  EXPECT_EQ(got, "");
  EXPECT_EQ(echo_.received(), 1u);
  EXPECT_EQ(proxy_->counters().accepted, 1u);
  EXPECT_EQ(proxy_->counters().open, 1u);

  proxy_->Heal();
  EXPECT_EQ(Read(fd, 1, &got, milliseconds(5000)), End::kOpen);
  EXPECT_EQ(got, "b");
  EXPECT_EQ(Echo(fd, "c"), "c");
  EXPECT_EQ(Echo(waiting, "d"), "d");
  EXPECT_EQ(proxy_->counters().refused, 0u);
  close(fd);
  close(waiting);
}

TEST_F(FaultProxyTest, SetDelayDelaysEachWay) {
  int fd = Connect(proxy_->port());
  EXPECT_EQ(Echo(fd, "warm"), "warm");
  proxy_->SetDelay(milliseconds(30));
  auto start = SteadyClock::now();
  EXPECT_EQ(Echo(fd, "slow"), "slow");
  EXPECT_GE(SteadyClock::now() - start, milliseconds(60));  // 30 ms there, 30 ms back
  proxy_->Heal();
  EXPECT_EQ(Echo(fd, "fast"), "fast");
  close(fd);
}

TEST_F(FaultProxyTest, SetTargetMovesNewConnectionsOnly) {
  int old_fd = Connect(proxy_->port());
  EXPECT_EQ(Echo(old_fd, "old"), "old");
  EchoServer other;
  proxy_->SetTarget(other.port());
  int new_fd = Connect(proxy_->port());
  EXPECT_EQ(Echo(new_fd, "new"), "new");
  EXPECT_EQ(Echo(old_fd, "still"), "still");
  EXPECT_EQ(other.accepted(), 1u);
  EXPECT_EQ(echo_.accepted(), 1u);
  close(old_fd);
  close(new_fd);
}

TEST_F(FaultProxyTest, RefusesWhileTheTargetIsDown) {
  // A port nothing listens on: bound, then closed.
  int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(probe);
  proxy_->SetTarget(ntohs(addr.sin_port));
  int fd = Connect(proxy_->port());
  EXPECT_EQ(WaitEnd(fd, milliseconds(5000)), End::kReset);
  EXPECT_TRUE(WaitFor([&] { return proxy_->counters().refused == 1; }, milliseconds(5000)));
  EXPECT_EQ(proxy_->counters().accepted, 0u);
  close(fd);
}

TEST_F(FaultProxyTest, NoTargetRefusesUntilOneIsSet) {
  auto proxy = FaultProxy::Start(0);
  ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
  int fd = Connect((*proxy)->port());
  EXPECT_EQ(WaitEnd(fd, milliseconds(5000)), End::kReset);
  close(fd);
  (*proxy)->SetTarget(echo_.port());
  fd = Connect((*proxy)->port());
  EXPECT_EQ(Echo(fd, "now"), "now");
  close(fd);
}

TEST_F(FaultProxyTest, StartReportsABusyPort) {
  auto second = FaultProxy::Start(echo_.port(), proxy_->port());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsIOError()) << second.status().ToString();
}

TEST_F(FaultProxyTest, DestructorClosesEverything) {
  int fd = Connect(proxy_->port());
  EXPECT_EQ(Echo(fd, "x"), "x");
  proxy_.reset();
  EXPECT_EQ(WaitEnd(fd, milliseconds(5000)), End::kReset);
  EXPECT_TRUE(WaitFor([&] { return echo_.open() == 0; }, milliseconds(5000)));
  close(fd);
}

}  // namespace
}  // namespace saker::test

// Connection and Listener over real loopback sockets, driven by one EventLoop in the test
// thread: ordered replies across out-of-order completions, pipelining, close-after-write,
// request-size limit, connection counting, the request deadline; DurableReply's slot filled only
// once durable.
#include "server/net/connection.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>

#include "server/common/event_loop.h"
#include "server/net/durable_reply.h"
#include "server/net/listener.h"

namespace saker::net {
namespace {

// A line protocol: "now X" replies "X" at once; "later X" reserves a slot filled by the test;
// "bye" replies "bye" then closes after the write; "ack" takes a DurableReply the test drives;
// "sync X" replies "X" once every earlier reply is out (ResumeWhenIdle until then).
class LineHandler final : public ProtocolHandler {
 public:
  LineHandler(std::vector<std::pair<Connection*, Connection::Slot>>* parked,
              std::vector<DurableReply>* acks)
      : parked_(parked), acks_(acks) {}
  void OnData(Connection* conn) override {
    while (!conn->closed()) {
      std::string_view in = conn->input();
      size_t nl = in.find('\n');
      if (nl == std::string_view::npos) return;
      std::string line(in.substr(0, nl));
      if (line.rfind("sync ", 0) == 0 && conn->pending_replies() > 0) {
        conn->ResumeWhenIdle();
        return;
      }
      conn->Consume(nl + 1);
      if (line.rfind("now ", 0) == 0 || line.rfind("sync ", 0) == 0) {
        conn->Send(line.substr(line.find(' ') + 1) + "\n");
      } else if (line.rfind("later", 0) == 0) {
        parked_->emplace_back(conn, conn->Reserve());
      } else if (line == "ack") {
        acks_->emplace_back(conn, [](const Status& st, std::string* out) {
          out->append("failed ").append(st.message()).append("\n");
        });
      } else if (line == "bye") {
        conn->Send("bye\n");
        conn->CloseAfterWrite();
      }
    }
  }
  void OnClose(Connection*) override { closed++; }
  int closed = 0;

 private:
  std::vector<std::pair<Connection*, Connection::Slot>>* parked_;
  std::vector<DurableReply>* acks_;
};

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_.AddBeforeSleep([this] { writes_.FlushAll(); });
    ConnectionLimits limits;
    limits.max_request_bytes = 1024;
    limits.request_timeout_ms = kRequestTimeoutMs;
    listener_ = std::make_unique<Listener>(
        loop_.uv(), "line", [this] { return std::make_unique<LineHandler>(&parked_, &acks_); },
        &writes_, limits, &counters_, 2);
    listener_->set_on_connection([this](std::shared_ptr<Connection> c) { conns_.push_back(c); });
    ASSERT_TRUE(listener_->Listen("127.0.0.1", 0).ok());
  }

  static constexpr int64_t kRequestTimeoutMs = 1000;

  // Asks the newest connection whether its request is overdue `later_ms` from loop time now (the
  // sweep's question, with time moved on instead of waited for).
  bool OverdueAfter(int64_t later_ms) {
    auto conn = conns_.back().lock();
    return conn && conn->CloseIfRequestOverdue(uv_now(loop_.uv()) + later_ms);
  }

  // Every test closes its client sockets; the server side must then close too, freeing each
  // Connection from its uv_close callback before the loop goes away.
  void TearDown() override {
    EXPECT_TRUE(SpinUntil([&] { return counters_.current == 0; }));
    Spin();
  }

  int Dial() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(listener_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }

  // Runs the loop until `want` bytes arrived on fd (or EOF / 5 s); returns them.
  std::string Read(int fd, size_t want, bool* eof = nullptr) {
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
      loop_.RunOnce();
      char buf[4096];
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) got.append(buf, static_cast<size_t>(n));
      if (n == 0) {
        if (eof) *eof = true;
        break;
      }
    }
    return got;
  }

  // True if bytes (or EOF) are waiting on fd now.
  static bool Readable(int fd) {
    char c;
    return recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
  }

  void Spin(int iterations = 50) {
    for (int i = 0; i < iterations; i++) loop_.RunOnce();
  }

  bool SpinUntil(const std::function<bool()>& pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pred() && std::chrono::steady_clock::now() < deadline) loop_.RunOnce();
    return pred();
  }

  EventLoop loop_;
  WriteScheduler writes_;
  ConnectionCounters counters_;
  std::vector<std::pair<Connection*, Connection::Slot>> parked_;
  std::vector<DurableReply> acks_;
  std::vector<std::weak_ptr<Connection>> conns_;
  std::unique_ptr<Listener> listener_;
};

TEST_F(ConnectionTest, PipelinedImmediateRepliesKeepOrder) {
  int fd = Dial();
  std::string req;
  for (int i = 0; i < 100; i++) req += "now " + std::to_string(i) + "\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string want;
  for (int i = 0; i < 100; i++) want += std::to_string(i) + "\n";
  EXPECT_EQ(Read(fd, want.size()), want);
  close(fd);
}

TEST_F(ConnectionTest, ParkedReplyHoldsBackLaterOnes) {
  int fd = Dial();
  std::string req = "now a\nlater\nnow c\n";
  send(fd, req.data(), req.size(), 0);
  EXPECT_EQ(Read(fd, 2), "a\n");
  Spin();
  ASSERT_EQ(parked_.size(), 1u);
  char buf[16];
  EXPECT_EQ(recv(fd, buf, sizeof buf, MSG_DONTWAIT), -1);  // "c" waits behind the slot
  parked_[0].first->Reply(parked_[0].second, "b\n");
  EXPECT_EQ(Read(fd, 4), "b\nc\n");
  close(fd);
}

TEST_F(ConnectionTest, CloseAfterWriteDeliversThenCloses) {
  int fd = Dial();
  send(fd, "bye\nnow ignored\n", 16, 0);
  bool eof = false;
  std::string got = Read(fd, 100, &eof);
  EXPECT_EQ(got, "bye\n");
  EXPECT_TRUE(eof);
  close(fd);
}

TEST_F(ConnectionTest, OversizedRequestClosesConnection) {
  int fd = Dial();
  std::string junk(4096, 'x');  // no newline: never a whole request, over 1024 bytes
  send(fd, junk.data(), junk.size(), 0);
  bool eof = false;
  Read(fd, 1, &eof);
  EXPECT_TRUE(eof);
  close(fd);
}

TEST_F(ConnectionTest, CountsConnectionsAndRefusesOverMax) {
  int a = Dial(), b = Dial();
  EXPECT_TRUE(SpinUntil([&] { return counters_.current == 2; }));
  int c = Dial();
  bool eof = false;
  Read(c, 1, &eof);
  EXPECT_TRUE(eof);
  EXPECT_EQ(counters_.refused, 1u);
  close(a);
  EXPECT_TRUE(SpinUntil([&] { return counters_.current == 1; }));
  close(b);
  close(c);
}

TEST_F(ConnectionTest, DurableReplyWaitsForBothAndKeepsOrder) {
  int fd = Dial();
  std::string req = "ack\nack\nnow c\n";
  send(fd, req.data(), req.size(), 0);
  ASSERT_TRUE(SpinUntil([&] { return acks_.size() == 2; }));
  acks_[0].Set("a\n");  // the reply is known, the change is not durable yet
  acks_[1].Durable()(Status::OK());
  Spin();
  EXPECT_FALSE(Readable(fd));
  acks_[1].Set("b\n");  // durable first, then the reply: held behind the first
  Spin();
  EXPECT_FALSE(Readable(fd));
  acks_[0].Durable()(Status::OK());
  EXPECT_EQ(Read(fd, 6), "a\nb\nc\n");
  close(fd);
}

TEST_F(ConnectionTest, FailedDurableSendsTheErrorAndCloses) {
  int fd = Dial();
  send(fd, "ack\n", 4, 0);
  ASSERT_TRUE(SpinUntil([&] { return acks_.size() == 1; }));
  acks_[0].Set("ok\n");
  acks_[0].Durable()(Status::IOError("queue q is fail-stop"));
  bool eof = false;
  EXPECT_EQ(Read(fd, 100, &eof), "failed queue q is fail-stop\n");
  EXPECT_TRUE(eof);
  close(fd);
}

TEST_F(ConnectionTest, DurableAfterTheConnectionClosedIsHarmless) {
  int fd = Dial();
  send(fd, "ack\n", 4, 0);
  ASSERT_TRUE(SpinUntil([&] { return acks_.size() == 1; }));
  close(fd);
  ASSERT_TRUE(SpinUntil([&] { return counters_.current == 0; }));
  Spin();
  acks_[0].Set("late\n");
  acks_[0].Durable()(Status::OK());
  Spin();
}

TEST_F(ConnectionTest, HalfSentRequestIsClosedAtItsDeadline) {
  int fd = Dial();
  send(fd, "now a\nnow b", 11, 0);  // one whole request, then the start of another
  EXPECT_EQ(Read(fd, 2), "a\n");
  Spin();
  EXPECT_FALSE(OverdueAfter(kRequestTimeoutMs - 1));
  EXPECT_EQ(counters_.request_timeouts, 0u);
  EXPECT_TRUE(OverdueAfter(kRequestTimeoutMs));
  EXPECT_EQ(counters_.request_timeouts, 1u);
  bool eof = false;
  Read(fd, 1, &eof);
  EXPECT_TRUE(eof);
  close(fd);
}

TEST_F(ConnectionTest, WholeRequestsAndIdleTimeHaveNoDeadline) {
  int fd = Dial();
  send(fd, "now a\n", 6, 0);
  EXPECT_EQ(Read(fd, 2), "a\n");
  EXPECT_FALSE(OverdueAfter(10 * kRequestTimeoutMs));
  send(fd, "now b\n", 6, 0);  // the connection still serves
  EXPECT_EQ(Read(fd, 2), "b\n");
  close(fd);
}

TEST_F(ConnectionTest, RequestsTheServerHoldsHaveNoDeadline) {
  int fd = Dial();
  // A parked reply (a long-poll get), and a whole request held behind it (ResumeWhenIdle).
  send(fd, "later\nsync c\n", 13, 0);
  ASSERT_TRUE(SpinUntil([&] { return parked_.size() == 1; }));
  Spin();
  EXPECT_FALSE(OverdueAfter(10 * kRequestTimeoutMs));
  parked_[0].first->Reply(parked_[0].second, "b\n");
  EXPECT_EQ(Read(fd, 4), "b\nc\n");
  close(fd);
}

}  // namespace
}  // namespace saker::net

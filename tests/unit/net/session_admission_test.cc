// What the memcache, text and Thrift sessions answer for a queue this node does not serve
// (docs/PROTOCOL.md, Clusters): real loopback connections to the three sessions over one engine
// whose Replicator (queue_test_util.h's Admissions) says another node leads "theirs" and nobody
// is known for "unknown" yet, while "mine" is led here.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thrift/TApplicationException.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "Saker.h"
#include "server/net/context.h"
#include "server/net/listener.h"
#include "server/net/memcache_session.h"
#include "server/net/text_session.h"
#include "server/net/thrift_session.h"
#include "tests/unit/queue/queue_test_util.h"

namespace saker::net {
namespace {

using apache::thrift::TApplicationException;
using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::transport::TMemoryBuffer;
using queue::test::Admissions;

const std::string kTheirs = Admissions::LeaderMessage("theirs");
const std::string kUnknown = "queue unknown: no leader known yet, retry";

class TestContext final : public Context {
 public:
  explicit TestContext(queue::test::EngineHarness* h) : h_(h), clock_(&h->clock()) {}
  queue::QueueManager* engine() override { return h_->engine(); }
  admin::ServerCounters* counters() override { return &counters_; }
  const ConnectionLimits& limits() const override { return limits_; }
  const Clock* clock() const override { return clock_; }
  admin::Snapshot Snapshot() override {
    admin::Snapshot s;
    s.counters = &counters_;
    s.queues = h_->engine()->AllStats();
    return s;
  }
  queue::QueueConfig QueueConfigFor(std::string_view) const override { return {}; }
  void Shutdown() override {}
  Status Reload() override { return Status::OK(); }

 private:
  queue::test::EngineHarness* h_;
  const Clock* clock_;
  admin::ServerCounters counters_;
  ConnectionLimits limits_;
};

class SessionAdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.AdmitBy(admissions_);
    h_.Start();
    admissions_->LedElsewhere("theirs");
    admissions_->Unknown("unknown");
    h_.loop().AddBeforeSleep([this] { writes_.FlushAll(); }, EventLoop::HookOrder::kWrite);
    ctx_ = std::make_unique<TestContext>(&h_);
    memcache_ =
        Listen("memcache", [this] { return std::make_unique<MemcacheSession>(ctx_.get()); });
    text_ = Listen("text", [this] { return std::make_unique<TextSession>(ctx_.get()); });
    thrift_ = Listen("thrift", [this] { return std::make_unique<ThriftSession>(ctx_.get()); });
  }

  void TearDown() override {
    for (int fd : fds_) close(fd);
    EXPECT_TRUE(SpinUntil([&] { return conns_.current == 0; }));
    memcache_.reset();
    text_.reset();
    thrift_.reset();
    for (int i = 0; i < 10; i++) h_.loop().RunOnce();
    h_.Stop();  // while writes_, which the loop's hook flushes, is alive
  }

  std::unique_ptr<Listener> Listen(const char* name, Listener::HandlerFactory factory) {
    auto l = std::make_unique<Listener>(h_.loop().uv(), name, std::move(factory), &writes_,
                                        ConnectionLimits{}, &conns_, 64);
    EXPECT_TRUE(l->Listen("127.0.0.1", 0).ok());
    return l;
  }

  int Dial(const Listener& l) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(l.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    fds_.push_back(fd);
    return fd;
  }

  bool SpinUntil(const std::function<bool()>& pred) {
    auto deadline = std::chrono::steady_clock::now() + saker::test::Scaled(std::chrono::seconds(5));
    while (!pred() && std::chrono::steady_clock::now() < deadline) h_.loop().RunOnce();
    return pred();
  }

  // Sends `request` on `fd` and runs the loop until `want` bytes came back (or EOF, or 5 s).
  std::string Exchange(int fd, const std::string& request, size_t want, bool* eof = nullptr) {
    EXPECT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    std::string got;
    SpinUntil([&] {
      char buf[4096];
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) got.append(buf, static_cast<size_t>(n));
      if (n == 0 && eof != nullptr) *eof = true;
      return n == 0 || got.size() >= want;
    });
    return got;
  }

  // One request on a fresh memcache connection: the reply, and whether the server closed after.
  std::string Memcache(const std::string& request, size_t want, bool* closed = nullptr) {
    int fd = Dial(*memcache_);
    std::string reply = Exchange(fd, request, want);
    if (closed != nullptr) {
      bool eof = false;
      Exchange(fd, "", SIZE_MAX, &eof);
      *closed = eof;
    }
    return reply;
  }
  std::string MemcacheRefusal(const std::string& message) {
    return "SERVER_ERROR " + message + "\r\n";
  }

  // A Thrift call: `send` writes it through a generated client, the frame goes to the server and
  // its reply frame is handed to `recv` (which returns or throws as the generated code does).
  template <typename Send, typename Recv>
  auto Thrift(Send send, Recv recv) {
    auto in = std::make_shared<TMemoryBuffer>();
    auto out = std::make_shared<TMemoryBuffer>();
    api::SakerClient client(std::make_shared<TBinaryProtocol>(in),
                            std::make_shared<TBinaryProtocol>(out));
    send(client);
    std::string call = out->getBufferAsString();
    std::string frame(4, '\0');
    for (int i = 0; i < 4; i++) frame[i] = static_cast<char>(call.size() >> (24 - 8 * i));
    if (thrift_fd_ < 0) thrift_fd_ = Dial(*thrift_);
    std::string reply = Exchange(thrift_fd_, frame + call, 4);
    EXPECT_GE(reply.size(), 4u);
    uint32_t length = 0;
    for (int i = 0; i < 4 && i < static_cast<int>(reply.size()); i++) {
      length = (length << 8) | static_cast<uint8_t>(reply[i]);
    }
    if (reply.size() < 4 + length) reply += Exchange(thrift_fd_, "", 4 + length - reply.size());
    std::string body = reply.size() >= 4 ? reply.substr(4) : "";
    in->resetBuffer(reinterpret_cast<uint8_t*>(body.data()), static_cast<uint32_t>(body.size()),
                    TMemoryBuffer::COPY);
    return recv(client);
  }
  // The SakerError a native call throws (code -1 if it returned).
  template <typename Send, typename Recv>
  api::SakerError NativeError(Send send, Recv recv) {
    try {
      Thrift(send, recv);
    } catch (const api::SakerError& e) {
      return e;
    }
    api::SakerError none;
    none.code = -1;
    return none;
  }
  // The TApplicationException message a Kestrel call answers ("" if it returned).
  template <typename Send, typename Recv>
  std::string KestrelError(Send send, Recv recv) {
    try {
      Thrift(send, recv);
    } catch (const TApplicationException& e) {
      return e.what();
    }
    return "";
  }

  saker::test::TempDir dir_;
  std::shared_ptr<Admissions> admissions_ = std::make_shared<Admissions>();
  queue::test::EngineHarness h_{dir_.path()};
  WriteScheduler writes_;
  admin::ConnectionCounters conns_;
  std::unique_ptr<TestContext> ctx_;
  std::unique_ptr<Listener> memcache_, text_, thrift_;
  std::vector<int> fds_;
  int thrift_fd_ = -1;
};

TEST_F(SessionAdmissionTest, MemcacheCursorCallsAnswerServerErrorAndClose) {
  const std::string refusal = MemcacheRefusal(kTheirs);
  for (const char* request :
       {"get theirs/close\r\n", "get theirs/abort\r\n", "get theirs/close/open\r\n",
        "confirm theirs 1\r\n", "flush theirs\r\n", "delete theirs\r\n", "flush_expired theirs\r\n",
        "monitor theirs 1\r\n", "get theirs\r\n", "get theirs/peek\r\n",
        "set theirs 0 0 1\r\nx\r\n"}) {
    bool closed = false;
    EXPECT_EQ(Memcache(request, refusal.size(), &closed), refusal) << request;
    EXPECT_TRUE(closed) << request;
  }
}

TEST_F(SessionAdmissionTest, MemcacheOnAnUnknownQueueAnswersRetry) {
  const std::string refusal = MemcacheRefusal(kUnknown);
  for (const char* request : {"get unknown/close\r\n", "confirm unknown 0\r\n", "flush unknown\r\n",
                              "monitor unknown 1\r\n"}) {
    EXPECT_EQ(Memcache(request, refusal.size()), refusal) << request;
  }
}

TEST_F(SessionAdmissionTest, MemcacheServesItsOwnQueuesAndNodeWideCallsAsBefore) {
  h_.PutOk("mine", {"a"});
  int fd = Dial(*memcache_);
  for (const auto& [request, reply] : std::vector<std::pair<std::string, std::string>>{
           {"get mine/open\r\n", "VALUE mine 0 1\r\na\r\nEND\r\n"},
           {"get mine/close\r\n", "END\r\n"},
           {"flush mine\r\n", "END\r\n"},
           {"flush_all\r\n", "Flushed all queues.\r\n"},
           {"delete mine\r\n", "DELETED\r\n"}}) {
    EXPECT_EQ(Exchange(fd, request, reply.size()), reply) << request;
  }
}

TEST_F(SessionAdmissionTest, TextCallsAnswerTheRefusal) {
  int fd = Dial(*text_);
  const std::string refusal = "-" + kTheirs + "\n";
  for (const char* request :
       {"confirm theirs 1\n", "flush theirs\n", "delete theirs\n", "get theirs\n", "peek theirs\n",
        "monitor theirs 100\n", "put theirs:\nx\n\n"}) {
    EXPECT_EQ(Exchange(fd, request, refusal.size()), refusal) << request;
  }
  EXPECT_EQ(Exchange(fd, "confirm unknown 0\n", kUnknown.size() + 2), "-" + kUnknown + "\n");
}

TEST_F(SessionAdmissionTest, TextGetOfAQueueLostWithOpenReadsConfirmsNothing) {
  h_.PutOk("q", {"a", "b"});
  int fd = Dial(*text_);
  EXPECT_EQ(Exchange(fd, "get q\n", 3), ":a\n");
  admissions_->LedElsewhere("q");
  const std::string refusal = "-" + Admissions::LeaderMessage("q") + "\n";
  EXPECT_EQ(Exchange(fd, "get q\n", refusal.size()), refusal);
  admissions_->Answer("q", Status::OK());
  auto stats = h_->GetQueueStats("q");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->open_transactions, 1u);  // "a" is still open, not confirmed
}

TEST_F(SessionAdmissionTest, NativeCallsThrowNotLeader) {
  const std::vector<int64_t> ids{1, 2};
  api::StartPosition start;
  std::vector<std::pair<const char*, api::SakerError>> errors = {
      {"ack", NativeError([&](auto& c) { c.send_ack("theirs", ids); },
                          [](auto& c) { return c.recv_ack(); })},
      {"nack", NativeError([&](auto& c) { c.send_nack("theirs", ids, -1); },
                           [](auto& c) { return c.recv_nack(); })},
      {"extend_leases", NativeError([&](auto& c) { c.send_extend_leases("theirs", ids, 1000); },
                                    [](auto& c) { return c.recv_extend_leases(); })},
      {"queue_info", NativeError([](auto& c) { c.send_queue_info("theirs"); },
                                 [](auto& c) {
                                   api::QueueDetails d;
                                   c.recv_queue_info(d);
                                   return 0;
                                 })},
      {"list_subscriptions", NativeError([](auto& c) { c.send_list_subscriptions("theirs"); },
                                         [](auto& c) {
                                           std::vector<api::SubscriptionInfo> s;
                                           c.recv_list_subscriptions(s);
                                           return 0;
                                         })},
      {"create_subscription",
       NativeError([&](auto& c) { c.send_create_subscription("theirs", "s", start); },
                   [](auto& c) {
                     c.recv_create_subscription();
                     return 0;
                   })},
      {"seek_subscription",
       NativeError([&](auto& c) { c.send_seek_subscription("theirs", "", start); },
                   [](auto& c) {
                     c.recv_seek_subscription();
                     return 0;
                   })},
      {"delete_subscription",
       NativeError([](auto& c) { c.send_delete_subscription("theirs", "s"); },
                   [](auto& c) {
                     c.recv_delete_subscription();
                     return 0;
                   })},
  };
  for (const auto& [method, e] : errors) {
    EXPECT_EQ(e.code, static_cast<int32_t>(StatusCode::kNotLeader)) << method;
    EXPECT_EQ(e.message, kTheirs) << method;
  }
  api::SakerError unknown = NativeError([&](auto& c) { c.send_ack("unknown", ids); },
                                        [](auto& c) { return c.recv_ack(); });
  EXPECT_EQ(unknown.code, static_cast<int32_t>(StatusCode::kUnavailable));
  EXPECT_EQ(unknown.message, kUnknown);
}

TEST_F(SessionAdmissionTest, NativeAckOfAQueueLedHereIsServed) {
  h_.PutOk("mine", {"a", "b"});
  std::vector<int64_t> ids;
  for (uint64_t id : h_.Lease("mine", 2).leases) ids.push_back(static_cast<int64_t>(id));
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(
      Thrift([&](auto& c) { c.send_ack("mine", {ids[0]}); }, [](auto& c) { return c.recv_ack(); }),
      1);
  EXPECT_EQ(Thrift([&](auto& c) { c.send_nack("mine", {ids[1]}, 0); },
                   [](auto& c) { return c.recv_nack(); }),
            1);
  EXPECT_EQ(h_.Take("mine"), (std::vector<std::string>{"b"}));
}

TEST_F(SessionAdmissionTest, KestrelCallsAnswerApplicationExceptions) {
  const std::string want = "NotLeader: " + kTheirs;
  EXPECT_EQ(KestrelError([](auto& c) { c.send_confirm("theirs", {1}); },
                         [](auto& c) { return c.recv_confirm(); }),
            want);
  EXPECT_EQ(KestrelError([](auto& c) { c.send_abort("theirs", {1}); },
                         [](auto& c) { return c.recv_abort(); }),
            want);
  EXPECT_EQ(KestrelError([](auto& c) { c.send_peek("theirs"); },
                         [](auto& c) {
                           kestrel::QueueInfo info;
                           c.recv_peek(info);
                           return 0;
                         }),
            want);
  EXPECT_EQ(KestrelError([](auto& c) { c.send_flush_queue("theirs"); },
                         [](auto& c) {
                           c.recv_flush_queue();
                           return 0;
                         }),
            want);
  EXPECT_EQ(KestrelError([](auto& c) { c.send_delete_queue("theirs"); },
                         [](auto& c) {
                           c.recv_delete_queue();
                           return 0;
                         }),
            want);
  // Kestrel's put and get keep their shapes: 0 stored, no items.
  EXPECT_EQ(
      Thrift([](auto& c) { c.send_put("theirs", {"x"}, 0); }, [](auto& c) { return c.recv_put(); }),
      0);
}

}  // namespace
}  // namespace saker::net

// saker-bench: the DESIGN.md workloads against sakerd (native Thrift API, or Kestrel's memcache
// dialect with --protocol memcache) or Redis Streams.
//   W1 durable put: C connections x `window` puts in flight (one item each); items/s and
//      put-ack latency p50/p99.
//   W2 work queue: P producers (each `window` puts in flight, optionally rate-limited) and W
//      workers (leased get of up to `get_batch`, then one ack); acked items/s and
//      enqueue-to-ack latency p50/p99 (the put time travels in the item).
//   W3 fan-out: 1 producer (`window` puts in flight) and K subscriptions, one worker each,
//      every subscription reading every item; delivered items/s and bytes on disk per put item.
//   W4 read-behind: a `backlog` of items first, then W workers drain it while P producers keep
//      putting at `rate`; drain items/s, producer put p50/p99 during the drain, server RSS.
//   W5 many queues: `queues` queues with `items_per_queue` items each (one put request per
//      queue, C connections x `window` in flight); queues/s and server RSS.
// Redis: a queue is a stream, a subscription a consumer group; XADD for puts, XREADGROUP + XACK
// for gets. Both backends pipeline the same way: requests are encoded into a buffer, written
// with one send when the connection runs out of buffered replies, and replies are read in
// large chunks (hiredis does this itself; SakerConn does it for the Thrift client).
// Over memcache a worker reads as a Kestrel worker does, one item per round trip on its own
// connection: `get q/open/t=100`, then `get q/close/open/t=100` (the close acks the previous
// item; its reply, the next item, is when the ack is answered), `q+sN` for W3's subscriptions;
// producers pipeline `set q 0 0 N` the same `window` deep.
// One JSON line per run on stdout (its "protocol" field: thrift, memcache or resp); a progress
// line on stderr every second.
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "Saker.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string workload = "w1";
  std::string backend = "saker";
  std::string protocol = "thrift";
  std::string server = "127.0.0.1:2229";
  std::string queue;
  double seconds = 5;
  int connections = 8;
  int window = 32;
  int size = 256;
  int producers = 4;
  int workers = 4;
  int get_batch = 32;
  int gets_in_flight = 1;
  int64_t rate = 0;
  int subscriptions = 1;
  int put_batch = 1;
  int64_t backlog = 1'000'000;
  int fill_batch = 100;
  double max_drain_seconds = 120;
  int64_t queues = 100'000;
  int items_per_queue = 3;
  std::string data_dir;
  int server_pid = 0;
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Payload of `size` bytes whose first 8 carry the put time (ns, steady clock).
std::string Payload(int size, int64_t now_ns) {
  std::string p(std::max(size, 8), 'x');
  std::memcpy(p.data(), &now_ns, sizeof(now_ns));
  return p;
}

int64_t PutTime(const char* data, size_t size) {
  int64_t ns = 0;
  if (size >= sizeof(ns)) std::memcpy(&ns, data, sizeof(ns));
  return ns;
}

uint32_t Micros(int64_t ns) { return static_cast<uint32_t>(std::max<int64_t>(ns / 1000, 0)); }

// Latencies in microseconds from all threads, and the item count the progress line reads
// (workers also count the items handed to them before they are acked).
struct Recorder {
  std::mutex mu;
  std::vector<uint32_t> latencies_us;
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> delivered{0};

  void Merge(const std::vector<uint32_t>& local) {
    std::lock_guard<std::mutex> lock(mu);
    latencies_us.insert(latencies_us.end(), local.begin(), local.end());
  }
  uint32_t Percentile(double p) {
    std::lock_guard<std::mutex> lock(mu);
    if (latencies_us.empty()) return 0;
    size_t i = std::min(latencies_us.size() - 1, static_cast<size_t>(p * latencies_us.size()));
    std::nth_element(latencies_us.begin(), latencies_us.begin() + i, latencies_us.end());
    return latencies_us[i];
  }
};

void SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("want host:port, got " + address);
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
}

// Prints `line()` on stderr once a second until destroyed.
class Progress {
 public:
  explicit Progress(std::function<std::string()> line)
      : line_(std::move(line)), start_(Clock::now()), thread_([this] { Run(); }) {}
  ~Progress() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    auto next = start_ + std::chrono::seconds(1);
    while (!cv_.wait_until(lock, next, [this] { return stop_; })) {
      std::fprintf(stderr, "%.0f s: %s\n", SecondsSince(start_), line_().c_str());
      next += std::chrono::seconds(1);
    }
  }
  std::function<std::string()> line_;
  Clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// One item handed to a worker: what acks it, and when it was put.
struct Got {
  int64_t lease_id = 0;
  std::string redis_id;
  int64_t put_ns = 0;
};

// One connection to either backend. Send* append a request to the connection's output;
// Recv* return the oldest outstanding reply, first writing all pending requests in one go
// if no reply is buffered yet. A failure throws (and ends the run).
class QueueConn {
 public:
  virtual ~QueueConn() = default;
  // Puts `items` items of `size` bytes (put time `now_ns`) as one request.
  virtual void SendPut(const std::string& queue, int items, int size, int64_t now_ns) = 0;
  // Items accepted by the oldest outstanding put.
  virtual int RecvPut() = 0;
  // Leased get of up to `max_items` from `subscription` ("" = the default), waiting `wait_ms`.
  virtual void SendGet(const std::string& queue, const std::string& subscription, int max_items,
                       int wait_ms) = 0;
  virtual void RecvGet(std::vector<Got>* items) = 0;
  virtual void SendAck(const std::string& queue, const std::string& subscription,
                       const std::vector<Got>& items) = 0;
  virtual void RecvAck() = 0;
  // Creates `subscription` of `queue` starting at its first item.
  virtual void CreateSubscription(const std::string& queue, const std::string& subscription) = 0;
  // Writes every pending request now.
  virtual void Flush() = 0;
  // True once a reply can be received without waiting, false if none came by `deadline`.
  virtual bool Poll(Clock::time_point deadline) = 0;
};

// Waits until `fd` is readable or `deadline` passes.
bool PollReadable(int fd, Clock::time_point deadline) {
  auto left = std::max(deadline - Clock::now(), Clock::duration::zero());
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  timespec timeout{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  pollfd p{fd, POLLIN, 0};
  int rc = ppoll(&p, 1, &timeout, nullptr);
  if (rc < 0 && errno != EINTR)
    throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
  return rc > 0;
}

// One TCP connection with an output buffer written by WriteAll() and an input buffer filled
// in chunks of up to kReadBytes by Fill(); the subclasses parse replies out of [start_, end_).
class SocketConn : public QueueConn {
 public:
  static constexpr size_t kReadBytes = 256 * 1024;

  explicit SocketConn(const std::string& address) : buf_(kReadBytes) {
    std::string host, port;
    SplitHostPort(address, &host, &port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
      throw std::runtime_error("cannot resolve " + address);
    }
    fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = fd_ < 0 ? -1 : ::connect(fd_, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0) throw std::runtime_error("connect " + address + ": " + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~SocketConn() override { ::close(fd_); }

 protected:
  // Sends all `n` bytes at `p`.
  void WriteAll(const uint8_t* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      p += w;
      n -= static_cast<size_t>(w);
    }
  }

  // One recv into the free end of `buf_`, after moving unread bytes to its front; the buffer
  // grows to hold `want` unread bytes when a reply is known to be that large.
  void Fill(size_t want = 0) {
    if (start_ > 0) {
      std::memmove(buf_.data(), buf_.data() + start_, end_ - start_);
      end_ -= start_;
      start_ = 0;
    }
    buf_.resize(std::max(buf_.size(), want));
    if (end_ == buf_.size()) buf_.resize(2 * buf_.size());
    ssize_t r = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, 0);
    if (r < 0 && errno == EINTR) return;
    if (r == 0) throw std::runtime_error("server closed the connection");
    if (r < 0) throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
    end_ += static_cast<size_t>(r);
  }

  int fd_ = -1;
  std::vector<char> buf_;
  size_t start_ = 0;  // first unread byte of buf_
  size_t end_ = 0;    // one past the last byte received
};

// ---- saker, Thrift ----

// The generated SakerClient over in-memory transports: send_* encode a framed request into
// `out_`, written to the socket by Flush(); replies are read from the socket in chunks and
// each frame is handed to recv_* through `in_`. So a window of requests costs one send and a
// window of replies usually one recv.
class SakerConn : public SocketConn {
 public:
  explicit SakerConn(const std::string& address) : SocketConn(address) {
    namespace tt = apache::thrift::transport;
    namespace tp = apache::thrift::protocol;
    out_ = std::make_shared<tt::TMemoryBuffer>(64 * 1024);
    in_ = std::make_shared<tt::TMemoryBuffer>(64 * 1024);
    rpc_ = std::make_unique<saker::api::SakerClient>(
        std::make_shared<tp::TBinaryProtocol>(in_),
        std::make_shared<tp::TBinaryProtocol>(std::make_shared<tt::TFramedTransport>(out_)));
    items_.resize(1);
  }

  saker::api::SakerClient& rpc() { return *rpc_; }

  // Makes the next reply frame the one rpc().recv_*() decodes.
  void Next() {
    if (!HasFrame()) {
      Flush();
      while (!HasFrame()) Fill(end_ - start_ >= 4 ? 4 + static_cast<size_t>(FrameLength()) : 0);
    }
    uint32_t len = FrameLength();
    in_->resetBuffer();
    in_->write(reinterpret_cast<const uint8_t*>(buf_.data() + start_ + 4), len);
    start_ += 4 + len;
  }

  void SendPut(const std::string& queue, int items, int size, int64_t now_ns) override {
    items_.resize(items);
    for (auto& item : items_) item.data = Payload(size, now_ns);
    rpc_->send_put_items(queue, items_);
  }
  int RecvPut() override {
    Next();
    rpc_->recv_put_items(put_result_);
    return put_result_.accepted;
  }
  void SendGet(const std::string& queue, const std::string& subscription, int max_items,
               int wait_ms) override {
    rpc_->send_get_items(queue, subscription, max_items, wait_ms, 30000);
  }
  void RecvGet(std::vector<Got>* items) override {
    Next();
    rpc_->recv_get_items(leased_);
    items->resize(leased_.size());
    for (size_t i = 0; i < leased_.size(); ++i) {
      (*items)[i].lease_id = leased_[i].lease_id;
      (*items)[i].put_ns = PutTime(leased_[i].data.data(), leased_[i].data.size());
    }
  }
  void SendAck(const std::string& queue, const std::string&,
               const std::vector<Got>& items) override {
    lease_ids_.clear();
    for (const Got& g : items) lease_ids_.push_back(g.lease_id);
    rpc_->send_ack(queue, lease_ids_);
  }
  void RecvAck() override {
    Next();
    rpc_->recv_ack();
  }
  // The default subscription ("") always exists.
  void CreateSubscription(const std::string& queue, const std::string& subscription) override {
    if (subscription.empty()) return;
    saker::api::StartPosition start;
    start.kind = saker::api::StartKind::EARLIEST;
    rpc_->send_create_subscription(queue, subscription, start);
    Next();
    rpc_->recv_create_subscription();
  }
  void Flush() override {
    uint8_t* p = nullptr;
    uint32_t n = 0;
    out_->getBuffer(&p, &n);
    WriteAll(p, n);
    out_->resetBuffer();
  }
  bool Poll(Clock::time_point deadline) override {
    return HasFrame() || PollReadable(fd_, deadline);
  }
  saker::api::QueueDetails QueueInfo(const std::string& queue) {
    saker::api::QueueDetails d;
    rpc_->send_queue_info(queue);
    Next();
    rpc_->recv_queue_info(d);
    return d;
  }

 private:
  uint32_t FrameLength() const {
    uint32_t be;
    std::memcpy(&be, buf_.data() + start_, 4);
    return ntohl(be);
  }
  bool HasFrame() const {
    return end_ - start_ >= 4 && end_ - start_ >= 4 + static_cast<size_t>(FrameLength());
  }

  std::shared_ptr<apache::thrift::transport::TMemoryBuffer> out_;
  std::shared_ptr<apache::thrift::transport::TMemoryBuffer> in_;
  std::unique_ptr<saker::api::SakerClient> rpc_;
  std::vector<saker::api::PutItem> items_;
  saker::api::PutResult put_result_;
  std::vector<saker::api::LeasedItem> leased_;
  std::vector<int64_t> lease_ids_;
};

// ---- saker, memcache ----

// Kestrel's memcache dialect on sakerd's memcache port, one item per round trip as a Kestrel
// worker reads: `get q/open/t=MS` first, then `get q/close/open/t=MS`, whose close acks the
// item the previous get opened and whose reply is the next item (or END). So SendAck only
// makes the next get a closing one, and RecvAck reads that get's reply (the ack is answered
// when it comes) and keeps it for RecvGet. A put is `set q 0 0 N` per item. Any reply but
// VALUE/END to a get or STORED/NOT_STORED to a set (ERROR, CLIENT_ERROR, SERVER_ERROR) throws.
class MemcacheConn : public SocketConn {
 public:
  explicit MemcacheConn(const std::string& address) : SocketConn(address) {}

  void SendPut(const std::string& queue, int items, int size, int64_t now_ns) override {
    std::string p = Payload(size, now_ns);
    for (int i = 0; i < items; ++i) {
      out_ += "set " + queue + " 0 0 " + std::to_string(p.size()) + "\r\n";
      out_ += p;
      out_ += "\r\n";
    }
    pending_puts_.push_back(items);
  }
  int RecvPut() override {
    int items = pending_puts_.front();
    pending_puts_.pop_front();
    int stored = 0;
    for (int i = 0; i < items; ++i) {
      std::string line = ReadLine();
      if (line == "STORED") {
        ++stored;
      } else if (line != "NOT_STORED") {
        throw std::runtime_error("memcache set: " + line);
      }
    }
    return stored;
  }
  // One item per get whatever `max_items` says.
  void SendGet(const std::string& queue, const std::string& subscription, int,
               int wait_ms) override {
    std::string key = subscription.empty() ? queue : queue + "+" + subscription;
    out_ += "get " + key + (closing_ ? "/close/open/t=" : "/open/t=") + std::to_string(wait_ms) +
            "\r\n";
    closing_ = false;
  }
  void RecvGet(std::vector<Got>* items) override {
    if (stashed_) {
      items->swap(stash_);
      stashed_ = false;
      return;
    }
    ReadValue(items);
  }
  void SendAck(const std::string&, const std::string&, const std::vector<Got>&) override {
    closing_ = true;
  }
  void RecvAck() override {
    ReadValue(&stash_);
    stashed_ = true;
  }
  // `q+sub` is created on first reference at the queue's end (SEMANTICS.md): a peek makes it.
  void CreateSubscription(const std::string& queue, const std::string& subscription) override {
    if (subscription.empty()) return;
    out_ += "get " + queue + "+" + subscription + "/peek\r\n";
    std::vector<Got> ignored;
    ReadValue(&ignored);
  }
  void Flush() override {
    WriteAll(reinterpret_cast<const uint8_t*>(out_.data()), out_.size());
    out_.clear();
  }
  bool Poll(Clock::time_point deadline) override {
    return std::memchr(buf_.data() + start_, '\n', end_ - start_) != nullptr ||
           PollReadable(fd_, deadline);
  }
  // `queue`'s log bytes, from the `queue_<queue>_logsize` line of `stats`.
  int64_t LogBytes(const std::string& queue) {
    out_ += "stats\r\n";
    std::string want = "STAT queue_" + queue + "_logsize ";
    int64_t bytes = 0;
    for (std::string line = ReadLine(); line != "END"; line = ReadLine()) {
      if (line.starts_with(want)) bytes = std::atoll(line.c_str() + want.size());
      if (!line.starts_with("STAT ")) throw std::runtime_error("memcache stats: " + line);
    }
    return bytes;
  }

 private:
  // The next reply line without its CRLF, writing pending requests first if none is buffered.
  std::string ReadLine() {
    if (std::memchr(buf_.data() + start_, '\n', end_ - start_) == nullptr) Flush();
    const char* lf;
    while ((lf = static_cast<const char*>(
                std::memchr(buf_.data() + start_, '\n', end_ - start_))) == nullptr) {
      Fill();
    }
    size_t len = static_cast<size_t>(lf - (buf_.data() + start_));
    std::string line(buf_.data() + start_, len > 0 && lf[-1] == '\r' ? len - 1 : len);
    start_ += len + 1;
    return line;
  }
  // A get's reply: END (no item), or `VALUE <key> <flags> <bytes>`, the data, END.
  void ReadValue(std::vector<Got>* items) {
    items->clear();
    std::string line = ReadLine();
    if (line == "END") return;
    size_t last = line.rfind(' ');
    if (!line.starts_with("VALUE ") || last == std::string::npos) {
      throw std::runtime_error("memcache get: " + line);
    }
    size_t bytes = std::strtoull(line.c_str() + last + 1, nullptr, 10);
    while (end_ - start_ < bytes + 2) Fill(bytes + 2);
    items->resize(1);
    (*items)[0].put_ns = PutTime(buf_.data() + start_, bytes);
    start_ += bytes + 2;
    line = ReadLine();
    if (line != "END") throw std::runtime_error("memcache get: " + line + " after the data");
  }

  std::string out_;
  std::deque<int> pending_puts_;
  bool closing_ = false;  // the next get closes the item the last one opened
  std::vector<Got> stash_;
  bool stashed_ = false;
};

// ---- redis ----

// A stream per queue, a consumer group per subscription ("" = group "g").
class RedisConn : public QueueConn {
 public:
  explicit RedisConn(const std::string& address) {
    std::string host, port;
    SplitHostPort(address, &host, &port);
    ctx_ = redisConnect(host.c_str(), std::atoi(port.c_str()));
    if (ctx_ == nullptr || ctx_->err) {
      throw std::runtime_error("redis " + address + ": " + (ctx_ ? ctx_->errstr : "out of memory"));
    }
    consumer_ = "c" + std::to_string(next_consumer_++);
  }
  ~RedisConn() override { redisFree(ctx_); }

  // Sends `argv` and returns its reply (the caller frees it).
  redisReply* Call(const std::vector<const char*>& argv) {
    Append(argv);
    return Reply();
  }

  void SendPut(const std::string& queue, int items, int size, int64_t now_ns) override {
    std::string p = Payload(size, now_ns);
    for (int i = 0; i < items; ++i) {
      redisAppendCommand(ctx_, "XADD %b * d %b", queue.data(), queue.size(), p.data(), p.size());
    }
    pending_puts_.push_back(items);
  }
  int RecvPut() override {
    int items = pending_puts_.front();
    pending_puts_.pop_front();
    for (int i = 0; i < items; ++i) freeReplyObject(Reply());
    return items;
  }
  void SendGet(const std::string& queue, const std::string& subscription, int max_items,
               int wait_ms) override {
    std::string count = std::to_string(max_items);
    std::string block = std::to_string(wait_ms);
    std::string group = Group(subscription);
    Append({"XREADGROUP", "GROUP", group.c_str(), consumer_.c_str(), "COUNT", count.c_str(),
            "BLOCK", block.c_str(), "STREAMS", queue.c_str(), ">"});
  }
  void RecvGet(std::vector<Got>* items) override {
    redisReply* r = Reply();
    items->clear();
    // [[stream, [[id, [field, value]], ...]]], or nil when BLOCK timed out.
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
      redisReply* entries = r->element[0]->element[1];
      items->resize(entries->elements);
      for (size_t i = 0; i < entries->elements; ++i) {
        redisReply* e = entries->element[i];
        (*items)[i].redis_id.assign(e->element[0]->str, e->element[0]->len);
        redisReply* value = e->element[1]->element[1];
        (*items)[i].put_ns = PutTime(value->str, value->len);
      }
    }
    freeReplyObject(r);
  }
  void SendAck(const std::string& queue, const std::string& subscription,
               const std::vector<Got>& items) override {
    std::string group = Group(subscription);
    std::vector<const char*> argv = {"XACK", queue.c_str(), group.c_str()};
    for (const Got& g : items) argv.push_back(g.redis_id.c_str());
    Append(argv);
  }
  void RecvAck() override { freeReplyObject(Reply()); }
  void CreateSubscription(const std::string& queue, const std::string& subscription) override {
    std::string group = Group(subscription);
    freeReplyObject(Call({"XGROUP", "CREATE", queue.c_str(), group.c_str(), "0", "MKSTREAM"}));
  }
  void Flush() override {
    int done = 0;
    while (!done) {
      if (redisBufferWrite(ctx_, &done) != REDIS_OK) {
        throw std::runtime_error(std::string("redis: ") + ctx_->errstr);
      }
    }
  }
  // A reply already parsed is kept in `ready_` for Reply().
  bool Poll(Clock::time_point deadline) override {
    if (!ready_.empty()) return true;
    void* reply = nullptr;
    if (redisReaderGetReply(ctx_->reader, &reply) != REDIS_OK) {
      throw std::runtime_error("redis: bad reply");
    }
    if (reply != nullptr) {
      ready_.push_back(static_cast<redisReply*>(reply));
      return true;
    }
    return PollReadable(ctx_->fd, deadline);
  }

 private:
  static std::string Group(const std::string& subscription) {
    return subscription.empty() ? "g" : subscription;
  }
  void Append(std::vector<const char*> argv) {
    redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), nullptr);
  }
  redisReply* Reply() {
    void* reply = nullptr;
    if (!ready_.empty()) {
      reply = ready_.front();
      ready_.pop_front();
    } else if (redisGetReply(ctx_, &reply) != REDIS_OK) {
      throw std::runtime_error(std::string("redis: ") + ctx_->errstr);
    }
    auto* r = static_cast<redisReply*>(reply);
    if (r->type == REDIS_REPLY_ERROR) {
      std::string message(r->str, r->len);
      freeReplyObject(r);
      throw std::runtime_error("redis: " + message);
    }
    return r;
  }

  static inline std::atomic<int> next_consumer_{0};
  redisContext* ctx_ = nullptr;
  std::string consumer_;
  std::deque<int> pending_puts_;
  std::deque<redisReply*> ready_;
};

std::unique_ptr<QueueConn> Connect(const Flags& f) {
  if (f.backend == "redis") return std::make_unique<RedisConn>(f.server);
  if (f.protocol == "memcache") return std::make_unique<MemcacheConn>(f.server);
  return std::make_unique<SakerConn>(f.server);
}

// ---- loops shared by the workloads ----

// What one putter does: `window` requests in flight on one connection, each `batch` items to
// the queue `next_queue` names (false: nothing left to put), paced to `rate` items/s.
struct PutPlan {
  int window = 32;
  int batch = 1;
  int64_t rate = 0;
  std::function<bool(std::string*)> next_queue;
  bool record_latency = true;
};

// `f.window` single-item puts in flight to f.queue, for as long as the run goes.
PutPlan PlanForQueue(const Flags& f) {
  PutPlan plan;
  plan.window = f.window;
  plan.next_queue = [&f](std::string* q) {
    *q = f.queue;
    return true;
  };
  return plan;
}

// Keeps up to plan.window puts in flight until `stop` or the plan runs out; counts accepted
// items in `rec.done` and (if asked) put-ack latencies into `rec` while `stop` is false.
// Unpaced, a reply is followed by the next request. Paced, a request goes out when it is due
// (if the window has room) and a reply is timed when it arrives, not when the pacer lets the
// thread look: waiting for the next due time never inflates the latencies.
void Putter(const Flags& f, const PutPlan& plan, const std::atomic<bool>& stop, Recorder& rec) {
  std::unique_ptr<QueueConn> conn = Connect(f);
  std::deque<int64_t> sent;
  std::vector<uint32_t> local;
  auto start = Clock::now();
  int64_t n = 0;  // items requested so far
  auto due = [&] {
    if (plan.rate <= 0) return Clock::time_point::min();
    return start + std::chrono::nanoseconds(n * 1'000'000'000 / plan.rate);
  };
  bool more = true;
  std::string queue;
  while (true) {
    while (more && !stop && static_cast<int>(sent.size()) < plan.window && due() <= Clock::now()) {
      if (!plan.next_queue(&queue)) {
        more = false;
        break;
      }
      int64_t now = NowNs();
      conn->SendPut(queue, plan.batch, f.size, now);
      sent.push_back(now);
      n += plan.batch;
    }
    bool can_send = more && !stop && static_cast<int>(sent.size()) < plan.window;
    if (sent.empty()) {
      if (!can_send) break;
      conn->Flush();
      std::this_thread::sleep_until(due());
      continue;
    }
    if (can_send) {
      conn->Flush();
      if (!conn->Poll(due())) continue;
    }
    int accepted = conn->RecvPut();
    if (!stop) {
      if (plan.record_latency) local.push_back(Micros(NowNs() - sent.front()));
      rec.done += accepted;
    }
    sent.pop_front();
  }
  rec.Merge(local);
}

// Takes up to `get_batch` leased items at a time from `subscription` and acks them, the ack
// written together with the next get; counts acked items and enqueue-to-ack latencies. With
// `gets_in_flight` > 1 it keeps that many gets outstanding, so the reply to a get sent before an
// ack does not wait for that ack's reply (replies come back in request order).
void Worker(const Flags& f, const std::string& subscription, const std::atomic<bool>& stop,
            Recorder& rec) {
  std::unique_ptr<QueueConn> conn = Connect(f);
  std::vector<uint32_t> local;
  // The requests in flight, oldest first: a get (empty) or an ack of these items.
  std::deque<std::optional<std::vector<Got>>> sent;
  for (int i = 0; i < f.gets_in_flight; i++) {
    conn->SendGet(f.queue, subscription, f.get_batch, 100);
    sent.emplace_back(std::nullopt);
  }
  while (true) {
    std::optional<std::vector<Got>> next = std::move(sent.front());
    sent.pop_front();
    if (next.has_value()) {
      conn->RecvAck();
      int64_t now = NowNs();
      if (stop) break;
      for (const Got& g : *next) local.push_back(Micros(now - g.put_ns));
      rec.done += static_cast<int64_t>(next->size());
      continue;
    }
    std::vector<Got> got;
    conn->RecvGet(&got);
    if (stop) break;
    rec.delivered += static_cast<int64_t>(got.size());
    if (!got.empty()) {
      conn->SendAck(f.queue, subscription, got);
      sent.emplace_back(std::move(got));
    }
    conn->SendGet(f.queue, subscription, f.get_batch, 100);
    sent.emplace_back(std::nullopt);
  }
  rec.Merge(local);
}

// Runs a thread body; a failure (lost connection, server error) ends the run.
template <typename F>
std::thread Spawn(F body) {
  return std::thread([body] {
    try {
      body();
    } catch (const saker::api::SakerError& e) {
      std::fprintf(stderr, "saker-bench: server error %d: %s\n", e.code, e.message.c_str());
      std::_Exit(1);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "saker-bench: %s\n", e.what());
      std::_Exit(1);
    }
  });
}

void JoinAll(std::vector<std::thread>& threads) {
  for (auto& t : threads) t.join();
  threads.clear();
}

void SleepFor(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

// A JSON object built field by field, printed as one line.
class JsonLine {
 public:
  JsonLine& Add(const std::string& key, const std::string& value) {
    Raw(key, "\"" + value + "\"");
    return *this;
  }
  JsonLine& Add(const std::string& key, int64_t value) {
    Raw(key, std::to_string(value));
    return *this;
  }
  JsonLine& Add(const std::string& key, int value) { return Add(key, static_cast<int64_t>(value)); }
  JsonLine& Add(const std::string& key, bool value) {
    Raw(key, value ? "true" : "false");
    return *this;
  }
  JsonLine& Add(const std::string& key, double value, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
    Raw(key, buf);
    return *this;
  }
  void Print() const { std::printf("{%s}\n", body_.c_str()); }

 private:
  void Raw(const std::string& key, const std::string& value) {
    if (!body_.empty()) body_ += ",";
    body_ += "\"" + key + "\":" + value;
  }
  std::string body_;
};

// VmRSS and VmHWM (peak) of `pid` in bytes, from /proc/<pid>/status; 0 if unreadable.
void ReadRss(int pid, int64_t* rss, int64_t* hwm) {
  *rss = *hwm = 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) *rss = std::atoll(line.c_str() + 6) * 1024;
    if (line.starts_with("VmHWM:")) *hwm = std::atoll(line.c_str() + 6) * 1024;
  }
}

void AddServerMemory(const Flags& f, JsonLine* json) {
  if (f.server_pid <= 0) return;
  int64_t rss, hwm;
  ReadRss(f.server_pid, &rss, &hwm);
  json->Add("server_rss_bytes", rss).Add("server_peak_rss_bytes", hwm);
}

// Bytes of the files under `dir`; with `skip_logs`, segment files (*.log, whose preallocated
// tail is not data) are left out.
int64_t DirBytes(const std::string& dir, bool skip_logs) {
  namespace fs = std::filesystem;
  int64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (!it->is_regular_file(size_ec)) continue;
    if (skip_logs && it->path().extension() == ".log") continue;
    uintmax_t size = it->file_size(size_ec);
    if (!size_ec) total += static_cast<int64_t>(size);
  }
  return total;
}

// Bytes the server keeps on disk for `f.queue`: saker counts the queue's log (its data, from
// queue_info) plus every other file of the data dir (metadata: cursors, acks); Redis counts
// its whole dir (the AOF). -1 without --data-dir.
int64_t DiskBytes(const Flags& f) {
  if (f.data_dir.empty()) return -1;
  if (f.backend == "redis") return DirBytes(f.data_dir, false);
  int64_t log_bytes = f.protocol == "memcache" ? MemcacheConn(f.server).LogBytes(f.queue)
                                               : SakerConn(f.server).QueueInfo(f.queue).log_bytes;
  return log_bytes + DirBytes(f.data_dir, true);
}

std::string Rate(const char* what, int64_t total, int64_t* last) {
  std::string s = std::string(what) + " " + std::to_string(total) + " (+" +
                  std::to_string(total - *last) + "/s)";
  *last = total;
  return s;
}

// Shows `line` once a second for `seconds`, then sets `stop`; returns the seconds it ran.
double RunTimed(double seconds, std::atomic<bool>& stop, std::function<std::string()> line) {
  auto start = Clock::now();
  {
    Progress progress(std::move(line));
    SleepFor(seconds);
    stop = true;
  }
  return SecondsSince(start);
}

// ---- workloads ----

void RunW1(const Flags& f, JsonLine* json) {
  Recorder rec;
  std::atomic<bool> stop{false};
  PutPlan plan = PlanForQueue(f);
  std::vector<std::thread> threads;
  for (int i = 0; i < f.connections; ++i) {
    threads.push_back(Spawn([&] { Putter(f, plan, stop, rec); }));
  }
  int64_t last = 0;
  double elapsed = RunTimed(f.seconds, stop, [&] { return Rate("w1 put", rec.done, &last); });
  int64_t done = rec.done;
  JoinAll(threads);
  json->Add("seconds", elapsed, 2)
      .Add("connections", f.connections)
      .Add("items", done)
      .Add("items_per_s", done / elapsed, 0)
      .Add("p50_us", static_cast<int64_t>(rec.Percentile(0.5)))
      .Add("p99_us", static_cast<int64_t>(rec.Percentile(0.99)));
}

void RunW2(const Flags& f, JsonLine* json) {
  Recorder acked, produced;
  std::atomic<bool> stop{false};
  Connect(f)->CreateSubscription(f.queue, "");
  std::vector<std::thread> threads;
  for (int i = 0; i < f.workers; ++i) {
    threads.push_back(Spawn([&] { Worker(f, "", stop, acked); }));
  }
  PutPlan plan = PlanForQueue(f);
  plan.rate = f.rate / std::max(f.producers, 1);
  plan.record_latency = false;
  for (int i = 0; i < f.producers; ++i) {
    threads.push_back(Spawn([&] { Putter(f, plan, stop, produced); }));
  }
  int64_t last = 0;
  double elapsed = RunTimed(f.seconds, stop, [&] { return Rate("w2 acked", acked.done, &last); });
  int64_t done = acked.done;
  int64_t put = produced.done;
  JoinAll(threads);
  json->Add("seconds", elapsed, 2)
      .Add("producers", f.producers)
      .Add("workers", f.workers)
      .Add("get_batch", f.get_batch)
      .Add("gets_in_flight", f.gets_in_flight)
      .Add("rate", f.rate)
      .Add("produced", put)
      .Add("acked", done)
      .Add("items_per_s", done / elapsed, 0)
      .Add("e2e_p50_us", static_cast<int64_t>(acked.Percentile(0.5)))
      .Add("e2e_p99_us", static_cast<int64_t>(acked.Percentile(0.99)));
}

void RunW3(const Flags& f, JsonLine* json) {
  Recorder produced, delivered;
  std::atomic<bool> stop{false};
  std::vector<std::string> subscriptions;
  {
    std::unique_ptr<QueueConn> conn = Connect(f);
    for (int i = 1; i <= f.subscriptions; ++i) {
      subscriptions.push_back("s" + std::to_string(i));
      conn->CreateSubscription(f.queue, subscriptions.back());
    }
  }
  int64_t disk_before = DiskBytes(f);
  std::vector<std::thread> threads;
  for (const std::string& s : subscriptions) {
    threads.push_back(Spawn([&, s] { Worker(f, s, stop, delivered); }));
  }
  PutPlan plan = PlanForQueue(f);
  plan.batch = f.put_batch;
  threads.push_back(Spawn([&] { Putter(f, plan, stop, produced); }));
  int64_t last_put = 0, last_delivered = 0;
  double elapsed = RunTimed(f.seconds, stop, [&] {
    return Rate("w3 put", produced.done, &last_put) + ", " +
           Rate("delivered", delivered.done, &last_delivered);
  });
  int64_t put = produced.done;
  int64_t done = delivered.done;
  JoinAll(threads);
  int64_t disk_after = DiskBytes(f);
  json->Add("seconds", elapsed, 2)
      .Add("subscriptions", f.subscriptions)
      .Add("put_batch", f.put_batch)
      .Add("get_batch", f.get_batch)
      .Add("gets_in_flight", f.gets_in_flight)
      .Add("put_items", put)
      .Add("put_items_per_s", put / elapsed, 0)
      .Add("delivered", done)
      .Add("items_per_s", done / elapsed, 0)
      .Add("e2e_p50_us", static_cast<int64_t>(delivered.Percentile(0.5)))
      .Add("e2e_p99_us", static_cast<int64_t>(delivered.Percentile(0.99)));
  if (disk_before >= 0) {
    json->Add("disk_bytes", disk_after - disk_before)
        .Add("disk_bytes_per_item",
             put > 0 ? static_cast<double>(disk_after - disk_before) / put : 0.0, 1);
  }
}

void RunW4(const Flags& f, JsonLine* json) {
  Connect(f)->CreateSubscription(f.queue, "");
  // Fill: C connections x window requests of fill_batch items until `backlog` are stored.
  Recorder filled;
  std::atomic<bool> fill_stop{false};
  std::atomic<int64_t> fill_requested{0};
  PutPlan fill;
  fill.window = f.window;
  fill.batch = f.backend == "saker" && f.protocol == "thrift" ? f.fill_batch : 1;
  fill.record_latency = false;
  fill.next_queue = [&](std::string* q) {
    *q = f.queue;
    return fill_requested.fetch_add(fill.batch) + fill.batch <= f.backlog;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < f.connections; ++i) {
    threads.push_back(Spawn([&] { Putter(f, fill, fill_stop, filled); }));
  }
  auto fill_start = Clock::now();
  {
    int64_t last = 0;
    Progress progress([&] { return Rate("w4 fill", filled.done, &last); });
    JoinAll(threads);
  }
  double fill_s = SecondsSince(fill_start);
  int64_t backlog = filled.done;

  // Drain: workers take the backlog while producers keep putting at `rate`, until the workers
  // have caught up or max_drain_seconds pass. Caught up: every item put is acked but for what
  // the workers may hold in flight (natively get_batch × gets_in_flight each, whose acks wait
  // for their flush while producers go on). Over memcache a worker's ack is answered with its
  // next item, so each holds one item unacked: there caught up means every item put was
  // delivered.
  Recorder produced, drained;
  std::atomic<bool> stop{false};
  PutPlan plan = PlanForQueue(f);
  plan.rate = f.rate / std::max(f.producers, 1);
  for (int i = 0; i < f.workers; ++i) {
    threads.push_back(Spawn([&] { Worker(f, "", stop, drained); }));
  }
  for (int i = 0; i < f.producers; ++i) {
    threads.push_back(Spawn([&] { Putter(f, plan, stop, produced); }));
  }
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(f.max_drain_seconds));
  bool caught_up = false;
  const int64_t in_flight =
      f.protocol == "memcache" ? 0 : int64_t{f.workers} * f.get_batch * f.gets_in_flight;
  {
    int64_t last = 0;
    Progress progress([&] {
      return Rate("w4 drained", drained.done, &last) + ", backlog " +
             std::to_string(backlog + produced.done - drained.done);
    });
    while (Clock::now() < deadline) {
      int64_t taken = f.protocol == "memcache" ? drained.delivered.load() : drained.done.load();
      if (taken + in_flight >= backlog + produced.done) {
        caught_up = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop = true;
  }
  double elapsed = SecondsSince(start);
  int64_t done = drained.done;
  int64_t put = produced.done;
  JoinAll(threads);
  json->Add("backlog", backlog)
      .Add("fill_seconds", fill_s, 2)
      .Add("fill_items_per_s", backlog / fill_s, 0)
      .Add("producers", f.producers)
      .Add("workers", f.workers)
      .Add("get_batch", f.get_batch)
      .Add("gets_in_flight", f.gets_in_flight)
      .Add("rate", f.rate)
      .Add("drained", caught_up)
      .Add("seconds", elapsed, 2)
      .Add("acked", done)
      .Add("produced", put)
      .Add("items_per_s", done / elapsed, 0)
      .Add("put_p50_us", static_cast<int64_t>(produced.Percentile(0.5)))
      .Add("put_p99_us", static_cast<int64_t>(produced.Percentile(0.99)));
}

void RunW5(const Flags& f, JsonLine* json) {
  Recorder rec;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> next{0};
  PutPlan plan;
  plan.window = f.window;
  plan.batch = f.items_per_queue;
  plan.record_latency = false;
  plan.next_queue = [&](std::string* q) {
    int64_t i = next.fetch_add(1);
    if (i >= f.queues) return false;
    *q = f.queue + "-" + std::to_string(i);
    return true;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < f.connections; ++i) {
    threads.push_back(Spawn([&] { Putter(f, plan, stop, rec); }));
  }
  auto start = Clock::now();
  {
    int64_t last = 0;
    Progress progress([&] { return Rate("w5 items", rec.done, &last); });
    JoinAll(threads);
  }
  double elapsed = SecondsSince(start);
  json->Add("seconds", elapsed, 2)
      .Add("queues", f.queues)
      .Add("items_per_queue", f.items_per_queue)
      .Add("items", static_cast<int64_t>(rec.done))
      .Add("queues_per_s", f.queues / elapsed, 0)
      .Add("items_per_s", rec.done / elapsed, 0);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{"saker-bench: the DESIGN.md workloads W1-W5 against sakerd or Redis"};
  app.add_option("-w,--workload", f.workload)
      ->check(CLI::IsMember({"w1", "w2", "w3", "w4", "w5"}))
      ->capture_default_str();
  app.add_option("--backend", f.backend)
      ->check(CLI::IsMember({"saker", "redis"}))
      ->capture_default_str();
  app.add_option("--protocol", f.protocol,
                 "saker: thrift (native API) or memcache (W1-W4: Kestrel's get q/open, then "
                 "get q/close/open, one item per round trip; workers default to 64)")
      ->check(CLI::IsMember({"thrift", "memcache"}))
      ->capture_default_str();
  app.add_option("-s,--server", f.server,
                 "host:port (sakerd thrift or memcache port as --protocol says, or redis)")
      ->capture_default_str();
  app.add_option("--queue", f.queue,
                 "queue / stream name, W5: name prefix (default: a fresh one per run)");
  app.add_option("--seconds", f.seconds, "W1-W3: run time")->capture_default_str();
  app.add_option("-c,--connections", f.connections, "W1, W4 fill, W5: connections")
      ->capture_default_str();
  app.add_option("--window", f.window, "requests in flight per connection / producer")
      ->capture_default_str();
  app.add_option("--size", f.size, "item bytes (>= 8)")->capture_default_str();
  app.add_option("-p,--producers", f.producers, "W2, W4: producers")->capture_default_str();
  app.add_option("--workers", f.workers, "W2, W4: workers")->capture_default_str();
  app.add_option("--get-batch", f.get_batch, "W2-W4: items per get")->capture_default_str();
  app.add_option("--gets-in-flight", f.gets_in_flight,
                 "W2-W4: gets a worker keeps outstanding (native and Redis; memcache allows 1)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--rate", f.rate,
                 "W2, W4: total put rate, items/s (0 = unlimited; W4 default 10000)");
  app.add_option("-k,--subscriptions", f.subscriptions, "W3: subscriptions (K)")
      ->capture_default_str();
  app.add_option("--put-batch", f.put_batch,
                 "W3: items per put request (Redis: that many XADDs; default 16)");
  app.add_option("--backlog", f.backlog, "W4: items put before the drain")->capture_default_str();
  app.add_option(
         "--fill-batch", f.fill_batch,
         "W4: items per put request while filling (thrift; memcache, Redis: one per set, XADD)")
      ->capture_default_str();
  app.add_option("--max-drain-seconds", f.max_drain_seconds, "W4: give up draining after this")
      ->capture_default_str();
  app.add_option("--queues", f.queues, "W5: queues")->capture_default_str();
  app.add_option("--items-per-queue", f.items_per_queue,
                 "W5: items put to each queue (one request)")
      ->capture_default_str();
  app.add_option("--data-dir", f.data_dir,
                 "W3: the server's data dir (saker) or dir (redis), for bytes on disk per item");
  app.add_option("--server-pid", f.server_pid, "server pid: report its RSS and peak RSS");
  CLI11_PARSE(app, argc, argv);
  if (f.workload == "w4" && app.count("--rate") == 0) f.rate = 10'000;
  if (f.workload == "w3" && app.count("--put-batch") == 0) f.put_batch = 16;
  if (f.protocol == "memcache") {
    if (f.backend != "saker" || f.workload == "w5") {
      std::fprintf(stderr, "saker-bench: --protocol memcache is for --backend saker, W1-W4\n");
      return 2;
    }
    f.get_batch = 1;
    if (app.count("--workers") == 0) f.workers = 64;
    if (f.gets_in_flight != 1) {
      std::fprintf(stderr, "saker-bench: Kestrel's memcache dialect has one open read a worker\n");
      return 2;
    }
  }
  if (f.queue.empty()) {
    f.queue = "bench-" + f.workload + "-" + std::to_string(getpid()) + "-" +
              std::to_string(NowNs() % 1000000);
  }

  JsonLine json;
  json.Add("bench", f.workload)
      .Add("backend", f.backend)
      .Add("protocol", f.backend == "redis" ? std::string("resp") : f.protocol)
      .Add("size", f.size)
      .Add("window", f.window);
  try {
    if (f.backend == "redis" && f.workload != "w5") {
      auto conn = std::make_unique<RedisConn>(f.server);
      freeReplyObject(conn->Call({"DEL", f.queue.c_str()}));
    }
    if (f.workload == "w1") RunW1(f, &json);
    if (f.workload == "w2") RunW2(f, &json);
    if (f.workload == "w3") RunW3(f, &json);
    if (f.workload == "w4") RunW4(f, &json);
    if (f.workload == "w5") RunW5(f, &json);
  } catch (const saker::api::SakerError& e) {
    std::fprintf(stderr, "saker-bench: server error %d: %s\n", e.code, e.message.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "saker-bench: %s\n", e.what());
    return 1;
  }
  AddServerMemory(f, &json);
  json.Print();
  return 0;
}

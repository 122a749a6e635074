// saker-bench: the DESIGN.md workloads against sakerd (native Thrift API) or Redis Streams.
//   W1 durable put: C connections x `window` puts in flight (one item each); items/s and
//      put-ack latency p50/p99.
//   W2 work queue: P producers (each `window` puts in flight, optionally rate-limited) and W
//      workers (leased get of up to `get_batch`, then one ack); acked items/s and
//      enqueue-to-ack latency p50/p99 (the put time travels in the item).
// Redis: XADD for puts; XREADGROUP + XACK for W2. One JSON line per run on stdout; a progress
// line on stderr every second.
#include <hiredis/hiredis.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "Saker.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string workload = "w1";
  std::string backend = "saker";
  std::string server = "127.0.0.1:2229";
  std::string queue;
  double seconds = 5;
  int connections = 8;
  int window = 32;
  int size = 256;
  int producers = 4;
  int workers = 4;
  int get_batch = 32;
  int64_t rate = 0;
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Payload of `size` bytes whose first 8 carry the put time (ns, steady clock).
std::string Payload(int size, int64_t now_ns) {
  std::string p(std::max(size, 8), 'x');
  std::memcpy(p.data(), &now_ns, sizeof(now_ns));
  return p;
}

int64_t PutTime(const std::string& data) {
  int64_t ns = 0;
  if (data.size() >= sizeof(ns)) std::memcpy(&ns, data.data(), sizeof(ns));
  return ns;
}

// Latencies in microseconds from all threads, and counters the progress line reads.
struct Recorder {
  std::mutex mu;
  std::vector<uint32_t> latencies_us;
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> produced{0};

  void Merge(std::vector<uint32_t>& local) {
    std::lock_guard<std::mutex> lock(mu);
    latencies_us.insert(latencies_us.end(), local.begin(), local.end());
  }
  uint32_t Percentile(double p) {
    if (latencies_us.empty()) return 0;
    size_t i = std::min(latencies_us.size() - 1, static_cast<size_t>(p * latencies_us.size()));
    std::nth_element(latencies_us.begin(), latencies_us.begin() + i, latencies_us.end());
    return latencies_us[i];
  }
};

uint32_t Micros(int64_t ns) { return static_cast<uint32_t>(std::max<int64_t>(ns / 1000, 0)); }

void SplitHostPort(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  *host = address.substr(0, colon);
  *port = std::atoi(address.c_str() + colon + 1);
}

// Paces a producer to `rate` items/s (0 = as fast as possible).
class Pacer {
 public:
  explicit Pacer(int64_t rate) : rate_(rate), start_(Clock::now()) {}
  void Wait(int64_t sent) {
    if (rate_ <= 0) return;
    auto due = start_ + std::chrono::nanoseconds(sent * 1'000'000'000 / rate_);
    std::this_thread::sleep_until(due);
  }

 private:
  int64_t rate_;
  Clock::time_point start_;
};

// ---- saker ----

struct SakerConn {
  std::shared_ptr<apache::thrift::transport::TTransport> transport;
  std::unique_ptr<saker::api::SakerClient> rpc;

  explicit SakerConn(const std::string& address) {
    namespace tt = apache::thrift::transport;
    std::string host;
    int port = 0;
    SplitHostPort(address, &host, &port);
    auto socket = std::make_shared<tt::TSocket>(host, port);
    socket->setNoDelay(true);
    transport = std::make_shared<tt::TFramedTransport>(socket);
    transport->open();
    rpc = std::make_unique<saker::api::SakerClient>(
        std::make_shared<apache::thrift::protocol::TBinaryProtocol>(transport));
  }
};

// Keeps `window` put_items in flight on one connection until `stop`; replies come in order.
void SakerPutter(const Flags& f, const std::atomic<bool>& stop, Recorder& rec, bool count_done,
                 int64_t rate) {
  SakerConn conn(f.server);
  std::deque<int64_t> sent;
  std::vector<uint32_t> local;
  std::vector<saker::api::PutItem> items(1);
  Pacer pacer(rate);
  int64_t n = 0;
  auto send = [&] {
    pacer.Wait(n++);
    int64_t now = NowNs();
    items[0].data = Payload(f.size, now);
    conn.rpc->send_put_items(f.queue, items);
    sent.push_back(now);
  };
  for (int i = 0; i < f.window; ++i) send();
  while (!sent.empty()) {
    saker::api::PutResult result;
    conn.rpc->recv_put_items(result);
    if (!stop) {
      if (count_done) local.push_back(Micros(NowNs() - sent.front()));
      (count_done ? rec.done : rec.produced) += result.accepted;
    }
    sent.pop_front();
    if (!stop) send();
  }
  if (count_done) rec.Merge(local);
}

void SakerWorker(const Flags& f, const std::atomic<bool>& stop, Recorder& rec) {
  SakerConn conn(f.server);
  std::vector<uint32_t> local;
  std::vector<saker::api::LeasedItem> items;
  std::vector<int64_t> ids;
  while (!stop) {
    conn.rpc->get_items(items, f.queue, "", f.get_batch, 100, 30000);
    if (items.empty()) continue;
    ids.clear();
    for (const auto& item : items) ids.push_back(item.lease_id);
    conn.rpc->ack(f.queue, ids);
    int64_t now = NowNs();
    if (stop) break;
    for (const auto& item : items) local.push_back(Micros(now - PutTime(item.data)));
    rec.done += static_cast<int64_t>(items.size());
  }
  rec.Merge(local);
}

// ---- redis ----

struct RedisConn {
  redisContext* ctx = nullptr;
  explicit RedisConn(const std::string& address) {
    std::string host;
    int port = 0;
    SplitHostPort(address, &host, &port);
    ctx = redisConnect(host.c_str(), port);
    if (ctx == nullptr || ctx->err) {
      std::fprintf(stderr, "saker-bench: redis %s: %s\n", address.c_str(),
                   ctx ? ctx->errstr : "out of memory");
      std::exit(1);
    }
  }
  ~RedisConn() { redisFree(ctx); }
  redisReply* Reply() {
    void* reply = nullptr;
    if (redisGetReply(ctx, &reply) != REDIS_OK) {
      std::fprintf(stderr, "saker-bench: redis: %s\n", ctx->errstr);
      std::exit(1);
    }
    return static_cast<redisReply*>(reply);
  }
};

void RedisPutter(const Flags& f, const std::atomic<bool>& stop, Recorder& rec, bool count_done,
                 int64_t rate) {
  RedisConn conn(f.server);
  std::deque<int64_t> sent;
  std::vector<uint32_t> local;
  Pacer pacer(rate);
  int64_t n = 0;
  auto send = [&] {
    pacer.Wait(n++);
    int64_t now = NowNs();
    std::string p = Payload(f.size, now);
    redisAppendCommand(conn.ctx, "XADD %s * d %b", f.queue.c_str(), p.data(), p.size());
    sent.push_back(now);
  };
  for (int i = 0; i < f.window; ++i) send();
  while (!sent.empty()) {
    freeReplyObject(conn.Reply());
    if (!stop) {
      if (count_done) local.push_back(Micros(NowNs() - sent.front()));
      ++(count_done ? rec.done : rec.produced);
    }
    sent.pop_front();
    if (!stop) send();
  }
  if (count_done) rec.Merge(local);
}

void RedisWorker(const Flags& f, const std::atomic<bool>& stop, Recorder& rec, int id) {
  RedisConn conn(f.server);
  std::vector<uint32_t> local;
  std::string consumer = "c" + std::to_string(id);
  std::string count = std::to_string(f.get_batch);
  while (!stop) {
    const char* argv[] = {"XREADGROUP", "GROUP",         "g",     consumer.c_str(),
                          "COUNT",      count.c_str(),   "BLOCK", "100",
                          "STREAMS",    f.queue.c_str(), ">"};
    redisAppendCommandArgv(conn.ctx, 11, argv, nullptr);
    redisReply* r = conn.Reply();
    std::vector<std::string> ids;
    std::vector<int64_t> put_ns;
    // [[stream, [[id, [field, value]], ...]]]
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
      redisReply* entries = r->element[0]->element[1];
      for (size_t i = 0; i < entries->elements; ++i) {
        redisReply* e = entries->element[i];
        ids.emplace_back(e->element[0]->str, e->element[0]->len);
        redisReply* fields = e->element[1];
        put_ns.push_back(PutTime(std::string(fields->element[1]->str, fields->element[1]->len)));
      }
    }
    freeReplyObject(r);
    if (ids.empty()) continue;
    std::vector<const char*> ack = {"XACK", f.queue.c_str(), "g"};
    for (const auto& i : ids) ack.push_back(i.c_str());
    redisAppendCommandArgv(conn.ctx, static_cast<int>(ack.size()), ack.data(), nullptr);
    freeReplyObject(conn.Reply());
    int64_t now = NowNs();
    if (stop) break;
    for (int64_t ns : put_ns) local.push_back(Micros(now - ns));
    rec.done += static_cast<int64_t>(ids.size());
  }
  rec.Merge(local);
}

void RedisSetup(const Flags& f) {
  RedisConn conn(f.server);
  const char* del[] = {"DEL", f.queue.c_str()};
  redisAppendCommandArgv(conn.ctx, 2, del, nullptr);
  freeReplyObject(conn.Reply());
  if (f.workload == "w2") {
    const char* group[] = {"XGROUP", "CREATE", f.queue.c_str(), "g", "$", "MKSTREAM"};
    redisAppendCommandArgv(conn.ctx, 6, group, nullptr);
    freeReplyObject(conn.Reply());
  }
}

// Runs a thread body; a failure (lost connection, server error) ends the run.
template <typename F>
std::thread Spawn(F body) {
  return std::thread([body] {
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "saker-bench: %s\n", e.what());
      std::_Exit(1);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{"saker-bench: DESIGN.md workloads W1 (durable put) and W2 (work queue)"};
  app.add_option("-w,--workload", f.workload)
      ->check(CLI::IsMember({"w1", "w2"}))
      ->capture_default_str();
  app.add_option("--backend", f.backend)
      ->check(CLI::IsMember({"saker", "redis"}))
      ->capture_default_str();
  app.add_option("-s,--server", f.server, "host:port (sakerd thrift, or redis)")
      ->capture_default_str();
  app.add_option("--queue", f.queue, "queue / stream name (default: a fresh one per run)");
  app.add_option("--seconds", f.seconds)->capture_default_str();
  app.add_option("-c,--connections", f.connections, "W1: connections")->capture_default_str();
  app.add_option("--window", f.window, "requests in flight per connection / producer")
      ->capture_default_str();
  app.add_option("--size", f.size, "item bytes (>= 8)")->capture_default_str();
  app.add_option("-p,--producers", f.producers, "W2: producers")->capture_default_str();
  app.add_option("--workers", f.workers, "W2: workers")->capture_default_str();
  app.add_option("--get-batch", f.get_batch, "W2: items per get")->capture_default_str();
  app.add_option("--rate", f.rate, "W2: total put rate, items/s (0 = unlimited)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (f.queue.empty()) {
    f.queue = "bench-" + f.workload + "-" + std::to_string(getpid()) + "-" +
              std::to_string(NowNs() % 1000000);
  }

  bool redis = f.backend == "redis";
  if (redis) RedisSetup(f);
  Recorder rec;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  try {
    if (f.workload == "w1") {
      for (int i = 0; i < f.connections; ++i) {
        threads.push_back(Spawn([&] {
          redis ? RedisPutter(f, stop, rec, true, 0) : SakerPutter(f, stop, rec, true, 0);
        }));
      }
    } else {
      for (int i = 0; i < f.workers; ++i) {
        threads.push_back(
            Spawn([&, i] { redis ? RedisWorker(f, stop, rec, i) : SakerWorker(f, stop, rec); }));
      }
      int64_t rate = f.rate / std::max(f.producers, 1);
      for (int i = 0; i < f.producers; ++i) {
        threads.push_back(Spawn([&, rate] {
          redis ? RedisPutter(f, stop, rec, false, rate) : SakerPutter(f, stop, rec, false, rate);
        }));
      }
    }
    auto start = Clock::now();
    auto end = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(f.seconds));
    int64_t last = 0;
    while (Clock::now() < end) {
      std::this_thread::sleep_until(std::min(end, Clock::now() + std::chrono::seconds(1)));
      int64_t done = rec.done;
      double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      std::fprintf(stderr, "%s %s %.0f/%.0f s: %lld items, %lld in the last second\n",
                   f.workload.c_str(), f.backend.c_str(), elapsed, f.seconds,
                   static_cast<long long>(done), static_cast<long long>(done - last));
      last = done;
    }
    stop = true;
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    int64_t done = rec.done;
    int64_t produced = rec.produced;
    for (auto& t : threads) t.join();
    std::printf("{\"bench\":\"%s\",\"backend\":\"%s\",\"seconds\":%.2f,\"size\":%d,\"window\":%d,",
                f.workload.c_str(), f.backend.c_str(), elapsed, f.size, f.window);
    if (f.workload == "w1") {
      std::printf(
          "\"connections\":%d,\"items\":%lld,\"items_per_s\":%.0f,\"p50_us\":%u,"
          "\"p99_us\":%u}\n",
          f.connections, static_cast<long long>(done), done / elapsed, rec.Percentile(0.5),
          rec.Percentile(0.99));
    } else {
      std::printf(
          "\"producers\":%d,\"workers\":%d,\"get_batch\":%d,\"rate\":%lld,"
          "\"produced\":%lld,\"acked\":%lld,\"items_per_s\":%.0f,\"e2e_p50_us\":%u,"
          "\"e2e_p99_us\":%u}\n",
          f.producers, f.workers, f.get_batch, static_cast<long long>(f.rate),
          static_cast<long long>(produced), static_cast<long long>(done), done / elapsed,
          rec.Percentile(0.5), rec.Percentile(0.99));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "saker-bench: %s\n", e.what());
    std::_Exit(1);
  }
  return 0;
}

// The saker client library: the only header a user includes. It speaks the native Saker API
// (thrift/saker.thrift) and Kestrel's methods over framed binary Thrift, but exposes no Thrift
// types. Link the static library `saker_client`.
//
//   saker::client::Client c({.servers = {"127.0.0.1:2229"}});
//   auto put = c.Put("orders", {{"hello"}, {"world", "idempotency-key"}});
//   auto items = c.Get("orders", "", 10, std::chrono::milliseconds(500));
//   for (auto& item : items.value()) c.Ack("orders", {item.lease_id}, item.server);
//
// Several servers (Kestrel style): puts are spread round-robin, gets stay on one server until it
// comes back empty or fails, then rotate. A server that fails is skipped for a backoff period that
// doubles up to `reconnect_backoff_max`. Lease ids are per server: ack, nack and extend on the
// server an item came from (`Item::server`).
//
// In a cluster every call follows the servers' refusals (docs/PROTOCOL.md "Clusters"): a
// NOT_LEADER answer names the queue's leader, and the call goes there (at most 3 hops; the
// leader is remembered for the queue's later calls); an UNAVAILABLE answer (no leader yet) is
// asked again with backoff, reconnect_backoff_min doubling up to reconnect_backoff_max, until
// the call's deadline (request_timeout, plus a get's wait). UNAVAILABLE for READONLY or
// QUIESCENT, set by an operator, is returned at once, as are transport failures.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace saker::client {

// The server's error codes (thrift ErrorCode; stable numbers) plus transport failures mapped onto
// kUnavailable (cannot connect, connection lost) and kTimeout (no reply in time).
enum class Code : int {
  kOk = 0,
  kNotFound = 1,
  kInvalidArgument = 2,
  kCorruption = 3,
  kIOError = 4,
  kBusy = 5,
  kNotLeader = 6,
  kTimeout = 7,
  kUnavailable = 8,
};

const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NOT_FOUND: queue 'x' ..." or "OK".
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status explaining its absence.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}
  Result(Status status) : status_(std::move(status)) {}

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

struct Options {
  // "host:port" each; at least one.
  std::vector<std::string> servers = {"127.0.0.1:2229"};
  std::chrono::milliseconds connect_timeout{1000};
  // Reply deadline for a call; a blocking get adds its own wait to it.
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds reconnect_backoff_min{50};
  std::chrono::milliseconds reconnect_backoff_max{5000};
};

struct PutItem {
  PutItem() = default;
  PutItem(std::string data_, std::string key_ = {},
          std::chrono::milliseconds ttl_ = std::chrono::milliseconds(0))
      : data(std::move(data_)), key(std::move(key_)), ttl(ttl_) {}

  std::string data;
  // Idempotency key ("" = none): a repeat within the queue's dedupe window returns the original
  // offset.
  std::string key;
  // 0 = never expires (still capped by the queue's max_age).
  std::chrono::milliseconds ttl{0};
};

struct PutResult {
  // How many items were stored: a prefix of the request.
  int32_t accepted = 0;
  // Offset of each accepted item, in request order.
  std::vector<int64_t> offsets;
  // Why item `accepted` was refused; ok when every item was accepted.
  Status refused;
  // The server that stored them: an index into Options::servers, or past its end one of the
  // leaders that NOT_LEADER answers named, in the order met.
  int server = 0;
};

struct Item {
  // For Ack / Nack / Extend on `server`; 0 when the read was not leased.
  int64_t lease_id = 0;
  int64_t offset = 0;
  int32_t delivery_count = 0;
  std::string data;
  int64_t put_at_ms = 0;
  // 0 = never.
  int64_t expires_at_ms = 0;
  // The server that delivered it (numbered as PutResult::server).
  int server = 0;
};

struct StartPosition {
  enum class Kind { kEarliest = 0, kLatest = 1, kOffset = 2, kTimestamp = 3 };
  Kind kind = Kind::kLatest;
  // kOffset: first offset to deliver; kTimestamp: first item put at or after this Unix ms.
  int64_t value = 0;
};

struct SubscriptionInfo {
  std::string name;
  int64_t ack_floor = 0;
  int64_t lag = 0;
  int64_t lag_ms = 0;
  int64_t leased = 0;
  int32_t waiters = 0;
  int64_t delivered = 0;
  int64_t redelivered = 0;
  int64_t acked = 0;
  int64_t expired = 0;
  int64_t dead_lettered = 0;
};

struct QueueInfo {
  std::string name;
  int64_t first_offset = 0;
  int64_t next_offset = 0;
  // Depth of the slowest subscription, and its payload bytes.
  int64_t items = 0;
  int64_t bytes = 0;
  int64_t log_bytes = 0;
  int64_t put_items = 0;
  int64_t put_refused = 0;
  int64_t deduplicated = 0;
  int64_t dropped = 0;
  bool failed = false;
  std::vector<SubscriptionInfo> subscriptions;
  // Why the queue is stopped ("" while it serves): "corruption" (repair it), "no_space"
  // (resumes by itself once the disk has room) or "io_error" (ResumeQueue); and the error.
  std::string failure_kind;
  std::string failure;
};

// One damaged stretch RepairQueue removed: offsets [first_offset, end_offset) of `log`
// ("items", or "cursors": the cursor log, whose lost acks make items come again), found at
// byte `position` of `segment`, `bytes` long.
struct RepairCut {
  std::string log;
  std::string segment;
  int64_t position = 0;
  int64_t bytes = 0;
  int64_t first_offset = 0;
  int64_t end_offset = 0;
};

struct RepairReport {
  int64_t batches_kept = 0;
  std::vector<RepairCut> cut;  // empty: nothing was damaged
};

// Kestrel's peek: the default subscription's head without taking it.
struct PeekInfo {
  std::optional<std::string> head_item;
  int64_t items = 0;
  int64_t bytes = 0;
  int64_t journal_bytes = 0;
  int64_t age_ms = 0;
  int32_t waiters = 0;
  int32_t open_transactions = 0;
};

// A cluster as the node that answered sees it (GetClusterStatus; docs/OPERATIONS.md "Cluster
// status"). Offsets are item offsets.
struct ClusterNode {
  int id = 0;
  std::string host;
  int thrift_port = 0;
  int memcache_port = 0;
  int text_port = 0;
  int admin_port = 0;
  int replication_port = 0;
  // The answering node's last append round trip to this node (0: none yet).
  int64_t append_rtt_us = 0;
};

struct ClusterFollower {
  int node = 0;
  int64_t durable_end = 0;  // what it has acknowledged durable
  int64_t lag = 0;          // offsets the leader has that it has not acknowledged
  bool synced = false;      // receiving batches as they are appended
};

struct ClusterQueue {
  std::string name;
  int leader = -1;  // node id; -1 while none is known
  int64_t epoch = 0;
  std::vector<int> replicas;
  int ack_quorum = 0;
  // The answering node's role: "leader", "follower", "candidate" or "none".
  std::string role;
  int64_t commit_end = 0;                  // offsets below are committed
  int64_t log_end = 0;                     // end of the answering node's copy
  std::vector<ClusterFollower> followers;  // only when the answering node leads the queue
};

// The answering node's counters since it started.
struct ClusterCounters {
  int64_t takeovers = 0;
  int64_t takeover_failures = 0;
  int64_t fences_received = 0;
  int64_t fenced_rejections = 0;
  int64_t step_downs = 0;
  int64_t appends_sent = 0;
  int64_t appends_received = 0;
  int64_t unknown_puts = 0;
};

struct ClusterStatus {
  int node_id = 0;
  bool zookeeper_connected = false;
  std::string zookeeper;
  std::vector<ClusterNode> nodes;  // live, as ZooKeeper lists them
  std::vector<ClusterQueue> queues;
  ClusterCounters counters;
};

// Kestrel's server status.
enum class ServerStatus { kNotConfigured = 0, kQuiescent = 1, kReadOnly = 2, kUp = 3 };

// One connection per server, opened on first use. Not thread-safe: use one Client per thread.
// The first Client turns off libthrift's own stderr messages (process-wide): every failure is
// returned as a Status instead.
class Client {
 public:
  explicit Client(Options options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Native API (queue names: DESIGN.md; subscription "" = the queue's default one).
  Result<PutResult> Put(std::string_view queue, const std::vector<PutItem>& items);
  // Up to `max_items`, waiting up to `wait` for the first; leased for `lease` (0 = the queue's
  // lease_timeout).
  Result<std::vector<Item>> Get(std::string_view queue, std::string_view subscription,
                                int max_items,
                                std::chrono::milliseconds wait = std::chrono::milliseconds(0),
                                std::chrono::milliseconds lease = std::chrono::milliseconds(0));
  // Each returns how many lease ids matched.
  Result<int> Ack(std::string_view queue, const std::vector<int64_t>& lease_ids, int server = 0);
  // Deliverable again after `delay` (negative: the queue's redelivery delay).
  Result<int> Nack(std::string_view queue, const std::vector<int64_t>& lease_ids,
                   std::chrono::milliseconds delay = std::chrono::milliseconds(-1), int server = 0);
  Result<int> Extend(std::string_view queue, const std::vector<int64_t>& lease_ids,
                     std::chrono::milliseconds lease, int server = 0);

  // Queue and subscription management goes to the first server that answers.
  Status CreateSubscription(std::string_view queue, std::string_view subscription,
                            StartPosition start);
  Status SeekSubscription(std::string_view queue, std::string_view subscription,
                          StartPosition position);
  Result<std::vector<SubscriptionInfo>> ListSubscriptions(std::string_view queue);
  Status DeleteSubscription(std::string_view queue, std::string_view subscription);
  Result<QueueInfo> GetQueueInfo(std::string_view queue);
  Result<std::vector<std::string>> ListQueues();
  // Salvages a damaged queue (docs/OPERATIONS.md "Damage and repair"): every intact batch is
  // kept, the report says what was cut, and the queue serves again.
  Result<RepairReport> RepairQueue(std::string_view queue);
  // Restarts a queue stopped by a write error once the disk takes writes again (Corruption if
  // it is damaged: repair it).
  Status ResumeQueue(std::string_view queue);

  // Kestrel methods.
  Result<PeekInfo> Peek(std::string_view queue);
  Status FlushQueue(std::string_view queue);
  Status DeleteQueue(std::string_view queue);
  Result<ServerStatus> GetServerStatus();
  Status SetServerStatus(ServerStatus status);
  Result<std::string> Version();

  // The cluster as the first server that answers sees it; NotFound ("not a cluster") from a
  // server started without --zookeeper.
  Result<ClusterStatus> GetClusterStatus();

  const Options& options() const { return options_; }

 private:
  struct Impl;
  Options options_;
  std::unique_ptr<Impl> impl_;
};

// What a Consumer handler decides for an item.
enum class Disposition { kAck, kNack };

struct ConsumerOptions {
  Options client;
  std::string queue;
  std::string subscription;
  int workers = 1;
  // Items per get.
  int batch = 16;
  std::chrono::milliseconds wait{500};
  // 0 = the queue's lease_timeout.
  std::chrono::milliseconds lease{30000};
  // A nacked item comes back after min * 2^(delivery_count - 1), capped at max.
  std::chrono::milliseconds nack_backoff_min{100};
  std::chrono::milliseconds nack_backoff_max{30000};
};

// N worker threads, each with its own Client: leased get, call the handler for every item, ack
// or nack (with backoff) by what it returns. A handler that throws nacks the item.
class Consumer {
 public:
  using Handler = std::function<Disposition(const Item&)>;

  Consumer(ConsumerOptions options, Handler handler);
  // Stops if running.
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  void Start();
  // Graceful: no new gets; items already taken are handled and settled; then the workers end.
  // Returns within about `wait` + one handler call.
  void Stop();

  int64_t acked() const { return acked_.load(); }
  int64_t nacked() const { return nacked_.load(); }
  int64_t errors() const { return errors_.load(); }

  // The delay a nack of an item delivered `delivery_count` times gets.
  static std::chrono::milliseconds NackDelay(const ConsumerOptions& options,
                                             int32_t delivery_count);

 private:
  void Run();

  ConsumerOptions options_;
  Handler handler_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> acked_{0};
  std::atomic<int64_t> nacked_{0};
  std::atomic<int64_t> errors_{0};
  std::vector<std::thread> threads_;
};

}  // namespace saker::client

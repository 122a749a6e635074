// saker::client: Thrift transport, reconnect with backoff, server selection, cluster redirects
// (NOT_LEADER, UNAVAILABLE), Consumer.
#include "client/include/saker/client.h"

#include <thrift/TApplicationException.h>
#include <thrift/TOutput.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <thrift/transport/TTransportException.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <exception>
#include <map>
#include <mutex>

#include "Saker.h"
#include "client/redirect.h"

namespace saker::client {

namespace tt = apache::thrift::transport;
namespace tp = apache::thrift::protocol;
using Clock = std::chrono::steady_clock;

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      return "NOT_FOUND";
    case Code::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case Code::kCorruption:
      return "CORRUPTION";
    case Code::kIOError:
      return "IO_ERROR";
    case Code::kBusy:
      return "BUSY";
    case Code::kNotLeader:
      return "NOT_LEADER";
    case Code::kTimeout:
      return "TIMEOUT";
    case Code::kUnavailable:
      return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

namespace {

// "IO_ERROR", "IOError" -> "IOERROR": a code's name as CodeName and sakerd's statuses spell it.
std::string Folded(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c != '_') out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

// A Kestrel method's refusal arrives as a TApplicationException "Code: message" (sakerd writes
// its status that way, e.g. "Unavailable: server is READONLY"); anything else is an IO_ERROR
// with the text as it came.
Status FromApplicationException(const std::string& what) {
  const size_t colon = what.find(": ");
  if (colon != std::string::npos) {
    const std::string name = Folded(std::string_view(what).substr(0, colon));
    for (int c = static_cast<int>(Code::kNotFound); c <= static_cast<int>(Code::kUnavailable);
         c++) {
      if (name == Folded(CodeName(static_cast<Code>(c)))) {
        return Status(static_cast<Code>(c), what.substr(colon + 2));
      }
    }
  }
  return Status(Code::kIOError, what);
}

}  // namespace

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

namespace {

Code FromWire(int32_t code) {
  if (code < 0 || code > static_cast<int32_t>(Code::kUnavailable)) return Code::kIOError;
  return static_cast<Code>(code);
}

int32_t Millis(std::chrono::milliseconds d) {
  return static_cast<int32_t>(std::clamp<int64_t>(d.count(), INT32_MIN, INT32_MAX));
}

}  // namespace

// One server: its address, connection (opened lazily) and backoff state.
struct Connection {
  std::string address;
  std::string host;
  int port = 0;
  std::shared_ptr<tt::TSocket> socket;
  std::shared_ptr<tt::TTransport> transport;
  std::unique_ptr<api::SakerClient> rpc;
  Clock::time_point retry_at{};
  std::chrono::milliseconds backoff{0};
};

// How far a call got: never sent (connecting failed or backing off), sent with no answer (the
// connection broke or timed out: it may have been done), or answered (the status is the
// server's).
enum class Reach { kNotSent, kLost, kAnswered };

// NOT_LEADER hops one call follows: a leader that moved once more while the call was redirected
// is found on the next; more means the cluster is electing, and the caller hears NOT_LEADER.
constexpr int kMaxRedirects = 3;

struct Client::Impl {
  const Options& options;
  // Options::servers, then each leader a NOT_LEADER answer named, in the order met. A deque:
  // adding one keeps references to the others valid.
  std::deque<Connection> servers;
  // The server that last answered for a queue after a redirect: its leader, as far as known.
  std::map<std::string, size_t, std::less<>> leaders;
  size_t next_put = 0;
  size_t current_get = 0;

  explicit Impl(const Options& opts) : options(opts) {
    for (const std::string& address : options.servers) Add(address);
  }

  size_t Add(const std::string& address) {
    Connection c;
    c.address = address;
    size_t colon = address.rfind(':');
    c.host = colon == std::string::npos ? address : address.substr(0, colon);
    c.port = colon == std::string::npos ? 2229 : std::atoi(address.c_str() + colon + 1);
    servers.push_back(std::move(c));
    return servers.size() - 1;
  }

  size_t IndexOf(const std::string& address) {
    for (size_t i = 0; i < servers.size(); ++i) {
      if (servers[i].address == address) return i;
    }
    return Add(address);
  }

  // Where a call about `queue` starts: its known leader, else `fallback`.
  size_t StartFor(std::string_view queue, size_t fallback) const {
    auto it = leaders.find(queue);
    return it == leaders.end() ? fallback : it->second;
  }

  void Drop(Connection& c) {
    if (c.transport) {
      try {
        c.transport->close();
      } catch (const std::exception&) {
        // Closing a broken socket can fail; it is being discarded either way.
      }
    }
    c.rpc.reset();
    c.transport.reset();
    c.socket.reset();
    c.backoff = c.backoff.count() == 0 ? options.reconnect_backoff_min
                                       : std::min(c.backoff * 2, options.reconnect_backoff_max);
    c.retry_at = Clock::now() + c.backoff;
  }

  // Opens the connection if needed. Unavailable while backing off or when connecting fails.
  Status Connect(Connection& c) {
    if (c.rpc) return Status::Ok();
    auto now = Clock::now();
    if (now < c.retry_at) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.retry_at - now);
      return Status(Code::kUnavailable,
                    c.address + ": reconnecting in " + std::to_string(left.count()) + " ms");
    }
    try {
      c.socket = std::make_shared<tt::TSocket>(c.host, c.port);
      c.socket->setConnTimeout(Millis(options.connect_timeout));
      c.socket->setRecvTimeout(Millis(options.request_timeout));
      c.socket->setSendTimeout(Millis(options.request_timeout));
      c.socket->setNoDelay(true);
      c.transport = std::make_shared<tt::TFramedTransport>(c.socket);
      c.transport->open();
      c.rpc =
          std::make_unique<api::SakerClient>(std::make_shared<tp::TBinaryProtocol>(c.transport));
      c.backoff = std::chrono::milliseconds(0);
      return Status::Ok();
    } catch (const std::exception& e) {
      std::string what = e.what();
      Drop(c);
      return Status(Code::kUnavailable, c.address + ": connect: " + what);
    }
  }

  // Runs `call` on server `index`, converting exceptions; transport failures drop the
  // connection (its stream may be out of step) and start its backoff.
  template <typename F>
  Status Call(size_t index, std::chrono::milliseconds extra_wait, Reach* reach, F&& call) {
    *reach = Reach::kNotSent;
    if (index >= servers.size()) {
      return Status(Code::kInvalidArgument, "no server " + std::to_string(index));
    }
    Connection& c = servers[index];
    if (Status s = Connect(c); !s.ok()) return s;
    *reach = Reach::kLost;
    try {
      if (extra_wait.count() > 0)
        c.socket->setRecvTimeout(Millis(options.request_timeout + extra_wait));
      call(*c.rpc);
      if (extra_wait.count() > 0) c.socket->setRecvTimeout(Millis(options.request_timeout));
      *reach = Reach::kAnswered;
      return Status::Ok();
    } catch (const api::SakerError& e) {
      if (extra_wait.count() > 0) c.socket->setRecvTimeout(Millis(options.request_timeout));
      *reach = Reach::kAnswered;
      return Status(FromWire(e.code), e.message);
    } catch (const apache::thrift::TApplicationException& e) {
      // An answer, not a broken connection: the connection stays.
      if (extra_wait.count() > 0) c.socket->setRecvTimeout(Millis(options.request_timeout));
      *reach = Reach::kAnswered;
      return FromApplicationException(e.what());
    } catch (const tt::TTransportException& e) {
      Code code =
          e.getType() == tt::TTransportException::TIMED_OUT ? Code::kTimeout : Code::kUnavailable;
      std::string what = e.what();
      Drop(c);
      return Status(code, c.address + ": " + what);
    } catch (const std::exception& e) {
      std::string what = e.what();
      Drop(c);
      return Status(Code::kIOError, c.address + ": " + what);
    }
  }

  // Tries servers from `start` in order until one is reachable; `call` runs on it. Only
  // connection failures move on (a call that was sent is never repeated).
  template <typename F>
  Status CallAny(size_t start, std::chrono::milliseconds extra_wait, size_t* used, Reach* reach,
                 F&& call) {
    Status last;
    *reach = Reach::kNotSent;
    for (size_t i = 0; i < servers.size(); ++i) {
      size_t index = (start + i) % servers.size();
      if (Status s = Connect(servers[index]); !s.ok()) {
        last = s;
        continue;
      }
      *used = index;
      return Call(index, extra_wait, reach, call);
    }
    return last;
  }

  // Runs `call` about `queue` ("" if it names none) on server `start` (`any`: or the next
  // reachable one) and follows the cluster's refusals, which a server answers before it acts:
  // - NOT_LEADER goes to the leader its message names, at most kMaxRedirects hops, and that
  //   leader is remembered for the queue;
  // - an UNAVAILABLE answer that may clear (UnavailableMayClear) is asked again of the same
  //   server;
  // - a named leader that cannot be reached (it may be the one that died, listed until its
  //   ZooKeeper session ends) is forgotten and the call starts over from `start`;
  // the last two after a backoff, while the call's deadline (request_timeout + `extra_wait`
  // from now) allows. A call that was sent and lost, a transport failure where the call began,
  // and every other answer return as they are.
  template <typename F>
  Status Route(std::string_view queue, size_t start, bool any, std::chrono::milliseconds extra_wait,
               size_t* used, F&& call) {
    const Clock::time_point deadline =
        Clock::now() + options.request_timeout + std::max(extra_wait, std::chrono::milliseconds(0));
    std::chrono::milliseconds backoff = options.reconnect_backoff_min;
    // Sleeps before a retry; false when the deadline leaves no time for one.
    auto pause = [&] {
      if (Clock::now() + backoff >= deadline) return false;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, options.reconnect_backoff_max);
      return true;
    };
    size_t index = start;
    bool index_any = any;
    int hops = 0;
    for (;;) {
      Reach reach = Reach::kNotSent;
      Status s;
      if (index_any) {
        s = CallAny(index, extra_wait, used, &reach, call);
      } else {
        *used = index;
        s = Call(index, extra_wait, &reach, call);
      }
      if (reach == Reach::kNotSent && hops > 0) {
        if (auto it = leaders.find(queue); it != leaders.end()) leaders.erase(it);
        if (!pause()) return s;
        index = start;
        index_any = any;
        hops = 0;
        continue;
      }
      if (reach != Reach::kAnswered) return s;
      if (s.code() == Code::kNotLeader) {
        std::optional<std::string> leader = LeaderAddress(s.message());
        if (!leader || hops == kMaxRedirects) return s;
        ++hops;
        index = IndexOf(*leader);
        index_any = false;
        if (!queue.empty()) leaders[std::string(queue)] = index;
        continue;
      }
      if (s.code() == Code::kUnavailable && UnavailableMayClear(s.message()) && pause()) {
        index = *used;
        index_any = false;
        continue;
      }
      return s;
    }
  }
};

Client::Client(Options options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {
  // libthrift prints its own line to stderr for every socket error; each one also reaches the
  // caller as a Status, so the duplicate only garbles a program's (e.g. the CLI's) error output.
  static std::once_flag silence_thrift;
  std::call_once(silence_thrift,
                 [] { apache::thrift::GlobalOutput.setOutputFunction([](const char*) {}); });
}

Client::~Client() = default;

Result<PutResult> Client::Put(std::string_view queue, const std::vector<PutItem>& items) {
  std::vector<api::PutItem> wire(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    wire[i].data = items[i].data;
    if (!items[i].key.empty()) wire[i].__set_key(items[i].key);
    wire[i].ttl_ms = items[i].ttl.count();
  }
  api::PutResult reply;
  size_t used = 0;
  size_t start = impl_->StartFor(queue, impl_->next_put++ % impl_->options.servers.size());
  Status s =
      impl_->Route(queue, start, true, std::chrono::milliseconds(0), &used,
                   [&](api::SakerClient& rpc) { rpc.put_items(reply, std::string(queue), wire); });
  if (!s.ok()) return s;
  PutResult result;
  result.accepted = reply.accepted;
  result.offsets = std::move(reply.offsets);
  if (reply.__isset.refused)
    result.refused = Status(FromWire(reply.refused.code), reply.refused.message);
  result.server = static_cast<int>(used);
  return result;
}

Result<std::vector<Item>> Client::Get(std::string_view queue, std::string_view subscription,
                                      int max_items, std::chrono::milliseconds wait,
                                      std::chrono::milliseconds lease) {
  std::vector<api::LeasedItem> reply;
  size_t used = 0;
  Status s = impl_->Route(queue, impl_->StartFor(queue, impl_->current_get), true, wait, &used,
                          [&](api::SakerClient& rpc) {
                            rpc.get_items(reply, std::string(queue), std::string(subscription),
                                          max_items, Millis(wait), Millis(lease));
                          });
  if (!s.ok() || reply.empty()) {
    impl_->current_get = (used + 1) % impl_->servers.size();
  } else {
    impl_->current_get = used;
  }
  if (!s.ok()) return s;
  std::vector<Item> items(reply.size());
  for (size_t i = 0; i < reply.size(); ++i) {
    items[i].lease_id = reply[i].lease_id;
    items[i].offset = reply[i].offset;
    items[i].delivery_count = reply[i].delivery_count;
    items[i].data = std::move(reply[i].data);
    items[i].put_at_ms = reply[i].put_at_ms;
    items[i].expires_at_ms = reply[i].expires_at_ms;
    items[i].server = static_cast<int>(used);
  }
  return items;
}

Result<int> Client::Ack(std::string_view queue, const std::vector<int64_t>& lease_ids, int server) {
  int32_t n = 0;
  size_t used = 0;
  Status s =
      impl_->Route(queue, static_cast<size_t>(server), false, std::chrono::milliseconds(0), &used,
                   [&](api::SakerClient& rpc) { n = rpc.ack(std::string(queue), lease_ids); });
  if (!s.ok()) return s;
  return n;
}

Result<int> Client::Nack(std::string_view queue, const std::vector<int64_t>& lease_ids,
                         std::chrono::milliseconds delay, int server) {
  int32_t n = 0;
  size_t used = 0;
  Status s = impl_->Route(queue, static_cast<size_t>(server), false, std::chrono::milliseconds(0),
                          &used, [&](api::SakerClient& rpc) {
                            n = rpc.nack(std::string(queue), lease_ids,
                                         delay.count() < 0 ? -1 : Millis(delay));
                          });
  if (!s.ok()) return s;
  return n;
}

Result<int> Client::Extend(std::string_view queue, const std::vector<int64_t>& lease_ids,
                           std::chrono::milliseconds lease, int server) {
  int32_t n = 0;
  size_t used = 0;
  Status s = impl_->Route(queue, static_cast<size_t>(server), false, std::chrono::milliseconds(0),
                          &used, [&](api::SakerClient& rpc) {
                            n = rpc.extend_leases(std::string(queue), lease_ids, Millis(lease));
                          });
  if (!s.ok()) return s;
  return n;
}

namespace {

api::StartPosition ToWire(StartPosition p) {
  api::StartPosition w;
  w.kind = static_cast<api::StartKind::type>(p.kind);
  w.value = p.value;
  return w;
}

SubscriptionInfo FromWire(const api::SubscriptionInfo& w) {
  SubscriptionInfo s;
  s.name = w.name;
  s.ack_floor = w.ack_floor;
  s.lag = w.lag;
  s.lag_ms = w.lag_ms;
  s.leased = w.leased;
  s.waiters = w.waiters;
  s.delivered = w.delivered;
  s.redelivered = w.redelivered;
  s.acked = w.acked;
  s.expired = w.expired;
  s.dead_lettered = w.dead_lettered;
  return s;
}

}  // namespace

// Management calls: the queue's known leader, else the first reachable server from the first;
// `queue` is "" for calls that name none.
#define SAKER_ADMIN_CALL(queue, body)                                                           \
  size_t used = 0;                                                                              \
  Status s = impl_->Route(queue, impl_->StartFor(queue, 0), true, std::chrono::milliseconds(0), \
                          &used, [&](api::SakerClient& rpc) { body; });

Status Client::CreateSubscription(std::string_view queue, std::string_view subscription,
                                  StartPosition start) {
  SAKER_ADMIN_CALL(
      queue, rpc.create_subscription(std::string(queue), std::string(subscription), ToWire(start)));
  return s;
}

Status Client::SeekSubscription(std::string_view queue, std::string_view subscription,
                                StartPosition position) {
  SAKER_ADMIN_CALL(queue, rpc.seek_subscription(std::string(queue), std::string(subscription),
                                                ToWire(position)));
  return s;
}

Result<std::vector<SubscriptionInfo>> Client::ListSubscriptions(std::string_view queue) {
  std::vector<api::SubscriptionInfo> reply;
  SAKER_ADMIN_CALL(queue, rpc.list_subscriptions(reply, std::string(queue)));
  if (!s.ok()) return s;
  std::vector<SubscriptionInfo> out;
  for (const auto& w : reply) out.push_back(FromWire(w));
  return out;
}

Status Client::DeleteSubscription(std::string_view queue, std::string_view subscription) {
  SAKER_ADMIN_CALL(queue, rpc.delete_subscription(std::string(queue), std::string(subscription)));
  return s;
}

Result<QueueInfo> Client::GetQueueInfo(std::string_view queue) {
  api::QueueDetails w;
  SAKER_ADMIN_CALL(queue, rpc.queue_info(w, std::string(queue)));
  if (!s.ok()) return s;
  QueueInfo q;
  q.name = w.name;
  q.first_offset = w.first_offset;
  q.next_offset = w.next_offset;
  q.items = w.items;
  q.bytes = w.bytes;
  q.log_bytes = w.log_bytes;
  q.put_items = w.put_items;
  q.put_refused = w.put_refused;
  q.deduplicated = w.deduplicated;
  q.dropped = w.dropped;
  q.failed = w.failed;
  q.failure_kind = w.failure_kind;
  q.failure = w.failure;
  for (const auto& sub : w.subscriptions) q.subscriptions.push_back(FromWire(sub));
  return q;
}

Result<RepairReport> Client::RepairQueue(std::string_view queue) {
  api::RepairReport w;
  SAKER_ADMIN_CALL(queue, rpc.repair_queue(w, std::string(queue)));
  if (!s.ok()) return s;
  RepairReport r;
  r.batches_kept = w.batches_kept;
  for (const auto& c : w.cut) {
    r.cut.push_back({c.log, c.segment, c.position, c.bytes, c.first_offset, c.end_offset});
  }
  return r;
}

Status Client::ResumeQueue(std::string_view queue) {
  SAKER_ADMIN_CALL(queue, rpc.resume_queue(std::string(queue)));
  return s;
}

Result<std::vector<std::string>> Client::ListQueues() {
  std::vector<std::string> reply;
  SAKER_ADMIN_CALL("", rpc.list_queues(reply));
  if (!s.ok()) return s;
  return reply;
}

Result<PeekInfo> Client::Peek(std::string_view queue) {
  kestrel::QueueInfo w;
  SAKER_ADMIN_CALL(queue, rpc.peek(w, std::string(queue)));
  if (!s.ok()) return s;
  PeekInfo p;
  if (w.__isset.head_item) p.head_item = w.head_item;
  p.items = w.items;
  p.bytes = w.bytes;
  p.journal_bytes = w.journal_bytes;
  p.age_ms = w.age;
  p.waiters = w.waiters;
  p.open_transactions = w.open_transactions;
  return p;
}

Status Client::FlushQueue(std::string_view queue) {
  SAKER_ADMIN_CALL(queue, rpc.flush_queue(std::string(queue)));
  return s;
}

Status Client::DeleteQueue(std::string_view queue) {
  SAKER_ADMIN_CALL(queue, rpc.delete_queue(std::string(queue)));
  return s;
}

Result<ServerStatus> Client::GetServerStatus() {
  kestrel::Status::type w = kestrel::Status::UP;
  SAKER_ADMIN_CALL("", w = rpc.current_status());
  if (!s.ok()) return s;
  return static_cast<ServerStatus>(w);
}

Status Client::SetServerStatus(ServerStatus status) {
  SAKER_ADMIN_CALL("", rpc.set_status(static_cast<kestrel::Status::type>(status)));
  return s;
}

Result<std::string> Client::Version() {
  std::string v;
  SAKER_ADMIN_CALL("", rpc.get_version(v));
  if (!s.ok()) return s;
  return v;
}

Result<ClusterStatus> Client::GetClusterStatus() {
  api::ClusterStatus w;
  SAKER_ADMIN_CALL("", rpc.cluster_status(w));
  if (!s.ok()) return s;
  ClusterStatus out;
  out.node_id = w.node_id;
  out.zookeeper_connected = w.zookeeper_connected;
  out.zookeeper = w.zookeeper;
  for (const auto& n : w.nodes) {
    out.nodes.push_back({n.id, n.host, n.thrift_port, n.memcache_port, n.text_port, n.admin_port,
                         n.replication_port, n.append_rtt_us});
  }
  for (const auto& q : w.queues) {
    ClusterQueue cq;
    cq.name = q.name;
    cq.leader = q.leader;
    cq.epoch = q.epoch;
    cq.replicas.assign(q.replicas.begin(), q.replicas.end());
    cq.ack_quorum = q.ack_quorum;
    cq.role = q.role;
    cq.commit_end = q.commit_end;
    cq.log_end = q.log_end;
    for (const auto& f : q.followers)
      cq.followers.push_back({f.node, f.durable_end, f.lag, f.synced});
    out.queues.push_back(std::move(cq));
  }
  const auto& c = w.counters;
  out.counters = {c.takeovers,  c.takeover_failures, c.fences_received,  c.fenced_rejections,
                  c.step_downs, c.appends_sent,      c.appends_received, c.unknown_puts};
  return out;
}

#undef SAKER_ADMIN_CALL

Consumer::Consumer(ConsumerOptions options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

Consumer::~Consumer() { Stop(); }

void Consumer::Start() {
  stopping_ = false;
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { Run(); });
}

void Consumer::Stop() {
  stopping_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

std::chrono::milliseconds Consumer::NackDelay(const ConsumerOptions& options,
                                              int32_t delivery_count) {
  auto delay = options.nack_backoff_min;
  for (int32_t i = 1; i < delivery_count && delay < options.nack_backoff_max; ++i) delay *= 2;
  return std::min(delay, options.nack_backoff_max);
}

void Consumer::Run() {
  Client client(options_.client);
  while (!stopping_) {
    auto got = client.Get(options_.queue, options_.subscription, options_.batch, options_.wait,
                          options_.lease);
    if (!got.ok()) {
      ++errors_;
      std::this_thread::sleep_for(options_.client.reconnect_backoff_min);
      continue;
    }
    for (const Item& item : got.value()) {
      Disposition d = Disposition::kNack;
      try {
        d = handler_(item);
      } catch (const std::exception&) {
        d = Disposition::kNack;
      }
      Result<int> settled =
          d == Disposition::kAck
              ? client.Ack(options_.queue, {item.lease_id}, item.server)
              : client.Nack(options_.queue, {item.lease_id},
                            NackDelay(options_, item.delivery_count), item.server);
      if (!settled.ok()) {
        ++errors_;
      } else if (d == Disposition::kAck) {
        ++acked_;
      } else {
        ++nacked_;
      }
    }
  }
}

}  // namespace saker::client

// ThriftSession: frames in, generated processor, engine calls, frames out in slot order.
// Completions hold a shared_ptr to the session state, which owns the processor, and to the
// output protocol: the generated continuations bind raw pointers to both (std::bind of
// `this` and the TProtocol*), so they must outlive them.
#include "server/net/thrift_session.h"

#include <thrift/TConfiguration.h>
#include <thrift/transport/TBufferTransports.h>

#include <optional>
#include <utility>

#include "Saker.h"
#include "server/common/logging.h"
#include "server/net/parked_gets.h"
#include "server/net/thrift_args.h"
#include "server/net/thrift_codec.h"
#include "server/net/thrift_frame.h"
#include "server/net/thrift_hot.h"

namespace saker::net {
namespace {

using apache::thrift::TDelayedException;
using apache::thrift::transport::TMemoryBuffer;
using ExnCob = std::function<void(TDelayedException*)>;

constexpr uint32_t kReplyBufferBytes = 256;  // grows by doubling when a reply needs more

// Reply buffers only read their configuration's defaults: one shared instance saves the two
// allocations a TTransport otherwise makes for its own on every request.
const std::shared_ptr<apache::thrift::TConfiguration>& OutputConfig() {
  static const auto config = std::make_shared<apache::thrift::TConfiguration>();
  return config;
}

auto& Log() {
  static auto& log = logging::Get("net");
  return log;
}

api::SakerError ToError(const Status& s) {
  api::SakerError e;
  e.code = static_cast<int32_t>(s.code());
  e.message = std::string(s.message());
  return e;
}

void Throw(const ExnCob& exn_cob, const Status& s) {
  exn_cob(TDelayedException::delayException(ToError(s)));
}

std::string SubName(std::string_view queue, std::string_view sub) {
  std::string name(queue);
  if (!sub.empty()) name.append("+").append(sub);
  return name;
}

// A StartPosition that CheckStartArg accepted.
queue::StartPosition ToStart(const api::StartPosition& p) {
  switch (p.kind) {
    case api::StartKind::EARLIEST:
      return queue::StartPosition::Earliest();
    case api::StartKind::OFFSET:
      return queue::StartPosition::Offset(static_cast<uint64_t>(p.value));
    case api::StartKind::TIMESTAMP:
      return queue::StartPosition::Timestamp(p.value);
    default:
      return queue::StartPosition::Latest();
  }
}

api::SubscriptionInfo ToInfo(const queue::SubscriptionStats& s) {
  api::SubscriptionInfo i;
  i.name = s.name;
  i.ack_floor = static_cast<int64_t>(s.ack_floor);
  i.lag = static_cast<int64_t>(s.depth);
  i.lag_ms = s.oldest_age_ms;
  i.leased = static_cast<int64_t>(s.leased);
  i.waiters = static_cast<int32_t>(s.waiters);
  i.delivered = static_cast<int64_t>(s.delivered);
  i.redelivered = static_cast<int64_t>(s.redelivered);
  i.acked = static_cast<int64_t>(s.acked);
  i.expired = static_cast<int64_t>(s.expired);
  i.dead_lettered = static_cast<int64_t>(s.dead_lettered);
  i.aborted = static_cast<int64_t>(s.aborted);
  i.dropped = static_cast<int64_t>(s.dropped);
  i.items = static_cast<int64_t>(s.items);
  i.bytes = static_cast<int64_t>(s.bytes);
  return i;
}

// Runs `change(durable)`, an engine call that returns how many leases it changed at once, and
// calls `answer(count, status)` once the change is durable (docs/SEMANTICS.md: an answered ack is
// final).
template <typename Change, typename Answer>
void CountWhenDurable(Change change, Answer answer) {
  auto count = std::make_shared<int32_t>(0);
  *count = static_cast<int32_t>(
      change([count, answer = std::move(answer)](Status s) { answer(*count, std::move(s)); }));
}

// Counts a finished put alike on the generated and the hand-decoded path.
void CountPut(Context* ctx, int64_t start_us, uint32_t accepted) {
  ctx->counters()->put_latency.Record(static_cast<uint64_t>(MonotonicMicros() - start_us));
  ctx->counters()->total_items += accepted;
}

}  // namespace

struct ThriftSession::State : std::enable_shared_from_this<ThriftSession::State> {
  explicit State(Context* c) : ctx(c) {}
  Context* ctx;
  std::weak_ptr<Connection> conn;
  bool closed = false;
  ParkedGets parked;
  std::shared_ptr<api::SakerAsyncProcessor> processor;
  int64_t request_start_us = 0;  // of the frame being dispatched
  // Kestrel's methods declare no exceptions: one that fails sets this just before it answers
  // through the generated continuation, which then sends a TApplicationException instead.
  std::optional<Status> kestrel_error;
};

namespace {

// Answers a Kestrel method through `answer` (its generated continuation), as a
// TApplicationException if `s` is an error.
template <typename Answer>
void AnswerKestrel(ThriftSession::State* state, Status s, Answer answer) {
  if (!s.ok()) {
    static logging::RateLimit limit(std::chrono::seconds(10));
    if (uint64_t skipped = 0; limit.Allow(&skipped)) {
      Log().warn("thrift: cursor change failed: {} ({} more since)", s.ToString(), skipped);
    }
    state->kestrel_error = std::move(s);
  }
  answer();
}

// The answer of a native ack or nack: the count, or SakerError if the change failed.
auto NativeCountAnswer(std::shared_ptr<ThriftSession::State> state,
                       std::function<void(int32_t const&)> cob, ExnCob exn_cob) {
  return [state = std::move(state), cob = std::move(cob), exn_cob = std::move(exn_cob)](
             int32_t n, const Status& s) { s.ok() ? cob(n) : Throw(exn_cob, s); };
}

// Starts a get that a disconnect cancels, counted alike on the generated and hand-decoded path.
void StartGet(ThriftSession::State* state, std::string_view name, const queue::GetOptions& options,
              queue::GetDone done) {
  int64_t start_us = state->request_start_us;
  admin::ServerCounters* c = state->ctx->counters();
  state->parked.Start(
      state->ctx->engine(), name, options,
      [c, start_us, done = std::move(done)](Result<std::vector<queue::Delivery>> r) {
        if (r.ok() && !r->empty()) {
          c->get_hits++;
          c->get_latency.Record(static_cast<uint64_t>(MonotonicMicros() - start_us));
        } else {
          c->get_misses++;
        }
        done(std::move(r));
      });
}

}  // namespace

// The service: every method translates arguments, calls the engine, and answers through the
// continuation. Kestrel's methods have no exceptions: a refused put or get answers 0 / empty (and
// is logged at debug), as Kestrel clients expect; a refused flush or delete, which has no count
// to say so, answers a TApplicationException rather than a false success.
class Service final : public api::SakerCobSvIf {
 public:
  explicit Service(ThriftSession::State* state) : state_(state) {}

  void put(std::function<void(int32_t const&)> cob, const std::string& queue_name,
           const std::vector<std::string>& items, const int32_t expiration_msec) override;
  void get(std::function<void(std::vector<kestrel::Item> const&)> cob,
           const std::string& queue_name, const int32_t max_items, const int32_t timeout_msec,
           const int32_t auto_abort_msec) override;
  void confirm(std::function<void(int32_t const&)> cob, const std::string& queue_name,
               const std::set<int64_t>& ids) override;
  void abort(std::function<void(int32_t const&)> cob, const std::string& queue_name,
             const std::set<int64_t>& ids) override;
  void peek(std::function<void(kestrel::QueueInfo const&)> cob,
            const std::string& queue_name) override;
  void flush_queue(std::function<void()> cob, const std::string& queue_name) override;
  void flush_all_queues(std::function<void()> cob) override;
  void delete_queue(std::function<void()> cob, const std::string& queue_name) override;
  void current_status(std::function<void(kestrel::Status::type const&)> cob) override;
  void set_status(std::function<void()> cob, const kestrel::Status::type status) override;
  void get_version(std::function<void(std::string const&)> cob) override;

  void put_items(std::function<void(api::PutResult const&)> cob, ExnCob exn_cob,
                 const std::string& queue, const std::vector<api::PutItem>& items) override;
  void get_items(std::function<void(std::vector<api::LeasedItem> const&)> cob, ExnCob exn_cob,
                 const std::string& queue, const std::string& subscription, const int32_t max_items,
                 const int32_t wait_ms, const int32_t lease_ms) override;
  void ack(std::function<void(int32_t const&)> cob, ExnCob exn_cob, const std::string& queue,
           const std::vector<int64_t>& lease_ids) override;
  void nack(std::function<void(int32_t const&)> cob, ExnCob exn_cob, const std::string& queue,
            const std::vector<int64_t>& lease_ids, const int32_t delay_ms) override;
  void extend_leases(std::function<void(int32_t const&)> cob, ExnCob exn_cob,
                     const std::string& queue, const std::vector<int64_t>& lease_ids,
                     const int32_t lease_ms) override;
  void create_subscription(std::function<void()> cob, ExnCob exn_cob, const std::string& queue,
                           const std::string& subscription,
                           const api::StartPosition& start) override;
  void seek_subscription(std::function<void()> cob, ExnCob exn_cob, const std::string& queue,
                         const std::string& subscription,
                         const api::StartPosition& position) override;
  void list_subscriptions(std::function<void(std::vector<api::SubscriptionInfo> const&)> cob,
                          ExnCob exn_cob, const std::string& queue) override;
  void delete_subscription(std::function<void()> cob, ExnCob exn_cob, const std::string& queue,
                           const std::string& subscription) override;
  void queue_info(std::function<void(api::QueueDetails const&)> cob, ExnCob exn_cob,
                  const std::string& queue) override;
  void queue_config(std::function<void(api::QueueSettings const&)> cob, ExnCob exn_cob,
                    const std::string& queue) override;
  void list_queues(std::function<void(std::vector<std::string> const&)> cob,
                   ExnCob exn_cob) override;
  void repair_queue(std::function<void(api::RepairReport const&)> cob, ExnCob exn_cob,
                    const std::string& queue) override;
  void resume_queue(std::function<void()> cob, ExnCob exn_cob, const std::string& queue) override;

 private:
  queue::QueueManager* engine();
  admin::ServerCounters* counters();
  // The DurableDone of a flush: answers `cob` once the flush is durable.
  queue::DurableDone FlushDone(const std::function<void()>& cob);
  // Answers a void Kestrel method that the engine refused (READONLY, a bad name) with a
  // TApplicationException carrying `s`'s message: its IDL declares no exceptions.
  void Refuse(std::string_view method, Status s, const std::function<void()>& cob);

  ThriftSession::State* state_;
};

queue::QueueManager* Service::engine() { return state_->ctx->engine(); }
admin::ServerCounters* Service::counters() { return state_->ctx->counters(); }

void Service::put(std::function<void(int32_t const&)> cob, const std::string& queue_name,
                  const std::vector<std::string>& items, const int32_t expiration_msec) {
  counters()->cmd_set++;
  int64_t expiry = expiration_msec > 0 ? state_->ctx->clock()->NowWallMs() + expiration_msec : 0;
  std::vector<queue::PutItem> put;
  put.reserve(items.size());
  for (const auto& data : items) put.push_back({data, expiry, {}});
  int64_t start_us = state_->request_start_us;
  auto state = state_->shared_from_this();
  engine()->Put(queue_name, std::move(put),
                [state, start_us, cob = std::move(cob)](Result<queue::PutResult> r) {
                  int32_t accepted = r.ok() ? static_cast<int32_t>(r->accepted) : 0;
                  if (!r.ok()) Log().debug("thrift put refused: {}", r.status().ToString());
                  CountPut(state->ctx, start_us, static_cast<uint32_t>(accepted));
                  cob(accepted);
                });
}

void Service::get(std::function<void(std::vector<kestrel::Item> const&)> cob,
                  const std::string& queue_name, const int32_t max_items,
                  const int32_t timeout_msec, const int32_t auto_abort_msec) {
  counters()->cmd_get++;
  if (max_items <= 0) return cob({});
  queue::GetOptions o;
  o.max_items = static_cast<uint32_t>(max_items);
  o.timeout_ms = std::max<int32_t>(0, timeout_msec);
  o.fill = true;  // Kestrel: wait for max_items or the deadline
  o.reliable = auto_abort_msec > 0;
  o.lease_ms = std::max<int32_t>(0, auto_abort_msec);
  StartGet(state_, queue_name, o,
           [state = state_->shared_from_this(),
            cob = std::move(cob)](Result<std::vector<queue::Delivery>> r) {
             std::vector<kestrel::Item> items;
             if (r.ok()) {
               items.reserve(r->size());
               for (const auto& d : *r) {
                 kestrel::Item item;
                 item.data.assign(d.payload);
                 item.id = static_cast<int64_t>(d.lease_id);
                 items.push_back(std::move(item));
               }
             } else {
               Log().debug("thrift get refused: {}", r.status().ToString());
               // A stopped queue is never answered like an empty one.
               if (r.status().IsCorruption() || r.status().IsIOError())
                 state->kestrel_error = r.status();
             }
             cob(items);
           });
}

void Service::confirm(std::function<void(int32_t const&)> cob, const std::string&,
                      const std::set<int64_t>& ids) {
  std::vector<uint64_t> v(ids.begin(), ids.end());
  CountWhenDurable([&](queue::DurableDone d) { return engine()->Ack(v, std::move(d)); },
                   [state = state_->shared_from_this(), cob = std::move(cob)](int32_t n, Status s) {
                     AnswerKestrel(state.get(), std::move(s), [&] { cob(n); });
                   });
}

void Service::abort(std::function<void(int32_t const&)> cob, const std::string&,
                    const std::set<int64_t>& ids) {
  std::vector<uint64_t> v(ids.begin(), ids.end());
  CountWhenDurable([&](queue::DurableDone d) { return engine()->Abort(v, -1, std::move(d)); },
                   [state = state_->shared_from_this(), cob = std::move(cob)](int32_t n, Status s) {
                     AnswerKestrel(state.get(), std::move(s), [&] { cob(n); });
                   });
}

void Service::peek(std::function<void(kestrel::QueueInfo const&)> cob,
                   const std::string& queue_name) {
  counters()->cmd_peek++;
  queue::GetOptions o;
  o.peek = true;
  auto state = state_->shared_from_this();
  std::string name = queue_name;
  StartGet(state_, name, o,
           [state, name, cob = std::move(cob)](Result<std::vector<queue::Delivery>> r) {
             kestrel::QueueInfo info;
             if (r.ok() && !r->empty()) {
               info.__set_head_item(std::string(r->front().payload));
             }
             auto parsed = queue::ParseQueueName(name);
             auto stats = state->ctx->engine()->GetQueueStats(parsed.ok() ? parsed->queue : name);
             if (stats.ok()) {
               const queue::SubscriptionStats* sub = nullptr;
               for (const auto& s : stats->subscriptions) {
                 if (parsed.ok() && s.name == parsed->subscription) sub = &s;
               }
               info.journal_bytes = static_cast<int64_t>(stats->log_bytes);
               if (sub != nullptr) {
                 // Kestrel's counts: open (leased) items are in open_transactions only.
                 info.items = static_cast<int64_t>(sub->items);
                 info.bytes = static_cast<int64_t>(sub->bytes);
                 info.age = sub->oldest_age_ms;
                 info.waiters = static_cast<int32_t>(sub->waiters);
                 info.open_transactions = static_cast<int32_t>(sub->leased);
               }
             }
             cob(info);
           });
}

void Service::flush_queue(std::function<void()> cob, const std::string& queue_name) {
  Status s = engine()->Flush(queue_name, FlushDone(cob));
  if (!s.ok()) Refuse("flush_queue", s, cob);  // else answered once durable
}

void Service::flush_all_queues(std::function<void()> cob) {
  Status s = engine()->FlushAll(FlushDone(cob));
  if (!s.ok()) Refuse("flush_all_queues", s, cob);
}

void Service::Refuse(std::string_view method, Status s, const std::function<void()>& cob) {
  Log().debug("thrift {} refused: {}", method, s.ToString());
  state_->kestrel_error = std::move(s);
  cob();
}

queue::DurableDone Service::FlushDone(const std::function<void()>& cob) {
  return [state = state_->shared_from_this(), cob](Status s) {
    AnswerKestrel(state.get(), std::move(s), cob);
  };
}

void Service::delete_queue(std::function<void()> cob, const std::string& queue_name) {
  Status s = engine()->DeleteQueue(queue_name, FlushDone(cob));
  if (!s.ok()) return Refuse("delete_queue", std::move(s), cob);
  counters()->queue_deletes++;  // answered once meta.db holds the deletion
}

void Service::current_status(std::function<void(kestrel::Status::type const&)> cob) {
  switch (engine()->status()) {
    case queue::ServerStatus::kUp:
      return cob(kestrel::Status::UP);
    case queue::ServerStatus::kReadOnly:
      return cob(kestrel::Status::READ_ONLY);
    case queue::ServerStatus::kQuiescent:
      return cob(kestrel::Status::QUIESCENT);
  }
  cob(kestrel::Status::NOT_CONFIGURED);
}

void Service::set_status(std::function<void()> cob, const kestrel::Status::type status) {
  switch (status) {
    case kestrel::Status::UP:
      engine()->SetStatus(queue::ServerStatus::kUp);
      break;
    case kestrel::Status::READ_ONLY:
      engine()->SetStatus(queue::ServerStatus::kReadOnly);
      break;
    case kestrel::Status::QUIESCENT:
      engine()->SetStatus(queue::ServerStatus::kQuiescent);
      break;
    default:
      Log().debug("thrift set_status: {} is not a settable status", int(status));
  }
  cob();
}

void Service::get_version(std::function<void(std::string const&)> cob) { cob(SAKER_VERSION); }

void Service::put_items(std::function<void(api::PutResult const&)> cob, ExnCob exn_cob,
                        const std::string& queue, const std::vector<api::PutItem>& items) {
  counters()->cmd_set++;
  Status s = CheckQueueArg("put_items", queue);
  if (s.ok()) s = CheckNotEmpty("put_items", "items", items.size());
  for (size_t i = 0; s.ok() && i < items.size(); ++i) {
    s = CheckRange("put_items", "items[" + std::to_string(i) + "].ttl_ms", items[i].ttl_ms, 0,
                   INT64_MAX);
  }
  if (!s.ok()) return Throw(exn_cob, s);
  int64_t now = state_->ctx->clock()->NowWallMs();
  std::vector<queue::PutItem> put;
  put.reserve(items.size());
  for (const auto& i : items) {
    put.push_back({i.data, i.ttl_ms > 0 ? now + i.ttl_ms : 0, i.__isset.key ? i.key : ""});
  }
  int64_t start_us = state_->request_start_us;
  auto state = state_->shared_from_this();
  engine()->Put(queue, std::move(put),
                [state, start_us, cob = std::move(cob),
                 exn_cob = std::move(exn_cob)](Result<queue::PutResult> r) {
                  CountPut(state->ctx, start_us, r.ok() ? r->accepted : 0);
                  if (!r.ok()) return Throw(exn_cob, r.status());
                  api::PutResult out;
                  out.accepted = static_cast<int32_t>(r->accepted);
                  out.offsets.assign(r->offsets.begin(), r->offsets.end());
                  if (!r->refused.ok()) out.__set_refused(ToError(r->refused));
                  cob(out);
                });
}

void Service::get_items(std::function<void(std::vector<api::LeasedItem> const&)> cob,
                        ExnCob exn_cob, const std::string& queue, const std::string& subscription,
                        const int32_t max_items, const int32_t wait_ms, const int32_t lease_ms) {
  counters()->cmd_get++;
  Status s = CheckQueueArg("get_items", queue);
  if (s.ok()) s = CheckSubscriptionArg("get_items", subscription, true);
  if (s.ok()) s = CheckRange("get_items", "max_items", max_items, 1, INT32_MAX);
  if (s.ok()) s = CheckRange("get_items", "wait_ms", wait_ms, 0, INT32_MAX);
  if (s.ok()) s = CheckRange("get_items", "lease_ms", lease_ms, 0, INT32_MAX);
  if (!s.ok()) return Throw(exn_cob, s);
  queue::GetOptions o;
  o.max_items = static_cast<uint32_t>(max_items);
  o.timeout_ms = wait_ms;
  o.reliable = true;
  o.lease_ms = lease_ms;
  StartGet(
      state_, SubName(queue, subscription), o,
      [cob = std::move(cob), exn_cob = std::move(exn_cob)](Result<std::vector<queue::Delivery>> r) {
        if (!r.ok()) return Throw(exn_cob, r.status());
        std::vector<api::LeasedItem> items;
        items.reserve(r->size());
        for (const auto& d : *r) {
          api::LeasedItem i;
          i.lease_id = static_cast<int64_t>(d.lease_id);
          i.offset = static_cast<int64_t>(d.offset);
          i.delivery_count = static_cast<int32_t>(d.delivery_count);
          i.data.assign(d.payload);
          i.put_at_ms = d.timestamp_ms;
          i.expires_at_ms = d.expiry_ms;
          items.push_back(std::move(i));
        }
        cob(items);
      });
}

void Service::ack(std::function<void(int32_t const&)> cob, ExnCob exn_cob, const std::string& queue,
                  const std::vector<int64_t>& lease_ids) {
  if (Status s = CheckLeaseCall("ack", queue, lease_ids.size()); !s.ok()) {
    return Throw(exn_cob, s);
  }
  std::vector<uint64_t> v(lease_ids.begin(), lease_ids.end());
  CountWhenDurable(
      [&](queue::DurableDone d) { return engine()->Ack(v, std::move(d)); },
      NativeCountAnswer(state_->shared_from_this(), std::move(cob), std::move(exn_cob)));
}

void Service::nack(std::function<void(int32_t const&)> cob, ExnCob exn_cob,
                   const std::string& queue, const std::vector<int64_t>& lease_ids,
                   const int32_t delay_ms) {
  if (Status s = CheckLeaseCall("nack", queue, lease_ids.size()); !s.ok()) {
    return Throw(exn_cob, s);
  }
  std::vector<uint64_t> v(lease_ids.begin(), lease_ids.end());
  CountWhenDurable(
      [&](queue::DurableDone d) { return engine()->Abort(v, delay_ms, std::move(d)); },
      NativeCountAnswer(state_->shared_from_this(), std::move(cob), std::move(exn_cob)));
}

void Service::extend_leases(std::function<void(int32_t const&)> cob, ExnCob exn_cob,
                            const std::string& queue, const std::vector<int64_t>& lease_ids,
                            const int32_t lease_ms) {
  Status s = CheckLeaseCall("extend_leases", queue, lease_ids.size());
  if (s.ok()) s = CheckRange("extend_leases", "lease_ms", lease_ms, 1, INT32_MAX);
  if (!s.ok()) return Throw(exn_cob, s);
  std::vector<uint64_t> v(lease_ids.begin(), lease_ids.end());
  cob(static_cast<int32_t>(engine()->Extend(v, lease_ms)));
}

void Service::create_subscription(std::function<void()> cob, ExnCob exn_cob,
                                  const std::string& queue, const std::string& subscription,
                                  const api::StartPosition& start) {
  Status s = CheckSubscriptionCall("create_subscription", queue, subscription, false, start.kind,
                                   start.value);
  if (s.ok()) s = engine()->CreateSubscription(queue, subscription, ToStart(start));
  if (!s.ok()) return Throw(exn_cob, s);
  cob();
}

void Service::seek_subscription(std::function<void()> cob, ExnCob exn_cob, const std::string& queue,
                                const std::string& subscription,
                                const api::StartPosition& position) {
  Status s = CheckSubscriptionCall("seek_subscription", queue, subscription, true, position.kind,
                                   position.value);
  if (s.ok()) s = engine()->Seek(SubName(queue, subscription), ToStart(position));
  if (!s.ok()) return Throw(exn_cob, s);
  cob();
}

void Service::list_subscriptions(std::function<void(std::vector<api::SubscriptionInfo> const&)> cob,
                                 ExnCob exn_cob, const std::string& queue) {
  if (Status s = CheckQueueArg("list_subscriptions", queue); !s.ok()) return Throw(exn_cob, s);
  auto subs = engine()->ListSubscriptions(queue);
  if (!subs.ok()) return Throw(exn_cob, subs.status());
  std::vector<api::SubscriptionInfo> out;
  for (const auto& s : *subs) out.push_back(ToInfo(s));
  cob(out);
}

void Service::delete_subscription(std::function<void()> cob, ExnCob exn_cob,
                                  const std::string& queue, const std::string& subscription) {
  Status s = CheckQueueArg("delete_subscription", queue);
  if (s.ok()) s = CheckSubscriptionArg("delete_subscription", subscription, false);
  if (s.ok()) s = engine()->DeleteSubscription(queue, subscription);
  if (!s.ok()) return Throw(exn_cob, s);
  cob();
}

void Service::queue_info(std::function<void(api::QueueDetails const&)> cob, ExnCob exn_cob,
                         const std::string& queue) {
  if (Status s = CheckQueueArg("queue_info", queue); !s.ok()) return Throw(exn_cob, s);
  auto stats = engine()->GetQueueStats(queue);
  if (!stats.ok()) return Throw(exn_cob, stats.status());
  api::QueueDetails d;
  d.name = stats->name;
  d.first_offset = static_cast<int64_t>(stats->first_offset);
  d.next_offset = static_cast<int64_t>(stats->next_offset);
  d.items = static_cast<int64_t>(stats->items);
  d.bytes = static_cast<int64_t>(stats->bytes);
  d.log_bytes = static_cast<int64_t>(stats->log_bytes);
  d.put_items = static_cast<int64_t>(stats->put);
  d.put_refused = static_cast<int64_t>(stats->put_refused);
  d.deduplicated = static_cast<int64_t>(stats->deduped);
  d.dropped = static_cast<int64_t>(stats->dropped);
  d.failed = stats->failed;
  d.open_transactions = static_cast<int64_t>(stats->open_transactions);
  d.depth = static_cast<int64_t>(stats->depth);
  d.depth_bytes = static_cast<int64_t>(stats->depth_bytes);
  d.failure_kind = stats->failure_kind;
  d.failure = stats->failure;
  for (const auto& s : stats->subscriptions) d.subscriptions.push_back(ToInfo(s));
  cob(d);
}

void Service::repair_queue(std::function<void(api::RepairReport const&)> cob, ExnCob exn_cob,
                           const std::string& queue) {
  engine()->RepairQueue(queue, [cob, exn_cob](Result<queue::RepairReport> r) {
    if (!r.ok()) return Throw(exn_cob, r.status());
    api::RepairReport out;
    out.batches_kept = static_cast<int64_t>(r->batches_kept);
    for (const auto& [log, cuts] : {std::pair{"items", &r->cuts}, {"cursors", &r->cursor_cuts}}) {
      for (const storage::LogCut& c : *cuts) {
        api::RepairCut w;
        w.log = log;
        w.segment = c.segment;
        w.position = static_cast<int64_t>(c.position);
        w.bytes = static_cast<int64_t>(c.bytes);
        w.first_offset = static_cast<int64_t>(c.first_offset);
        w.end_offset = static_cast<int64_t>(c.end_offset);
        out.cut.push_back(std::move(w));
      }
    }
    cob(out);
  });
}

void Service::resume_queue(std::function<void()> cob, ExnCob exn_cob, const std::string& queue) {
  engine()->ResumeQueue(queue, [cob, exn_cob](Status s) {
    if (!s.ok()) return Throw(exn_cob, s);
    cob();
  });
}

void Service::queue_config(std::function<void(api::QueueSettings const&)> cob, ExnCob exn_cob,
                           const std::string& queue) {
  if (Status s = CheckQueueArg("queue_config", queue); !s.ok()) return Throw(exn_cob, s);
  queue::QueueConfig c = state_->ctx->QueueConfigFor(queue);
  api::QueueSettings s;
  s.max_items = static_cast<int64_t>(c.max_items);
  s.max_bytes = static_cast<int64_t>(c.max_bytes);
  s.max_age_ms = c.max_age_ms;
  s.max_item_size = static_cast<int64_t>(c.max_item_size);
  s.when_full = c.when_full == queue::WhenFull::kDropOldest ? "drop_oldest" : "reject";
  s.sync = c.sync.ToString();
  s.segment_bytes = static_cast<int64_t>(c.segment_bytes);
  s.lease_timeout_ms = c.lease_timeout_ms;
  s.redelivery_delay_ms = c.redelivery_delay_ms;
  s.redelivery_backoff_ms.assign(c.redelivery_backoff_ms.begin(), c.redelivery_backoff_ms.end());
  s.max_deliveries = static_cast<int32_t>(c.max_deliveries);
  s.dlq = c.dlq.empty() ? queue + ".dlq" : c.dlq;
  s.expire_to = c.expire_to;
  s.dedupe_window_ms = c.dedupe_window_ms;
  s.max_unacked = static_cast<int64_t>(c.max_unacked);
  s.retain_age_ms = c.retain_age_ms;
  s.retain_bytes = static_cast<int64_t>(c.retain_bytes);
  cob(s);
}

void Service::list_queues(std::function<void(std::vector<std::string> const&)> cob, ExnCob) {
  cob(engine()->ListQueues());
}

ThriftSession::ThriftSession(Context* ctx)
    : state_(std::make_shared<State>(ctx)), max_frame_bytes_(ctx->limits().max_request_bytes) {
  state_->processor =
      std::make_shared<api::SakerAsyncProcessor>(std::make_shared<Service>(state_.get()));
}

ThriftSession::~ThriftSession() = default;

void ThriftSession::OnData(Connection* conn) {
  if (state_->conn.expired()) state_->conn = conn->shared_from_this();
  while (!conn->closed()) {
    FrameResult frame = NextFrame(conn->input(), max_frame_bytes_);
    if (frame.kind == FrameResult::Kind::kNeedMore) return;
    if (frame.kind == FrameResult::Kind::kError) {
      state_->ctx->counters()->protocol_errors++;
      Log().debug("thrift: {} from {}, closing", frame.error, conn->peer());
      conn->Close();
      return;
    }
    // libthrift reads the message type into an enum before checking it: refuse anything but
    // a call here.
    auto header = ParseMessageHeader(frame.payload);
    if (!header.ok() || (header->type != static_cast<uint8_t>(MessageType::kCall) &&
                         header->type != static_cast<uint8_t>(MessageType::kOneway))) {
      state_->ctx->counters()->protocol_errors++;
      Log().debug("thrift: bad message header from {}, closing", conn->peer());
      conn->Close();
      return;
    }
    // Read-your-writes (connection.h): only puts pipeline behind unanswered calls.
    if (conn->pending_replies() > 0 && header->name != "put" && header->name != "put_items") {
      conn->ResumeWhenIdle();
      return;
    }
    // The generated processor answers even a oneway call to an unknown method: drop that.
    state_->request_start_us = MonotonicMicros();
    if (TryHotCall(conn, *header, frame.payload.substr(header->size))) {
      conn->Consume(frame.consumed);
      continue;
    }
    bool oneway = header->type == static_cast<uint8_t>(MessageType::kOneway);
    if (!oneway) {
      Status bad = CheckNativeArgs(header->name, frame.payload.substr(header->size));
      if (!bad.ok()) {
        state_->ctx->counters()->protocol_errors++;
        Log().debug("thrift from {}: {}", conn->peer(), bad.ToString());
        std::string reply;
        AppendNativeError(&reply, header->name, header->seqid, bad);
        conn->Send(reply);
        conn->Consume(frame.consumed);
        continue;
      }
    }
    Connection::Slot slot = conn->Reserve();
    // The input protocol reads the frame in place, every size bounded by the frame
    // (thrift_codec.h); the processor decodes all arguments before it returns.
    auto in = MakeInputProtocol(frame.payload);
    // Most replies are tens of bytes; TMemoryBuffer's default 1 KiB start is a "large" malloc
    // that makes glibc consolidate its fast bins on every request (seen in perf under W1).
    auto obuf = std::make_shared<TMemoryBuffer>(kReplyBufferBytes, OutputConfig());
    auto out = MakeOutputProtocol(obuf);
    std::weak_ptr<Connection> weak = state_->conn;
    auto state = state_;
    try {
      state_->processor->process(
          [weak, slot, obuf, out, state, oneway, method = std::string(header->name),
           seqid = header->seqid](bool healthy) {
            std::optional<Status> error = std::exchange(state->kestrel_error, std::nullopt);
            auto c = weak.lock();
            if (!c || c->closed()) return;
            if (error && !oneway) {
              std::string reply;
              AppendApplicationException(&reply, method, seqid, error->ToString());
              return c->Reply(slot, reply);
            }
            if (!healthy) {
              state->ctx->counters()->protocol_errors++;
              c->Close();
              return;
            }
            uint8_t* out;
            uint32_t out_len;
            obuf->getBuffer(&out, &out_len);
            if (out_len == 0 || oneway) return c->Skip(slot);
            std::string reply;
            reply.reserve(4 + out_len);
            AppendFrameLength(&reply, out_len);
            reply.append(reinterpret_cast<const char*>(out), out_len);
            c->Reply(slot, reply);
          },
          in, out);
    } catch (const std::exception& e) {
      // Garbage that failed to decode before the processor could answer.
      state_->ctx->counters()->protocol_errors++;
      Log().debug("thrift: bad request from {}: {}", conn->peer(), e.what());
      conn->Close();
      return;
    }
    conn->Consume(frame.consumed);
  }
}

bool ThriftSession::TryHotCall(Connection* conn, const MessageHeader& header,
                               std::string_view args) {
  if (header.type != static_cast<uint8_t>(MessageType::kCall)) return false;
  const std::string_view method = header.name;
  if (method == "put_items" || method == "put") return TryPut(conn, header, args);
  if (method == "get_items") return TryGetItems(conn, header, args);
  if (method != "ack") return false;
  thread_local std::vector<uint64_t> ids;
  if (!DecodeAckArgs(args, &ids)) return false;
  const Connection::Slot slot = conn->Reserve();
  CountWhenDurable(
      [&](queue::DurableDone d) { return state_->ctx->engine()->Ack(ids, std::move(d)); },
      [weak = state_->conn, slot, seqid = header.seqid](int32_t acked, const Status& s) {
        auto c = weak.lock();
        if (!c || c->closed()) return;
        thread_local std::string reply;
        reply.clear();
        AppendAckReply(&reply, seqid, s.ok() ? Result<int32_t>(acked) : Result<int32_t>(s));
        c->Reply(slot, reply);
      });
  return true;
}

bool ThriftSession::TryPut(Connection* conn, const MessageHeader& header, std::string_view args) {
  const bool native = header.name == "put_items";
  Context* ctx = state_->ctx;
  const int64_t now = ctx->clock()->NowWallMs();
  PutCall call;
  if (!(native ? DecodePutItemsArgs(args, now, &call) : DecodeKestrelPutArgs(args, now, &call))) {
    return false;
  }
  ctx->counters()->cmd_set++;
  const Connection::Slot slot = conn->Reserve();
  ctx->engine()->Put(call.queue, std::move(call.items),
                     [ctx, weak = state_->conn, slot, seqid = header.seqid,
                      start_us = state_->request_start_us, native](Result<queue::PutResult> r) {
                       const uint32_t accepted = r.ok() ? r->accepted : 0;
                       CountPut(ctx, start_us, accepted);
                       auto c = weak.lock();
                       if (!c || c->closed()) return;
                       // Loop thread only: one buffer serves every reply (Reply copies it).
                       thread_local std::string reply;
                       reply.clear();
                       if (native) {
                         AppendPutItemsReply(&reply, seqid, r);
                       } else {
                         if (!r.ok()) Log().debug("thrift put refused: {}", r.status().ToString());
                         AppendI32Reply(&reply, "put", seqid, static_cast<int32_t>(accepted));
                       }
                       c->Reply(slot, reply);
                     });
  return true;
}

bool ThriftSession::TryGetItems(Connection* conn, const MessageHeader& header,
                                std::string_view args) {
  GetItemsCall call;
  if (!DecodeGetItemsArgs(args, &call)) return false;
  state_->ctx->counters()->cmd_get++;
  queue::GetOptions o;
  o.max_items = static_cast<uint32_t>(call.max_items);
  o.timeout_ms = call.wait_ms;
  o.reliable = true;
  o.lease_ms = call.lease_ms;
  const Connection::Slot slot = conn->Reserve();
  StartGet(
      state_.get(), SubName(call.queue, call.subscription), o,
      [weak = state_->conn, slot, seqid = header.seqid](Result<std::vector<queue::Delivery>> r) {
        auto c = weak.lock();
        if (!c || c->closed()) return;
        thread_local std::string reply;
        reply.clear();
        AppendGetItemsReply(&reply, seqid, r);
        c->Reply(slot, reply);
      });
  return true;
}

void ThriftSession::OnClose(Connection*) {
  state_->closed = true;
  state_->parked.CancelAll(state_->ctx->engine());
}

}  // namespace saker::net

// The Thrift port's service: every Kestrel and native method of thrift/saker.thrift, translated
// to engine calls and answered through the generated continuations (cob_style). Calls that
// thrift_hot.h decodes by hand skip this for their well-formed requests.
#include "server/net/thrift_service.h"

#include <utility>

#include "server/common/logging.h"
#include "server/net/thrift_args.h"

namespace saker::net {
namespace {

using apache::thrift::TDelayedException;
using ExnCob = std::function<void(TDelayedException*)>;

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

}  // namespace

// Counts a finished put alike on the generated and the hand-decoded path.
void CountPut(Context* ctx, int64_t start_us, uint32_t accepted) {
  ctx->counters()->put_latency.Record(static_cast<uint64_t>(MonotonicMicros() - start_us));
  ctx->counters()->total_items += accepted;
}

std::string SubName(std::string_view queue, std::string_view sub) {
  std::string name(queue);
  if (!sub.empty()) name.append("+").append(sub);
  return name;
}

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

namespace {

// The service: every method translates arguments, calls the engine, and answers through the
// continuation. Kestrel's methods have no exceptions: a refused put or get answers 0 / empty (and
// is logged at debug), as Kestrel clients expect; a refused flush or delete, which has no count
// to say so, answers a TApplicationException rather than a false success, and so do a confirm,
// abort or peek naming a queue this node does not serve (their counts would read as "nothing
// there"). Native methods naming a queue are admitted by the engine, or here for the calls by
// lease id, and throw its refusal.
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
  void cluster_status(std::function<void(api::ClusterStatus const&)> cob, ExnCob exn_cob) override;

 private:
  queue::QueueManager* engine();
  admin::ServerCounters* counters();
  // The DurableDone of a flush: answers `cob` once the flush is durable.
  queue::DurableDone FlushDone(const std::function<void()>& cob);
  // Answers a Kestrel method that the engine refused (READONLY, a bad name, a queue another
  // node leads) with a TApplicationException carrying `s`'s message: its IDL declares no
  // exceptions. `cob` completes the call; what it writes is not sent.
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

void Service::confirm(std::function<void(int32_t const&)> cob, const std::string& queue_name,
                      const std::set<int64_t>& ids) {
  if (Status s = engine()->Admit(queue_name); !s.ok()) return Refuse("confirm", s, [&] { cob(0); });
  std::vector<uint64_t> v(ids.begin(), ids.end());
  CountWhenDurable([&](queue::DurableDone d) { return engine()->Ack(v, std::move(d)); },
                   [state = state_->shared_from_this(), cob = std::move(cob)](int32_t n, Status s) {
                     AnswerKestrel(state.get(), std::move(s), [&] { cob(n); });
                   });
}

void Service::abort(std::function<void(int32_t const&)> cob, const std::string& queue_name,
                    const std::set<int64_t>& ids) {
  if (Status s = engine()->Admit(queue_name); !s.ok()) return Refuse("abort", s, [&] { cob(0); });
  std::vector<uint64_t> v(ids.begin(), ids.end());
  CountWhenDurable([&](queue::DurableDone d) { return engine()->Abort(v, -1, std::move(d)); },
                   [state = state_->shared_from_this(), cob = std::move(cob)](int32_t n, Status s) {
                     AnswerKestrel(state.get(), std::move(s), [&] { cob(n); });
                   });
}

void Service::peek(std::function<void(kestrel::QueueInfo const&)> cob,
                   const std::string& queue_name) {
  counters()->cmd_peek++;
  if (Status s = engine()->Admit(queue_name); !s.ok()) {
    return Refuse("peek", s, [&] { cob(kestrel::QueueInfo()); });
  }
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
  Status s = CheckLeaseCall("ack", queue, lease_ids.size());
  if (s.ok()) s = engine()->Admit(queue);
  if (!s.ok()) return Throw(exn_cob, s);
  std::vector<uint64_t> v(lease_ids.begin(), lease_ids.end());
  CountWhenDurable(
      [&](queue::DurableDone d) { return engine()->Ack(v, std::move(d)); },
      NativeCountAnswer(state_->shared_from_this(), std::move(cob), std::move(exn_cob)));
}

void Service::nack(std::function<void(int32_t const&)> cob, ExnCob exn_cob,
                   const std::string& queue, const std::vector<int64_t>& lease_ids,
                   const int32_t delay_ms) {
  Status s = CheckLeaseCall("nack", queue, lease_ids.size());
  if (s.ok()) s = engine()->Admit(queue);
  if (!s.ok()) return Throw(exn_cob, s);
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
  if (s.ok()) s = engine()->Admit(queue);
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

void Service::cluster_status(std::function<void(api::ClusterStatus const&)> cob, ExnCob exn_cob) {
  std::optional<admin::ClusterView> view = state_->ctx->Snapshot().cluster;
  if (!view) {
    return Throw(exn_cob, Status::NotFound("not a cluster: sakerd runs without --zookeeper"));
  }
  api::ClusterStatus out;
  out.node_id = view->node_id;
  out.zookeeper_connected = view->zk_connected;
  out.zookeeper = view->zookeeper;
  for (const admin::ClusterNode& n : view->nodes) {
    api::ClusterNodeStatus w;
    w.id = n.id;
    w.host = n.host;
    w.replication_port = n.replication;
    w.thrift_port = n.thrift;
    w.memcache_port = n.memcache;
    w.text_port = n.text;
    w.admin_port = n.admin;
    w.append_rtt_us = n.append_rtt_us;
    out.nodes.push_back(std::move(w));
  }
  for (const admin::ClusterQueue& q : view->queues) {
    api::ClusterQueueStatus w;
    w.name = q.name;
    w.leader = q.leader;
    w.epoch = static_cast<int64_t>(q.epoch);
    w.replicas.assign(q.replicas.begin(), q.replicas.end());
    w.ack_quorum = static_cast<int32_t>(q.ack_quorum);
    w.role = q.role;
    w.commit_end = static_cast<int64_t>(q.commit_end);
    w.log_end = static_cast<int64_t>(q.log_end);
    for (const admin::ClusterFollower& f : q.followers) {
      api::ClusterFollowerStatus fw;
      fw.node = f.node;
      fw.durable_end = static_cast<int64_t>(f.durable_end);
      fw.lag = static_cast<int64_t>(f.lag);
      fw.synced = f.synced;
      w.followers.push_back(fw);
    }
    out.queues.push_back(std::move(w));
  }
  const admin::ClusterCounters& c = view->counters;
  out.counters.takeovers = static_cast<int64_t>(c.takeovers);
  out.counters.takeover_failures = static_cast<int64_t>(c.takeover_failures);
  out.counters.fences_received = static_cast<int64_t>(c.fences_received);
  out.counters.fenced_rejections = static_cast<int64_t>(c.fenced_rejections);
  out.counters.step_downs = static_cast<int64_t>(c.step_downs);
  out.counters.appends_sent = static_cast<int64_t>(c.appends_sent);
  out.counters.appends_received = static_cast<int64_t>(c.appends_received);
  out.counters.unknown_puts = static_cast<int64_t>(c.unknown_puts);
  cob(out);
}

}  // namespace

std::shared_ptr<api::SakerCobSvIf> MakeThriftService(ThriftSession::State* state) {
  return std::make_shared<Service>(state);
}

}  // namespace saker::net

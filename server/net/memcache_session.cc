// MemcacheSession: Kestrel's memcache commands mapped onto the queue engine. Immediate replies
// are encoded straight into the connection's output; replies that wait (a set until its item is
// durable, a get until an item or the timeout, a /close, /abort, confirm or flush until the
// cursor change is durable: DurableReply) fill a slot reserved at request time. A request for a
// queue this node does not serve (another node leads it, or none yet) answers SERVER_ERROR with
// the engine's message and closes, as a refused set does (docs/PROTOCOL.md, Clusters).
#include "server/net/memcache_session.h"

#include "server/common/logging.h"
#include "server/net/durable_reply.h"
#include "server/net/parked_gets.h"

namespace saker::net {
namespace {

auto& Log() {
  static auto& log = logging::Get("net");
  return log;
}

// Encodes an immediate reply: into the output buffer when nothing is pending before it,
// otherwise through a slot.
template <typename Fn>
void Immediate(Connection* conn, Fn&& encode) {
  if (conn->CanWriteDirect()) {
    encode(conn->direct_output());
  } else {
    std::string out;
    encode(&out);
    conn->Send(out);
  }
}

void ServerError(Connection* conn, std::string_view why) {
  Immediate(conn, [&](std::string* out) { memcache::AppendServerError(out, why); });
  conn->CloseAfterWrite();
}

// Refusals a client answers by going elsewhere or later: the server status (READONLY,
// QUIESCENT) and the cluster (NotLeader names the leader; Unavailable while there is none).
bool Refused(const Status& s) { return s.IsUnavailable() || s.code() == StatusCode::kNotLeader; }

// SERVER_ERROR <why> into `reply`'s slot, then close.
void RefuseDurable(const DurableReply& reply, const Status& s) {
  std::string out;
  memcache::AppendServerError(&out, s.message());
  reply.SendNow(std::move(out), true);
}

// A failed cursor change (the queue went fail-stop): SERVER_ERROR, and DurableReply closes.
void DurableError(const Status& s, std::string* out) {
  memcache::AppendServerError(out, s.message());
}

std::string Encoded(void (*encode)(std::string*)) {
  std::string out;
  encode(&out);
  return out;
}

}  // namespace

struct MemcacheSession::State {
  explicit State(Context* c) : ctx(c) {}
  Context* ctx;
  ParkedGets parked;
};

MemcacheSession::MemcacheSession(Context* ctx) : state_(std::make_shared<State>(ctx)) {
  const ConnectionLimits& l = ctx->limits();
  parser_ = memcache::Parser({l.max_request_bytes, l.max_item_size});
}

MemcacheSession::~MemcacheSession() = default;

void MemcacheSession::OnData(Connection* conn) {
  while (!conn->closed()) {
    memcache::ParseResult r = parser_.Parse(conn->input());
    if (r.kind == memcache::ParseResult::Kind::kRequest) {
      if (r.request.command != memcache::Command::kSet && conn->pending_replies() > 0) {
        conn->ResumeWhenIdle();  // read-your-writes: wait for earlier sets (connection.h)
        return;
      }
      Serve(conn, r.request);
    } else if (r.kind == memcache::ParseResult::Kind::kError) {
      state_->ctx->counters()->protocol_errors++;
      Log().debug("memcache {}: {}", conn->peer(), r.error.reason);
      Immediate(conn, [&](std::string* out) { memcache::AppendProtocolError(out, r.error); });
      if (r.error.close) conn->CloseAfterWrite();
    }
    if (r.kind == memcache::ParseResult::Kind::kNeedMore) {
      // Bytes of a skipped data block: the refused set is over once the parser stops skipping.
      parser_.skipping() ? conn->ConsumePartial(r.consumed) : conn->Consume(r.consumed);
      return;
    }
    conn->Consume(r.consumed);
  }
}

void MemcacheSession::OnClose(Connection* conn) {
  queue::QueueManager* engine = state_->ctx->engine();
  state_->parked.CancelAll(engine);
  // Kestrel: a connection's open reads go back to the queue when it closes.
  engine->ReleaseOwner(conn->id());
}

void MemcacheSession::Serve(Connection* conn, const memcache::Request& req) {
  using memcache::Command;
  Context* ctx = state_->ctx;
  queue::QueueManager* engine = ctx->engine();
  admin::ServerCounters* counters = ctx->counters();
  switch (req.command) {
    case Command::kGet:
      return Get(conn, req);
    case Command::kMonitor:
      return Monitor(conn, req);
    case Command::kSet: {
      counters->cmd_set++;
      std::vector<queue::PutItem> items(1);
      items[0].payload.assign(req.data);
      items[0].expiry_ms = memcache::ExpiryFromExptime(req.exptime, ctx->clock()->NowWallMs());
      Connection::Slot slot = conn->Reserve();
      std::weak_ptr<Connection> weak = conn->shared_from_this();
      int64_t start_us = MonotonicMicros();
      engine->Put(req.queue, std::move(items),
                  [weak, slot, start_us, ctx](Result<queue::PutResult> r) {
                    ctx->counters()->put_latency.Record(
                        static_cast<uint64_t>(MonotonicMicros() - start_us));
                    auto c = weak.lock();
                    if (!c) return;
                    std::string out;
                    if (r.ok() && r->accepted == 1) {
                      ctx->counters()->total_items++;
                      memcache::AppendStored(&out);
                    } else if (r.ok()) {
                      memcache::AppendNotStored(&out);  // full or too big
                    } else if (r.status().IsInvalidArgument()) {
                      memcache::AppendClientError(&out, r.status().message());
                    } else {
                      // Refused by status, or the queue is fail-stop: clients retry elsewhere.
                      memcache::AppendServerError(&out, r.status().message());
                      c->Reply(slot, out);
                      c->CloseAfterWrite();
                      return;
                    }
                    c->Reply(slot, out);
                  });
      return;
    }
    case Command::kDelete: {
      // DELETED goes out once meta.db holds the deletion.
      DurableReply reply(conn, DurableError);
      Status s = engine->DeleteQueue(req.queue, reply.Durable());
      if (Refused(s)) return RefuseDurable(reply, s);
      std::string out = Encoded(memcache::AppendDeleted);
      if (!s.ok()) return reply.SendNow(std::move(out));
      counters->queue_deletes++;
      return reply.Set(std::move(out));
    }
    case Command::kFlush:
    case Command::kFlushAll: {
      const bool all = req.command == Command::kFlushAll;
      DurableReply reply(conn, DurableError);
      Status s =
          all ? engine->FlushAll(reply.Durable()) : engine->Flush(req.queue, reply.Durable());
      if (Refused(s)) return RefuseDurable(reply, s);
      std::string out = Encoded(all ? memcache::AppendFlushedAll : memcache::AppendEnd);
      // A bad name flushes nothing and still answers as Kestrel does.
      return s.ok() ? reply.Set(std::move(out)) : reply.SendNow(std::move(out));
    }
    case Command::kFlushExpired:
    case Command::kFlushAllExpired: {
      auto n = req.command == Command::kFlushExpired ? engine->FlushExpired(req.queue)
                                                     : engine->FlushAllExpired();
      if (!n.ok() && Refused(n.status())) return ServerError(conn, n.status().message());
      uint64_t count = n.ok() ? *n : 0;
      return Immediate(conn, [&](std::string* out) { memcache::AppendCount(out, count); });
    }
    case Command::kVersion:
      return Immediate(conn, [](std::string* out) { memcache::AppendVersion(out, SAKER_VERSION); });
    case Command::kStats: {
      std::string text = admin::KestrelStats(ctx->Snapshot());
      return Immediate(conn, [&](std::string* out) { out->append(text); });
    }
    case Command::kDumpStats: {
      std::vector<std::string> only;
      std::string_view args = req.args;
      while (!args.empty()) {
        size_t sp = args.find(' ');
        if (sp != 0) only.emplace_back(args.substr(0, sp));
        if (sp == std::string_view::npos) break;
        args.remove_prefix(sp + 1);
      }
      std::string text = admin::KestrelDumpStats(ctx->Snapshot(), only);
      return Immediate(conn, [&](std::string* out) { out->append(text); });
    }
    case Command::kConfirm: {
      if (req.count < 0)
        return Immediate(conn, [](std::string* out) { memcache::AppendError(out); });
      DurableReply reply(conn, DurableError);
      Result<bool> ok = engine->ConfirmCount(conn->id(), req.queue, static_cast<size_t>(req.count),
                                             reply.Durable());
      if (!ok.ok()) return RefuseDurable(reply, ok.status());
      return reply.Set(Encoded(*ok ? memcache::AppendEnd : memcache::AppendError));
    }
    case Command::kStatus: {
      if (!req.status) {
        std::string_view name = queue::ServerStatusName(engine->status());
        return Immediate(conn, [&](std::string* out) { memcache::AppendStatus(out, name); });
      }
      engine->SetStatus(*req.status);
      return Immediate(conn, [](std::string* out) { memcache::AppendEnd(out); });
    }
    case Command::kReload: {
      Status s = ctx->Reload();
      if (!s.ok()) {
        Log().error("reload: {}", s.ToString());
        return Immediate(conn,
                         [&](std::string* out) { memcache::AppendServerError(out, s.message()); });
      }
      return Immediate(conn, [](std::string* out) { memcache::AppendReloaded(out); });
    }
    case Command::kShutdown:
      conn->CloseAfterWrite();
      ctx->Shutdown();
      return;
    case Command::kQuit:
      conn->CloseAfterWrite();
      return;
  }
}

void MemcacheSession::Get(Connection* conn, const memcache::Request& req) {
  Context* ctx = state_->ctx;
  queue::QueueManager* engine = ctx->engine();
  admin::ServerCounters* counters = ctx->counters();
  const memcache::GetOptions& g = req.get;
  uint64_t owner = conn->id();
  if (g.peek) {
    counters->cmd_peek++;
  } else {
    counters->cmd_get++;
  }
  if (auto name = queue::ParseQueueName(req.queue); !name.ok()) {
    counters->protocol_errors++;
    Immediate(conn,
              [&](std::string* out) { memcache::AppendClientError(out, name.status().message()); });
    return;
  }
  if (engine->status() == queue::ServerStatus::kQuiescent && !g.abort && !(g.close && !g.open)) {
    return ServerError(conn, "server is quiescent");
  }
  // The reply goes out once this request's cursor change (abort, close) is durable and, for
  // an open or plain get, once the get is done.
  DurableReply reply(conn, DurableError);
  if (g.abort) {
    Result<bool> aborted = engine->AbortOldest(owner, req.queue, reply.Durable());
    if (!aborted.ok()) return RefuseDurable(reply, aborted.status());
    return reply.Set(Encoded(memcache::AppendEnd));
  }
  if (g.close) {
    Result<bool> closed = engine->ConfirmOldest(owner, req.queue, reply.Durable());
    if (!closed.ok()) return RefuseDurable(reply, closed.status());
  } else {
    reply.Durable()(Status::OK());  // nothing to wait for but the get
  }
  if (g.close && !g.open) return reply.Set(Encoded(memcache::AppendEnd));
  size_t open_reads = engine->OwnerLeaseCount(owner, req.queue);
  if ((!g.open && !g.peek && open_reads > 0) ||
      (g.open && open_reads >= ctx->limits().max_open_reads)) {
    // Kestrel: a plain get with a read open, or one open read too many: ERROR and close.
    return reply.Set(Encoded(memcache::AppendError), true);
  }
  queue::GetOptions o;
  o.max_items = 1;
  o.timeout_ms = g.timeout_ms;
  o.peek = g.peek;
  o.reliable = g.open;
  o.owner = g.open ? owner : 0;
  std::string queue_name(req.queue);
  // Kestrel's VALUE line names the bare queue (subscription included, options stripped).
  int64_t start_us = MonotonicMicros();
  state_->parked.Start(
      engine, queue_name, o,
      [reply, queue_name, ctx, start_us](Result<std::vector<queue::Delivery>> r) {
        admin::ServerCounters* c = ctx->counters();
        std::string out;
        if (r.ok() && !r->empty()) {
          c->get_hits++;
          c->get_latency.Record(static_cast<uint64_t>(MonotonicMicros() - start_us));
          memcache::AppendValue(&out, queue_name, r->front().payload);
        } else if (r.ok() || r.status().IsNotFound()) {
          c->get_misses++;
          memcache::AppendEnd(&out);
        } else {
          memcache::AppendServerError(&out, r.status().message());
          return reply.Set(std::move(out), true);
        }
        reply.Set(std::move(out));
      });
}

void MemcacheSession::Monitor(Connection* conn, const memcache::Request& req) {
  Context* ctx = state_->ctx;
  queue::QueueManager* engine = ctx->engine();
  ctx->counters()->cmd_monitor++;
  uint64_t owner = conn->id();
  size_t open = engine->OwnerLeaseCount(owner, req.queue);
  size_t room = ctx->limits().max_open_reads > open ? ctx->limits().max_open_reads - open : 0;
  size_t want =
      req.max_items >= 0 ? std::min<size_t>(room, static_cast<size_t>(req.max_items)) : room;
  if (want == 0 || req.seconds <= 0 || !queue::ParseQueueName(req.queue).ok()) {
    return Immediate(conn, [](std::string* out) { memcache::AppendEnd(out); });
  }
  // Asked here, not left to the get: a monitor answers END for every refused get (a QUIESCENT
  // server), which would read as "nothing arrived" from a node that does not serve the queue.
  if (Status s = engine->Admit(req.queue); !s.ok()) return ServerError(conn, s.message());
  queue::GetOptions o;
  o.max_items = static_cast<uint32_t>(want);
  o.timeout_ms = static_cast<int64_t>(req.seconds) * 1000;
  o.fill = true;  // every item that arrives before the deadline, up to max-items
  o.reliable = true;
  o.owner = owner;
  Connection::Slot slot = conn->Reserve();
  std::weak_ptr<Connection> weak = conn->shared_from_this();
  std::string queue_name(req.queue);
  state_->parked.Start(engine, queue_name, o,
                       [weak, slot, queue_name](Result<std::vector<queue::Delivery>> r) {
                         auto conn = weak.lock();
                         if (!conn) return;
                         std::string out;
                         if (r.ok()) {
                           for (const auto& d : *r)
                             memcache::AppendValue(&out, queue_name, d.payload);
                         }
                         memcache::AppendEnd(&out);
                         conn->Reply(slot, out);
                       });
}

}  // namespace saker::net

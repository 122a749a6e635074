// TextSession: Kestrel's text commands mapped onto the queue engine. Puts answer once durable,
// and confirms, flushes and the confirms a get or peek starts with once the cursor change is
// durable (DurableReply). A request for a queue this node does not serve (another node leads it,
// or none yet) answers `-<message>` with the engine's refusal (docs/PROTOCOL.md, Clusters).
#include "server/net/text_session.h"

#include "server/common/logging.h"
#include "server/net/durable_reply.h"
#include "server/net/parked_gets.h"

namespace saker::net {
namespace {

auto& Log() {
  static auto& log = logging::Get("net");
  return log;
}

void Send(Connection* conn, const std::string& out) { conn->Send(out); }

// A failed cursor change (the queue went fail-stop): an error line, and DurableReply closes.
void DurableError(const Status& s, std::string* out) { text::AppendError(out, s.message()); }

}  // namespace

struct TextSession::State {
  explicit State(Context* c) : ctx(c) {}
  Context* ctx;
  ParkedGets parked;
};

TextSession::TextSession(Context* ctx) : state_(std::make_shared<State>(ctx)) {
  const ConnectionLimits& l = ctx->limits();
  parser_ = text::Parser({l.max_request_bytes, l.max_item_size});
}

TextSession::~TextSession() = default;

void TextSession::OnData(Connection* conn) {
  while (!conn->closed()) {
    text::ParseResult r = parser_.Parse(conn->input());
    if (r.kind == text::ParseResult::Kind::kRequest) {
      if (r.request.command != text::Command::kPut && conn->pending_replies() > 0) {
        conn->ResumeWhenIdle();  // read-your-writes: wait for earlier puts (connection.h)
        return;
      }
      Serve(conn, r.request);
    } else if (r.kind == text::ParseResult::Kind::kError) {
      state_->ctx->counters()->protocol_errors++;
      std::string out;
      text::AppendProtocolError(&out, r.error);
      Send(conn, out);
      if (r.error.close) conn->CloseAfterWrite();
    }
    conn->Consume(r.consumed);
    if (r.kind == text::ParseResult::Kind::kNeedMore) return;
  }
}

void TextSession::OnClose(Connection* conn) {
  queue::QueueManager* engine = state_->ctx->engine();
  state_->parked.CancelAll(engine);
  engine->ReleaseOwner(conn->id());
}

void TextSession::Serve(Connection* conn, const text::Request& req) {
  using text::Command;
  Context* ctx = state_->ctx;
  queue::QueueManager* engine = ctx->engine();
  std::string out;
  uint64_t owner = conn->id();
  bool takes_queue = req.command != Command::kStatus && req.command != Command::kVersion &&
                     req.command != Command::kShutdown && req.command != Command::kQuit;
  if (takes_queue && !queue::ParseQueueName(req.queue).ok()) {
    ctx->counters()->protocol_errors++;
    text::AppendError(&out, "Bad queue name.");
    return Send(conn, out);
  }
  switch (req.command) {
    case Command::kPut: {
      ctx->counters()->cmd_set++;
      int64_t expiry =
          req.has_expiry && req.expiry_ms > 0 ? ctx->clock()->NowWallMs() + req.expiry_ms : 0;
      std::vector<queue::PutItem> items;
      items.reserve(req.item_count);
      text::ForEachItem(req.items, [&](std::string_view item) {
        items.push_back({std::string(item), expiry, {}});
      });
      Connection::Slot slot = conn->Reserve();
      std::weak_ptr<Connection> weak = conn->shared_from_this();
      engine->Put(req.queue, std::move(items), [weak, slot, ctx](Result<queue::PutResult> r) {
        auto c = weak.lock();
        if (!c) return;
        std::string reply;
        if (r.ok()) {
          ctx->counters()->total_items += r->accepted;
          text::AppendCount(&reply, r->accepted);
        } else {
          text::AppendError(&reply, r.status().message());
        }
        c->Reply(slot, reply);
      });
      return;
    }
    case Command::kGet:
    case Command::kPeek: {
      // Kestrel: a get or peek first confirms this connection's open reads on the queue; its
      // reply waits until that is durable.
      DurableReply reply(conn, DurableError);
      if (size_t open = engine->OwnerLeaseCount(owner, req.queue); open > 0) {
        Result<bool> confirmed = engine->ConfirmCount(owner, req.queue, open, reply.Durable());
        if (!confirmed.ok()) {
          text::AppendError(&out, confirmed.status().message());
          return reply.SendNow(std::move(out));
        }
      } else {
        reply.Durable()(Status::OK());  // nothing to confirm; the get is admitted by itself
      }
      queue::GetOptions o;
      o.max_items = 1;
      o.timeout_ms = req.has_timeout ? std::max<int32_t>(0, req.timeout_ms) : 0;
      o.peek = req.command == Command::kPeek;
      o.reliable = !o.peek;
      o.owner = o.peek ? 0 : owner;
      if (o.peek) {
        ctx->counters()->cmd_peek++;
      } else {
        ctx->counters()->cmd_get++;
      }
      return StartGet(std::move(reply), std::string(req.queue), o, false);
    }
    case Command::kMonitor: {
      ctx->counters()->cmd_monitor++;
      size_t open = engine->OwnerLeaseCount(owner, req.queue);
      size_t max = ctx->limits().max_open_reads;
      if (open >= max || req.timeout_ms <= 0) {
        text::AppendNoItem(&out);
        return Send(conn, out);
      }
      queue::GetOptions o;
      o.max_items = static_cast<uint32_t>(max - open);
      o.timeout_ms = req.timeout_ms;
      o.fill = true;
      o.reliable = true;
      o.owner = owner;
      DurableReply reply(conn, DurableError);
      reply.Durable()(Status::OK());  // nothing to wait for but the get
      return StartGet(std::move(reply), std::string(req.queue), o, true);
    }
    case Command::kConfirm: {
      if (req.count < 0) {
        text::AppendError(&out, text::kNotThatManyOpen);
        return Send(conn, out);
      }
      DurableReply reply(conn, DurableError);
      Result<bool> confirmed =
          engine->ConfirmCount(owner, req.queue, static_cast<size_t>(req.count), reply.Durable());
      if (!confirmed.ok()) {
        text::AppendError(&out, confirmed.status().message());
        return reply.SendNow(std::move(out));
      }
      if (*confirmed) {
        text::AppendCount(&out, req.count);
      } else {
        text::AppendError(&out, text::kNotThatManyOpen);
      }
      return reply.Set(std::move(out));
    }
    case Command::kFlush: {
      DurableReply reply(conn, DurableError);
      Status s = engine->Flush(req.queue, reply.Durable());
      if (!s.ok()) {
        text::AppendError(&out, s.message());
        return reply.SendNow(std::move(out));
      }
      text::AppendCount(&out, 0);
      return reply.Set(std::move(out));
    }
    case Command::kDelete: {
      DurableReply reply(conn, DurableError);
      Status s = engine->DeleteQueue(req.queue, reply.Durable());
      if (!s.ok()) {
        text::AppendError(&out, s.message());
        return reply.SendNow(std::move(out));
      }
      ctx->counters()->queue_deletes++;
      text::AppendCount(&out, 0);
      return reply.Set(std::move(out));
    }
    case Command::kStatus:
      if (!req.status) {
        text::AppendString(&out, queue::ServerStatusName(engine->status()));
      } else {
        engine->SetStatus(*req.status);
        text::AppendCount(&out, 0);
      }
      return Send(conn, out);
    case Command::kVersion:
      text::AppendString(&out, SAKER_VERSION);
      return Send(conn, out);
    case Command::kShutdown:
      text::AppendCount(&out, 0);
      Send(conn, out);
      conn->CloseAfterWrite();
      ctx->Shutdown();
      return;
    case Command::kQuit:
      conn->CloseAfterWrite();
      return;
  }
}

void TextSession::StartGet(DurableReply reply, std::string name, const queue::GetOptions& options,
                           bool stream) {
  Context* ctx = state_->ctx;
  state_->parked.Start(
      ctx->engine(), name, options, [reply, ctx, stream](Result<std::vector<queue::Delivery>> r) {
        std::string out;
        if (!r.ok() && !r.status().IsNotFound()) {
          Log().debug("text get refused: {}", r.status().ToString());
          text::AppendError(&out, r.status().message());
        } else {
          if (r.ok()) {
            for (const auto& d : *r) text::AppendItem(&out, d.payload);
            r->empty() ? ctx->counters()->get_misses++ : ctx->counters()->get_hits++;
          }
          if (stream || !r.ok() || r->empty()) text::AppendNoItem(&out);
        }
        reply.Set(std::move(out));
      });
}

}  // namespace saker::net

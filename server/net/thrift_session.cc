// ThriftSession: frames in, generated processor, engine calls, frames out in slot order.
// Completions hold a shared_ptr to the session state, which owns the processor, and to the
// output protocol: the generated continuations bind raw pointers to both (std::bind of
// `this` and the TProtocol*), so they must outlive them.
#include "server/net/thrift_session.h"

#include <thrift/TConfiguration.h>
#include <thrift/transport/TBufferTransports.h>

#include <optional>
#include <utility>

#include "server/common/logging.h"
#include "server/net/thrift_args.h"
#include "server/net/thrift_codec.h"
#include "server/net/thrift_frame.h"
#include "server/net/thrift_hot.h"
#include "server/net/thrift_service.h"

namespace saker::net {
namespace {

using apache::thrift::transport::TMemoryBuffer;

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

}  // namespace

ThriftSession::ThriftSession(Context* ctx)
    : state_(std::make_shared<State>(ctx)), max_frame_bytes_(ctx->limits().max_request_bytes) {
  state_->processor = std::make_shared<api::SakerAsyncProcessor>(MakeThriftService(state_.get()));
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
  // The hand decoder keeps only the lease ids of an ack, and a cluster admits it by its queue:
  // there the generated path, which reads the queue, serves it.
  if (method != "ack" || !state_->ctx->engine()->ServesEveryQueue()) return false;
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

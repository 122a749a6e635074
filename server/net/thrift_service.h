// What the Thrift port's generated service (thrift_service.cc) and the hand-decoded hot path
// (thrift_session.cc) share: the session state, and the put and get accounting both do alike.
// Loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "Saker.h"
#include "server/net/context.h"
#include "server/net/parked_gets.h"
#include "server/net/thrift_session.h"

namespace saker::net {

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

// The service of one session: Kestrel's methods and the native API, answering through the
// generated continuations. `state` owns the processor that owns the service.
std::shared_ptr<api::SakerCobSvIf> MakeThriftService(ThriftSession::State* state);

// The engine's name of subscription `sub` of `queue` ("queue+sub"; "" is the default one).
std::string SubName(std::string_view queue, std::string_view sub);

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
void CountPut(Context* ctx, int64_t start_us, uint32_t accepted);

// Starts a get that a disconnect cancels, counted alike on the generated and hand-decoded path.
void StartGet(ThriftSession::State* state, std::string_view name, const queue::GetOptions& options,
              queue::GetDone done);

}  // namespace saker::net

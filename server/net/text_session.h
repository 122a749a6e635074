// TextSession: one connection of the text port, Kestrel's line protocol (Kestrel's
// TextHandler.scala). Every `get` is a reliable read confirmed by the connection's next get or peek
// on that queue and returned to the queue if the connection closes (Kestrel's code, not its guide).
// Replies go out in request order. Loop thread only.
#pragma once

#include <memory>

#include "server/net/connection.h"
#include "server/net/context.h"
#include "server/net/durable_reply.h"
#include "server/net/text_codec.h"

namespace saker::net {

class TextSession final : public ProtocolHandler {
 public:
  explicit TextSession(Context* ctx);
  ~TextSession() override;
  void OnData(Connection* conn) override;
  void OnClose(Connection* conn) override;

  struct State;  // shared with completions still in flight

 private:
  void Serve(Connection* conn, const text::Request& req);
  // Starts a get/peek/monitor whose reply fills `reply` (after the confirms it waits for).
  void StartGet(DurableReply reply, std::string name, const queue::GetOptions& options,
                bool stream);

  text::Parser parser_;
  std::shared_ptr<State> state_;
};

}  // namespace saker::net

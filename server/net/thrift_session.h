// ThriftSession: one connection of the Thrift port (framed transport, binary protocol with
// strict or non-strict headers). Serves Kestrel's eleven methods and saker's native API through
// the generated cob_style SakerAsyncProcessor, one per connection. Replies go out in request
// order (generated sync clients send seqid 0). Parked gets are dropped when the client goes;
// leases are not (Kestrel 2.4: thrift reads can be confirmed from any connection).
// Loop thread only.
#pragma once

#include <memory>

#include "server/net/connection.h"
#include "server/net/context.h"
#include "server/net/thrift_frame.h"

namespace saker::net {

class ThriftSession final : public ProtocolHandler {
 public:
  explicit ThriftSession(Context* ctx);
  ~ThriftSession() override;
  void OnData(Connection* conn) override;
  void OnClose(Connection* conn) override;

  struct State;  // shared with completions still in flight

 private:
  // Serve a well-formed put, put_items, get_items or ack without the generated processor
  // (thrift_hot.h); false leaves the frame to the processor.
  bool TryHotCall(Connection* conn, const MessageHeader& header, std::string_view args);
  bool TryPut(Connection* conn, const MessageHeader& header, std::string_view args);
  bool TryGetItems(Connection* conn, const MessageHeader& header, std::string_view args);

  std::shared_ptr<State> state_;
  size_t max_frame_bytes_;
};

}  // namespace saker::net

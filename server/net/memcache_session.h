// MemcacheSession: one connection of the memcache port, speaking Kestrel's dialect
// (Kestrel's MemcacheHandler.scala). Requests are parsed by memcache::Parser and served by the
// queue engine; replies go out in request order. Open (reliable) reads belong to the connection:
// `/close` confirms the oldest, `/abort` returns it, and a disconnect returns them all. Parked
// gets are dropped at once when the client goes. Loop thread only.
#pragma once

#include <memory>
#include <unordered_set>

#include "server/net/connection.h"
#include "server/net/context.h"
#include "server/net/memcache_codec.h"

namespace saker::net {

class MemcacheSession final : public ProtocolHandler {
 public:
  explicit MemcacheSession(Context* ctx);
  ~MemcacheSession() override;
  void OnData(Connection* conn) override;
  void OnClose(Connection* conn) override;
  // While the data block of a refused (oversized) set is skipped as it arrives.
  bool InRequest() const override { return parser_.skipping(); }

  struct State;  // shared with completions still in flight

 private:
  void Serve(Connection* conn, const memcache::Request& req);
  void Get(Connection* conn, const memcache::Request& req);
  void Monitor(Connection* conn, const memcache::Request& req);

  memcache::Parser parser_;
  std::shared_ptr<State> state_;
};

}  // namespace saker::net

// ReplicaSession: one connection accepted on the replication listener (a leader calling this
// node). It cuts the input into frames, hands each call to the ReplicaService with a reply slot
// reserved in request order, and closes the connection on a malformed frame.
//
// Loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "replication/wire.h"
#include "server/net/connection.h"

namespace saker::replication {

class ReplicaService {
 public:
  virtual ~ReplicaService() = default;
  // `frame` is the whole call; `reply` takes the whole reply frame (it may run later, on the
  // loop; it is safe after the connection closed). An empty reply closes the connection.
  virtual void HandleCall(const MessageHead& head, std::string_view frame,
                          std::function<void(std::string)> reply) = 0;
};

class ReplicaSession final : public net::ProtocolHandler {
 public:
  explicit ReplicaSession(ReplicaService* service) : service_(service) {}
  void OnData(net::Connection* conn) override;
  void OnClose(net::Connection*) override {}

 private:
  ReplicaService* service_;
};

}  // namespace saker::replication

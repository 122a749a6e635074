// ReplicaSession: frames in, ordered replies out (see the header).
#include "replication/replica_session.h"

#include "server/common/logging.h"

namespace saker::replication {

void ReplicaSession::OnData(net::Connection* conn) {
  while (!conn->closed()) {
    Result<size_t> len = FrameLength(conn->input());
    if (!len.ok()) {
      logging::Get("replication").warn("{}: {}; closing", conn->peer(), len.status().ToString());
      conn->Close();
      return;
    }
    if (*len == 0) return;
    std::string_view frame = conn->input().substr(0, *len);
    Result<MessageHead> head = DecodeHead(frame);
    if (!head.ok()) {
      logging::Get("replication").warn("{}: {}; closing", conn->peer(), head.status().ToString());
      conn->Close();
      return;
    }
    const net::Connection::Slot slot = conn->Reserve();
    std::weak_ptr<net::Connection> weak = conn->shared_from_this();
    service_->HandleCall(*head, frame, [weak, slot](std::string reply) {
      auto c = weak.lock();
      if (!c) return;
      c->Reply(slot, reply);
      if (reply.empty()) c->Close();
    });
    conn->Consume(*len);
  }
}

}  // namespace saker::replication

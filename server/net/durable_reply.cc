// DurableReply: a reserved reply slot filled when two things are in, the reply bytes and the
// engine's word that the cursor change is durable.
#include "server/net/durable_reply.h"

#include <optional>

namespace saker::net {

struct DurableReply::State {
  std::weak_ptr<Connection> conn;
  Connection::Slot slot = 0;
  ErrorEncoder error = nullptr;
  std::optional<std::string> reply;  // set by Set()
  bool close = false;
  std::optional<Status> durable;  // set by the engine's callback
  bool sent = false;

  void Fill(std::string_view bytes, bool close_after) {
    if (sent) return;
    sent = true;
    auto c = conn.lock();
    if (!c) return;
    c->Reply(slot, bytes);
    if (close_after) c->CloseAfterWrite();
  }

  void MaybeSend() {
    if (!durable) return;
    if (!durable->ok()) {
      std::string out;
      error(*durable, &out);
      return Fill(out, true);
    }
    if (reply) Fill(*reply, close);
  }
};

DurableReply::DurableReply(Connection* conn, ErrorEncoder error)
    : state_(std::make_shared<State>()) {
  state_->conn = conn->weak_from_this();
  state_->slot = conn->Reserve();
  state_->error = error;
}

queue::DurableDone DurableReply::Durable() const {
  return [state = state_](Status s) {
    state->durable = std::move(s);
    state->MaybeSend();
  };
}

void DurableReply::Set(std::string bytes, bool close) const {
  state_->reply = std::move(bytes);
  state_->close = close;
  state_->MaybeSend();
}

void DurableReply::SendNow(std::string bytes, bool close) const { state_->Fill(bytes, close); }

}  // namespace saker::net

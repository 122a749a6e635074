// History: what a fault test's producers and consumers did, recorded from many threads, for
// CheckHistory() (history_checker.h) to judge afterwards, Jepsen-style
// (shared/reference/replication.md §6.2). Test code only.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"

namespace saker::test {

// Values are unique ids the test generates: "p<producer>-<seq>", e.g. "p3-17".
struct ValueId {
  uint32_t producer = 0;
  uint64_t seq = 0;
};
std::string MakeValueId(uint32_t producer, uint64_t seq);
// The id `text` spells, or nullopt if it is not exactly "p<digits>-<digits>".
std::optional<ValueId> ParseValueId(std::string_view text);

enum class PutOutcome {
  kOk,       // acknowledged: it must be delivered
  kFailed,   // definitely not stored (refused before anything was appended)
  kUnknown,  // timeout, "unknown", a dropped connection: it may or may not be delivered
};

// A delivery of one item to a consumer.
struct Delivery {
  std::string queue;
  std::string subscription;  // "" is the queue's default subscription
  // One consumer connection, recorded by one thread in the order it got its items; a
  // reconnect is a new session.
  std::string session;
  std::string value;
  std::optional<uint64_t> offset;
  std::optional<uint32_t> attempt;  // the delivery count the server reported (1 = first)
  // The test knows this may repeat an earlier delivery: it aborted the item or let its lease
  // expire.
  bool redelivery_allowed = false;
};

struct HistoryOp {
  enum class Kind {
    kPut,
    kRead,
    kAck,
    kSessionLost,  // session: its unconfirmed deliveries may come again
    kFailover,     // queue: its leader changed
    kDrained,      // queue + subscription: read until empty, after the faults and the puts
  };
  uint64_t index = 0;   // position in the history, from 0 (violations name it as #index)
  int64_t wall_ms = 0;  // when it was recorded, to line up with server logs
  Kind kind = Kind::kPut;
  std::string queue;
  std::string subscription;
  std::string session;
  std::string value;
  PutOutcome outcome = PutOutcome::kOk;  // kPut
  std::optional<uint64_t> offset;        // kPut (ok only), kRead
  std::optional<uint32_t> attempt;       // kRead
  bool redelivery_allowed = false;       // kRead
  bool confirmed = false;                // kAck

  // One line: "#12 20:41:03.123 put q=orders value=p0-3 ok offset=5".
  std::string ToString() const;
};

// Thread-safe: every call appends one op under a mutex, in the order the calls happen. Record
// an operation when its outcome is known (a put when its answer came or it gave up).
class History {
 public:
  // A retry of an unknown put records the same value again: its outcome is ok if any attempt
  // was ok, else unknown if any was unknown, else failed. `offset` only with kOk.
  void Put(std::string_view queue, std::string_view value, PutOutcome outcome,
           std::optional<uint64_t> offset = std::nullopt);
  void Read(Delivery delivery);
  // An ack (confirm) of `value` on a subscription. `confirmed`: the server answered it; false
  // when it was sent but the answer never came (it may or may not have happened).
  void Ack(std::string_view queue, std::string_view subscription, std::string_view value,
           bool confirmed);
  // The consumer connection `session` died or was dropped: what it held unconfirmed may be
  // delivered again, to any session.
  void SessionLost(std::string_view session);
  // `queue` changed leader (the test killed, paused or partitioned the old one). Until
  // cursors are replicated (replication/PROTOCOL.md, "Not yet") a new leader may deliver
  // again what the old one delivered, confirmed acks included.
  void Failover(std::string_view queue);
  // The test read `subscription` of `queue` until it was empty, after the faults healed and
  // every producer finished. Every put acknowledged before this mark must have been read on
  // that subscription before it.
  void Drained(std::string_view queue, std::string_view subscription);

  std::vector<HistoryOp> ops() const;
  // Every op, one line each (HistoryOp::ToString()).
  void Dump(std::ostream& out) const;
  // Dump() to `path`, replacing it. IOError naming the path if it cannot be written.
  Status DumpToFile(const std::string& path) const;

 private:
  void Append(HistoryOp op);

  mutable std::mutex mu_;
  std::vector<HistoryOp> ops_;  // guarded by mu_
};

}  // namespace saker::test

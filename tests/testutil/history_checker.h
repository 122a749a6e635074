// CheckHistory: judges a History (history.h) by the checks of shared/reference/replication.md
// §6.2, 1 to 5, and 6 when asked. Test code only.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "tests/testutil/history.h"

namespace saker::test {

struct CheckOptions {
  // Check 6: a value whose ack was confirmed is never delivered again to its subscription,
  // not even after a Failover() mark. Off until cursors are replicated (PROTOCOL.md, "Not yet").
  bool cursor_survives_failover = false;
};

struct Violation {
  enum class Kind {
    kLostPut,          // 1: an acknowledged put not read on a drained subscription, or no drain
    kFailedPutRead,    // 2: a put that definitely failed was delivered
    kPhantomRead,      // 2: a delivered value that no put recorded
    kOffsetConflict,   // 3: an offset with two values, or a value at two offsets
    kOrder,            // 4: a session's first deliveries did not strictly increase in offset
    kDuplicate,        // 5: a delivery repeated with nothing that allows it
    kCursorRegressed,  // 6: a confirmed-acked value delivered again across a failover
  };
  Kind kind;
  std::string message;  // names the queue, subscription, values and the ops (#index)
};

struct CheckResult {
  std::vector<Violation> violations;  // empty: the history passes
  // Puts count each (queue, value) once, by its combined outcome (History::Put).
  uint64_t ok = 0;
  uint64_t failed = 0;
  uint64_t unknown = 0;
  uint64_t unknown_delivered = 0;  // unknown puts that were read
  uint64_t reads = 0;
  uint64_t duplicates = 0;  // deliveries after the first of a value to one subscription

  bool passed() const { return violations.empty(); }
  size_t Count(Violation::Kind kind) const;
  // The counts, then the first 20 violations, one a line.
  std::string ToString() const;
};
std::ostream& operator<<(std::ostream& out, const CheckResult& result);

// 1. No lost acknowledged put: every Drained(queue, subscription) mark must be preceded by a
//    read on that subscription of every put to the queue acknowledged before the mark. A queue
//    with acknowledged puts and no drain at all is a violation too: it was never checked.
// 2. No failed put delivered; no delivered value that was never put. Unknown puts may or may
//    not appear. Outcomes are judged over the whole history (a read may come before its put's
//    answer).
// 3. Per queue, an offset maps to one value and a value to one offset, across ok puts'
//    offsets and reads' offsets.
// 4. Per (queue, subscription, session), first deliveries with an offset come in strictly
//    increasing offset order. A delivery that repeats an earlier one to the subscription, is
//    marked redelivery_allowed or has attempt > 1 is exempt (redeliveries go first).
// 5. A value delivered again to one subscription needs a reason since its previous delivery:
//    the read is marked redelivery_allowed, its attempt rose, an unconfirmed ack, the previous
//    session's SessionLost() or the queue's Failover(). If its ack was confirmed, only a
//    Failover() after that ack allows it (and with cursor_survives_failover nothing does: 6).
CheckResult CheckHistory(const std::vector<HistoryOp>& ops, const CheckOptions& options = {});
CheckResult CheckHistory(const History& history, const CheckOptions& options = {});

}  // namespace saker::test

// Cursor: one subscription's delivery state over its queue's offsets, as pure logic (no I/O,
// no clock of its own), so every rule is unit-testable. The durable part is the ack floor
// (every offset below it is done), the acked offsets above it, the delivery counts and the
// delivered high-water mark (every offset below it was handed out at least once); the
// rest (what is in flight, what waits for redelivery) lives in memory only, so after a restart
// every offset that is not acked is deliverable again.
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/storage/cursor_op.h"

namespace saker::queue {

class Cursor {
 public:
  explicit Cursor(uint64_t floor) : floor_(floor), next_(floor) {}

  // Restores the durable state loaded from meta.db and the cursor log (acked offsets and counts
  // at or above the floor, the delivered high-water mark). Call once, on a fresh cursor.
  void Restore(const std::vector<uint64_t>& acked,
               const std::vector<std::pair<uint64_t, uint32_t>>& counts, uint64_t delivered_end);

  uint64_t floor() const { return floor_; }
  // One past the highest offset ever delivered (0 if none); Seek keeps it.
  uint64_t delivered_end() const { return delivered_end_; }
  size_t in_flight() const { return in_flight_.size(); }
  // Items in [floor, end) not acked.
  uint64_t Depth(uint64_t end) const;
  bool IsAcked(uint64_t offset) const { return offset < floor_ || acked_.count(offset) > 0; }
  bool IsInFlight(uint64_t offset) const { return in_flight_.count(offset) > 0; }

  // The lowest deliverable offset below `end` (0 if none): released offsets whose delay is over
  // first (they are below next()), then next() skipping acked offsets. Moves delayed offsets
  // whose ready time is <= now_ms to the ready set.
  uint64_t NextDeliverable(uint64_t end, int64_t now_ms);

  // Marks `offset` in flight (normally one NextDeliverable returned; any unacked offset works).
  void Take(uint64_t offset);
  // In-flight `offset` becomes deliverable again at ready_ms (at once if <= now_ms).
  void Release(uint64_t offset, int64_t ready_ms, int64_t now_ms);
  // Acks `offset` wherever it is (in flight, ready, delayed, not yet handed out). False if it
  // was already acked.
  bool Ack(uint64_t offset);
  // Acks everything below `offset`; returns how many offsets were newly acked. In-flight
  // offsets below it are forgotten (the caller ends their leases).
  uint64_t AckBelow(uint64_t offset);
  // Moves the cursor: floor and next at `offset`, nothing acked, in flight or counted.
  void Seek(uint64_t offset);

  uint32_t DeliveryCount(uint64_t offset) const;
  // Counts one more delivery of `offset` (raising delivered_end past it); returns the new count.
  uint32_t CountDelivery(uint64_t offset);

  // Appends the changes since the last call as cursor ops (floor, acks above it, counts, the
  // delivered high-water mark) and
  // forgets them. A Seek must be emitted by the caller after calling this (kSeek).
  void TakeOps(uint64_t queue_id, const std::string& sub, std::vector<storage::CursorOp>* out);
  bool dirty() const {
    return floor_dirty_ || delivered_dirty_ || !dirty_acks_.empty() || !dirty_counts_.empty();
  }

 private:
  void AdvanceFloor();
  void Forget(uint64_t offset);

  uint64_t floor_;
  uint64_t next_;
  std::set<uint64_t> acked_;                        // acked offsets >= floor_
  std::set<uint64_t> in_flight_;                    // leased or being moved to another queue
  std::set<uint64_t> ready_;                        // released and deliverable, all < next_
  std::multimap<int64_t, uint64_t> delayed_;        // ready time -> released offset
  std::unordered_map<uint64_t, int64_t> delay_of_;  // released offset -> its ready time
  std::unordered_map<uint64_t, uint32_t> counts_;   // delivery counts of offsets >= floor_

  uint64_t delivered_end_ = 0;
  bool floor_dirty_ = false;
  bool delivered_dirty_ = false;
  std::vector<uint64_t> dirty_acks_;
  std::set<uint64_t> dirty_counts_;
};

}  // namespace saker::queue

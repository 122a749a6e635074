// LeaseTable: every lease of the engine by id, and the leases each owner (a memcache connection)
// holds per "queue[+sub]" name, oldest first. A lease id is
//   node id (12 bits) | boot count (12 bits) | counter (40 bits),
// so ids from two nodes never collide and a restarted node never reuses one it handed out before
// (the boot count is persisted). Leases live in memory only: after a restart every leased item is
// deliverable again.
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/storage/batch.h"

namespace saker::queue {

struct Lease {
  uint64_t id = 0;
  uint64_t sub_uid = 0;  // the subscription (Subscription::uid) that handed it out
  uint64_t offset = 0;
  int64_t deadline_ms = 0;  // monotonic; 0 = none
  uint64_t owner = 0;       // 0 = none
  bool held = true;         // held by a parked get, not handed out yet
  storage::BatchPtr batch;  // keeps the item's bytes while leased
};

class LeaseTable {
 public:
  static constexpr int kCounterBits = 40;
  static constexpr int kBootBits = 12;
  static constexpr uint32_t kMaxNodeId = (1u << 12) - 1;

  // Sets the id prefix; precondition node_id <= kMaxNodeId (the boot count wraps).
  void SetPrefix(uint32_t node_id, uint64_t boot);
  uint64_t prefix() const { return prefix_; }

  // A new lease (held, no owner, no deadline).
  Lease& New(uint64_t sub_uid, uint64_t offset, storage::BatchPtr batch);
  Lease* Find(uint64_t id);
  const Lease* Find(uint64_t id) const;
  // Gives lease `l` to `owner` under `name` ("queue[+sub]").
  void SetOwner(Lease& l, uint64_t owner, const std::string& name);
  // Removes the lease and its owner entry; no-op if unknown.
  void Erase(uint64_t id);

  // Lease ids `owner` holds on `name`, ascending (= oldest first); nullptr if none.
  const std::set<uint64_t>* OwnerSet(uint64_t owner, std::string_view name) const;
  size_t OwnerCount(uint64_t owner, std::string_view name) const;
  std::vector<uint64_t> OwnerIds(uint64_t owner) const;  // every lease of `owner`
  size_t size() const { return leases_.size(); }

 private:
  uint64_t prefix_ = 0;
  uint64_t counter_ = 0;
  std::unordered_map<uint64_t, Lease> leases_;
  // owner -> "queue[+sub]" -> lease ids
  std::unordered_map<uint64_t, std::map<std::string, std::set<uint64_t>, std::less<>>> owners_;
};

}  // namespace saker::queue

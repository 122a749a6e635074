// LeaseTable: see lease_table.h.
#include "server/queue/lease_table.h"

#include "server/common/check.h"

namespace saker::queue {

void LeaseTable::SetPrefix(uint32_t node_id, uint64_t boot) {
  SAKER_CHECK(node_id <= kMaxNodeId);
  const uint64_t boot_bits = boot & ((1ull << kBootBits) - 1);
  prefix_ = (uint64_t{node_id} << (kCounterBits + kBootBits)) | (boot_bits << kCounterBits);
}

Lease& LeaseTable::New(uint64_t sub_uid, uint64_t offset, storage::BatchPtr batch) {
  const uint64_t id = prefix_ | (++counter_ & ((1ull << kCounterBits) - 1));
  Lease& l = leases_[id];
  l.id = id;
  l.sub_uid = sub_uid;
  l.offset = offset;
  l.batch = std::move(batch);
  return l;
}

Lease* LeaseTable::Find(uint64_t id) {
  auto it = leases_.find(id);
  return it == leases_.end() ? nullptr : &it->second;
}

const Lease* LeaseTable::Find(uint64_t id) const {
  auto it = leases_.find(id);
  return it == leases_.end() ? nullptr : &it->second;
}

void LeaseTable::SetOwner(Lease& l, uint64_t owner, const std::string& name) {
  l.owner = owner;
  owners_[owner][name].insert(l.id);
}

void LeaseTable::Erase(uint64_t id) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  if (it->second.owner != 0) {
    auto o = owners_.find(it->second.owner);
    if (o != owners_.end()) {
      for (auto n = o->second.begin(); n != o->second.end(); ++n) {
        if (n->second.erase(id) > 0) {
          if (n->second.empty()) o->second.erase(n);
          break;
        }
      }
      if (o->second.empty()) owners_.erase(o);
    }
  }
  leases_.erase(it);
}

const std::set<uint64_t>* LeaseTable::OwnerSet(uint64_t owner, std::string_view name) const {
  auto o = owners_.find(owner);
  if (o == owners_.end()) return nullptr;
  auto it = o->second.find(name);
  return it == o->second.end() ? nullptr : &it->second;
}

size_t LeaseTable::OwnerCount(uint64_t owner, std::string_view name) const {
  const std::set<uint64_t>* set = OwnerSet(owner, name);
  return set == nullptr ? 0 : set->size();
}

std::vector<uint64_t> LeaseTable::OwnerIds(uint64_t owner) const {
  std::vector<uint64_t> ids;
  auto o = owners_.find(owner);
  if (o == owners_.end()) return ids;
  for (const auto& [name, set] : o->second) ids.insert(ids.end(), set.begin(), set.end());
  return ids;
}

}  // namespace saker::queue

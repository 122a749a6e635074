// Cursor: the per-subscription state machine of server/queue/cursor.h.
#include "server/queue/cursor.h"

namespace saker::queue {

void Cursor::Restore(const std::vector<uint64_t>& acked,
                     const std::vector<std::pair<uint64_t, uint32_t>>& counts,
                     uint64_t delivered_end) {
  delivered_end_ = delivered_end;
  for (uint64_t o : acked) {
    if (o >= floor_) acked_.insert(o);
  }
  for (const auto& [o, c] : counts) {
    if (o >= floor_) counts_[o] = c;
  }
  AdvanceFloor();
  floor_dirty_ = false;
}

uint64_t Cursor::Depth(uint64_t end) const {
  if (end <= floor_) return 0;
  uint64_t acked_below_end = 0;
  for (auto it = acked_.begin(); it != acked_.end() && *it < end; ++it) acked_below_end++;
  return end - floor_ - acked_below_end;
}

uint64_t Cursor::NextDeliverable(uint64_t end, int64_t now_ms) {
  while (!delayed_.empty() && delayed_.begin()->first <= now_ms) {
    uint64_t o = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    delay_of_.erase(o);
    ready_.insert(o);
  }
  if (!ready_.empty()) return *ready_.begin();
  while (next_ < end && (acked_.count(next_) > 0 || in_flight_.count(next_) > 0)) next_++;
  return next_ < end ? next_ : 0;
}

void Cursor::Take(uint64_t offset) {
  if (ready_.erase(offset) == 0 && offset == next_) next_++;
  in_flight_.insert(offset);
}

void Cursor::Release(uint64_t offset, int64_t ready_ms, int64_t now_ms) {
  if (in_flight_.erase(offset) == 0) return;
  // An offset taken out of order (flush_expired) that next() has not passed yet is simply
  // reached again in order.
  if (offset >= next_) return;
  if (ready_ms <= now_ms) {
    ready_.insert(offset);
  } else {
    delayed_.emplace(ready_ms, offset);
    delay_of_[offset] = ready_ms;
  }
}

void Cursor::Forget(uint64_t offset) {
  in_flight_.erase(offset);
  ready_.erase(offset);
  auto d = delay_of_.find(offset);
  if (d != delay_of_.end()) {
    auto [lo, hi] = delayed_.equal_range(d->second);
    for (auto it = lo; it != hi; ++it) {
      if (it->second == offset) {
        delayed_.erase(it);
        break;
      }
    }
    delay_of_.erase(d);
  }
}

bool Cursor::Ack(uint64_t offset) {
  if (IsAcked(offset)) return false;
  Forget(offset);
  acked_.insert(offset);
  dirty_acks_.push_back(offset);
  AdvanceFloor();
  return true;
}

void Cursor::AdvanceFloor() {
  while (!acked_.empty() && *acked_.begin() == floor_) {
    acked_.erase(acked_.begin());
    counts_.erase(floor_);
    floor_++;
    floor_dirty_ = true;
  }
  if (next_ < floor_) next_ = floor_;
}

uint64_t Cursor::AckBelow(uint64_t offset) {
  if (offset <= floor_) return 0;
  uint64_t already = 0;
  for (auto it = acked_.begin(); it != acked_.end() && *it < offset;) {
    already++;
    it = acked_.erase(it);
  }
  for (auto it = in_flight_.begin(); it != in_flight_.end() && *it < offset;) {
    it = in_flight_.erase(it);
  }
  for (auto it = ready_.begin(); it != ready_.end() && *it < offset;) it = ready_.erase(it);
  for (auto it = delayed_.begin(); it != delayed_.end();) {
    if (it->second < offset) {
      delay_of_.erase(it->second);
      it = delayed_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = counts_.begin(); it != counts_.end();) {
    it = it->first < offset ? counts_.erase(it) : std::next(it);
  }
  uint64_t newly = offset - floor_ - already;
  floor_ = offset;
  floor_dirty_ = true;
  AdvanceFloor();
  return newly;
}

void Cursor::Seek(uint64_t offset) {
  floor_ = offset;
  next_ = offset;
  acked_.clear();
  in_flight_.clear();
  ready_.clear();
  delayed_.clear();
  delay_of_.clear();
  counts_.clear();
  floor_dirty_ = false;
  delivered_dirty_ = false;
  dirty_acks_.clear();
  dirty_counts_.clear();
}

uint32_t Cursor::DeliveryCount(uint64_t offset) const {
  auto it = counts_.find(offset);
  return it == counts_.end() ? 0 : it->second;
}

uint32_t Cursor::CountDelivery(uint64_t offset) {
  uint32_t c = ++counts_[offset];
  dirty_counts_.insert(offset);
  if (offset >= delivered_end_) {
    delivered_end_ = offset + 1;
    delivered_dirty_ = true;
  }
  return c;
}

void Cursor::TakeOps(uint64_t queue_id, const std::string& sub,
                     std::vector<storage::CursorOp>* out) {
  using Type = storage::CursorOp::Type;
  if (floor_dirty_) out->push_back({Type::kFloor, queue_id, sub, floor_, 0});
  for (uint64_t o : dirty_acks_) {
    if (acked_.count(o) > 0) out->push_back({Type::kAck, queue_id, sub, o, 0});
  }
  for (uint64_t o : dirty_counts_) {
    auto it = counts_.find(o);
    if (it != counts_.end()) out->push_back({Type::kDeliveries, queue_id, sub, o, it->second});
  }
  if (delivered_dirty_) out->push_back({Type::kDelivered, queue_id, sub, delivered_end_, 0});
  floor_dirty_ = false;
  delivered_dirty_ = false;
  dirty_acks_.clear();
  dirty_counts_.clear();
}

}  // namespace saker::queue

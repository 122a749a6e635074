// CursorOp: one change of a subscription's cursor, as the queue engine produces it on the loop
// thread. The same op is a record of the queue's cursor log (its payload is EncodeCursorOp's
// bytes, FORMAT.md "Cursor log"), what replication ships to followers, and what a meta.db
// checkpoint applies (MetaStore). Ops are idempotent: applying one twice, or a prefix again after
// a checkpoint, leaves the same state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "server/common/status.h"

namespace saker::storage {

struct CursorOp {
  enum class Type : uint8_t {
    kCreate = 1,      // subscription created with ack floor `offset` (replaces one of that name)
    kDelete = 2,      // subscription and its cursor removed
    kFloor = 3,       // ack floor advanced to `offset` (state below it is dropped)
    kSeek = 4,        // ack floor set to `offset`; every acked offset and count is dropped
    kAck = 5,         // `offset` (at or above the floor) acked
    kDeliveries = 6,  // `offset` has been delivered `count` times
    kDelivered = 7,   // every offset below `offset` has been handed out at least once
  };
  Type type = Type::kAck;
  uint64_t queue_id = 0;  // this node's queue id (meta.db); not part of the encoded record
  std::string subscription;
  uint64_t offset = 0;
  uint32_t count = 0;
};

// Batches of a cursor log carry this flag (FORMAT.md "Batch", flags).
inline constexpr uint16_t kBatchFlagCursor = 0x1;

// The cursor-log record payload of `op`: type (1 byte), offset (8), count (4), subscription name
// length (1) and the name; little-endian. Precondition: the name is at most 255 bytes.
std::string EncodeCursorOp(const CursorOp& op);
// Decodes a payload of EncodeCursorOp (queue_id 0). Corruption for an unknown type or a payload
// whose length does not match its name length.
Result<CursorOp> DecodeCursorOp(std::string_view payload);

}  // namespace saker::storage

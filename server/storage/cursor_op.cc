// CursorOp's record encoding (FORMAT.md "Cursor log").
#include "server/storage/cursor_op.h"

#include "server/common/check.h"
#include "server/common/coding.h"

namespace saker::storage {
namespace {

constexpr size_t kFixedBytes = 1 + 8 + 4 + 1;

}  // namespace

std::string EncodeCursorOp(const CursorOp& op) {
  SAKER_CHECK(op.subscription.size() <= 255);
  std::string out;
  out.reserve(kFixedBytes + op.subscription.size());
  out.push_back(static_cast<char>(op.type));
  PutFixed64(&out, op.offset);
  PutFixed32(&out, op.count);
  out.push_back(static_cast<char>(op.subscription.size()));
  out.append(op.subscription);
  return out;
}

Result<CursorOp> DecodeCursorOp(std::string_view payload) {
  if (payload.size() < kFixedBytes) {
    return Status::Corruption("cursor record of " + std::to_string(payload.size()) +
                              " bytes is shorter than " + std::to_string(kFixedBytes));
  }
  CursorOp op;
  const auto type = static_cast<uint8_t>(payload[0]);
  if (type < static_cast<uint8_t>(CursorOp::Type::kCreate) ||
      type > static_cast<uint8_t>(CursorOp::Type::kDelivered)) {
    return Status::Corruption("unknown cursor record type " + std::to_string(type));
  }
  op.type = static_cast<CursorOp::Type>(type);
  op.offset = DecodeFixed64(payload.data() + 1);
  op.count = DecodeFixed32(payload.data() + 9);
  const size_t name_bytes = static_cast<uint8_t>(payload[13]);
  if (payload.size() != kFixedBytes + name_bytes) {
    return Status::Corruption("cursor record of " + std::to_string(payload.size()) +
                              " bytes has a name of " + std::to_string(name_bytes));
  }
  op.subscription = std::string(payload.substr(kFixedBytes));
  return op;
}

}  // namespace saker::storage

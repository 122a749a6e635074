#include "server/net/thrift_hot.h"

#include "server/net/thrift_binary.h"
#include "server/net/thrift_frame.h"

namespace saker::net {
namespace {

using tbin::Reader;

// A list header of `elem_type` whose size fits the bytes left (every element takes at least
// one byte), or -1.
int32_t ListSize(Reader& r, uint8_t elem_type) {
  uint8_t type = r.Byte();
  int32_t n = r.I32();
  if (!r.ok() || type != elem_type || n < 0 || static_cast<size_t>(n) > r.remaining()) return -1;
  return n;
}

int64_t ExpiryAfter(int64_t now_wall_ms, int64_t ttl_ms) {
  return ttl_ms > 0 ? now_wall_ms + ttl_ms : 0;
}

// The bit of field `id` in ReadStruct's `seen`.
constexpr uint32_t Field(int id) { return 1u << id; }

// Reads a struct's fields up to its stop byte: ids must be 1..max_id, each at most once, and
// `read(id, type)` reads each value, false for a field it does not expect. `seen` gets the
// fields read. False on any of that, or bytes running out.
template <typename ReadField>
bool ReadStruct(Reader& r, int16_t max_id, uint32_t* seen, ReadField read) {
  *seen = 0;
  while (true) {
    uint8_t type = r.Byte();
    if (type == tbin::kStop) return r.ok();
    int16_t id = r.I16();
    if (!r.ok() || id < 1 || id > max_id || (*seen & Field(id))) return false;
    *seen |= Field(id);
    if (!read(id, type)) return false;
  }
}

// struct PutItem { 1: binary data, 2: optional string key, 3: i64 ttl_ms = 0 }
bool DecodePutItem(Reader& r, int64_t now_wall_ms, queue::PutItem* item) {
  uint32_t seen;
  bool ok = ReadStruct(r, 3, &seen, [&](int16_t id, uint8_t type) {
    if (id == 1 && type == tbin::kString) {
      item->payload.assign(r.String());
    } else if (id == 2 && type == tbin::kString) {
      item->key.assign(r.String());
    } else if (id == 3 && type == tbin::kI64) {
      const int64_t ttl_ms = r.I64();
      if (ttl_ms < 0) return false;
      item->expiry_ms = ExpiryAfter(now_wall_ms, ttl_ms);
    } else {
      return false;
    }
    return true;
  });
  return ok && (seen & Field(1));
}

// A native call's subscription: "" (the default) or a name.
bool ValidSubscription(std::string_view name) { return name.empty() || queue::IsValidName(name); }

// Appends the strict message header of a reply to `method`, after a length placeholder;
// returns where the placeholder is.
size_t BeginReply(std::string* out, std::string_view method, int32_t seqid,
                  MessageType type = MessageType::kReply) {
  const size_t at = out->size();
  tbin::AppendBe32(out, 0);
  tbin::AppendBe32(out, tbin::kVersion1 | static_cast<uint8_t>(type));
  tbin::AppendString(out, method);
  tbin::AppendBe32(out, static_cast<uint32_t>(seqid));
  return at;
}

// struct SakerError { 1: i32 code, 2: string message }
void AppendError(std::string* out, const Status& st) {
  tbin::AppendFieldHeader(out, tbin::kI32, 1);
  tbin::AppendBe32(out, static_cast<uint32_t>(st.code()));
  tbin::AppendFieldHeader(out, tbin::kString, 2);
  tbin::AppendString(out, st.message());
  out->push_back(static_cast<char>(tbin::kStop));
}

}  // namespace

bool DecodeGetItemsArgs(std::string_view args, GetItemsCall* out) {
  Reader r(args);
  uint32_t seen;
  bool ok = ReadStruct(r, 5, &seen, [&](int16_t id, uint8_t type) {
    if (id <= 2 && type == tbin::kString) {
      (id == 1 ? out->queue : out->subscription) = r.String();
    } else if (id >= 3 && type == tbin::kI32) {
      int32_t v = r.I32();
      (id == 3 ? out->max_items : id == 4 ? out->wait_ms : out->lease_ms) = v;
    } else {
      return false;
    }
    return true;
  });
  const uint32_t required = Field(1) | Field(2) | Field(3);
  return ok && (seen & required) == required && queue::ParseQueueName(out->queue).ok() &&
         ValidSubscription(out->subscription) && out->max_items > 0 && out->wait_ms >= 0 &&
         out->lease_ms >= 0;
}

bool DecodeAckArgs(std::string_view args, std::vector<uint64_t>* lease_ids) {
  Reader r(args);
  uint32_t seen;
  std::string_view queue;
  bool ok = ReadStruct(r, 2, &seen, [&](int16_t id, uint8_t type) {
    if (id == 1 && type == tbin::kString) {
      queue = r.String();
    } else if (id == 2 && type == tbin::kList) {
      int32_t n = ListSize(r, tbin::kI64);
      if (n < 0) return false;
      lease_ids->resize(static_cast<size_t>(n));
      for (uint64_t& lease : *lease_ids) lease = static_cast<uint64_t>(r.I64());
    } else {
      return false;
    }
    return true;
  });
  return ok && seen == (Field(1) | Field(2)) && queue::ParseQueueName(queue).ok() &&
         !lease_ids->empty();
}

bool DecodePutItemsArgs(std::string_view args, int64_t now_wall_ms, PutCall* out) {
  Reader r(args);
  uint32_t seen;
  bool ok = ReadStruct(r, 2, &seen, [&](int16_t id, uint8_t type) {
    if (id == 1 && type == tbin::kString) {
      out->queue = r.String();
    } else if (id == 2 && type == tbin::kList) {
      int32_t n = ListSize(r, tbin::kStruct);
      if (n < 0) return false;
      out->items.resize(static_cast<size_t>(n));
      for (queue::PutItem& item : out->items) {
        if (!DecodePutItem(r, now_wall_ms, &item)) return false;
      }
    } else {
      return false;
    }
    return true;
  });
  return ok && seen == (Field(1) | Field(2)) && queue::ParseQueueName(out->queue).ok() &&
         !out->items.empty();
}

bool DecodeKestrelPutArgs(std::string_view args, int64_t now_wall_ms, PutCall* out) {
  Reader r(args);
  uint32_t seen;
  int64_t expiry = 0;
  bool ok = ReadStruct(r, 3, &seen, [&](int16_t id, uint8_t type) {
    if (id == 1 && type == tbin::kString) {
      out->queue = r.String();
    } else if (id == 2 && type == tbin::kList) {
      int32_t n = ListSize(r, tbin::kString);
      if (n < 0) return false;
      out->items.resize(static_cast<size_t>(n));
      for (queue::PutItem& item : out->items) item.payload.assign(r.String());
    } else if (id == 3 && type == tbin::kI32) {
      expiry = ExpiryAfter(now_wall_ms, r.I32());
    } else {
      return false;
    }
    return true;
  });
  const uint32_t required = Field(1) | Field(2);
  if (!ok || (seen & required) != required) return false;
  for (queue::PutItem& item : out->items) item.expiry_ms = expiry;
  return true;
}

void AppendNativeError(std::string* out, std::string_view method, int32_t seqid, const Status& st) {
  // <Method>_result { 1: SakerError err }
  const size_t at = BeginReply(out, method, seqid);
  tbin::AppendFieldHeader(out, tbin::kStruct, 1);
  AppendError(out, st);
  out->push_back(static_cast<char>(tbin::kStop));
  tbin::PatchFrameLength(out, at);
}

void AppendPutItemsReply(std::string* out, int32_t seqid, const Result<queue::PutResult>& r) {
  if (!r.ok()) return AppendNativeError(out, "put_items", seqid, r.status());
  const size_t at = BeginReply(out, "put_items", seqid);
  // Saker_put_items_result { 0: PutResult success }
  // PutResult { 1: i32 accepted, 2: list<i64> offsets, 3: optional SakerError refused }
  tbin::AppendFieldHeader(out, tbin::kStruct, 0);
  tbin::AppendFieldHeader(out, tbin::kI32, 1);
  tbin::AppendBe32(out, r->accepted);
  tbin::AppendFieldHeader(out, tbin::kList, 2);
  out->push_back(static_cast<char>(tbin::kI64));
  tbin::AppendBe32(out, static_cast<uint32_t>(r->offsets.size()));
  for (uint64_t offset : r->offsets) tbin::AppendBe64(out, offset);
  if (!r->refused.ok()) {
    tbin::AppendFieldHeader(out, tbin::kStruct, 3);
    AppendError(out, r->refused);
  }
  out->push_back(static_cast<char>(tbin::kStop));
  out->push_back(static_cast<char>(tbin::kStop));
  tbin::PatchFrameLength(out, at);
}

void AppendGetItemsReply(std::string* out, int32_t seqid,
                         const Result<std::vector<queue::Delivery>>& r) {
  if (!r.ok()) return AppendNativeError(out, "get_items", seqid, r.status());
  const size_t at = BeginReply(out, "get_items", seqid);
  // Saker_get_items_result { 0: list<LeasedItem> success }
  size_t bytes = 0;
  for (const queue::Delivery& d : *r) bytes += 64 + d.payload.size();
  out->reserve(out->size() + bytes + 16);
  tbin::AppendFieldHeader(out, tbin::kList, 0);
  out->push_back(static_cast<char>(tbin::kStruct));
  tbin::AppendBe32(out, static_cast<uint32_t>(r->size()));
  for (const queue::Delivery& d : *r) {
    // LeasedItem { 1: i64 lease_id, 2: i64 offset, 3: i32 delivery_count, 4: binary data,
    //              5: i64 put_at_ms, 6: i64 expires_at_ms }
    tbin::AppendFieldHeader(out, tbin::kI64, 1);
    tbin::AppendBe64(out, d.lease_id);
    tbin::AppendFieldHeader(out, tbin::kI64, 2);
    tbin::AppendBe64(out, d.offset);
    tbin::AppendFieldHeader(out, tbin::kI32, 3);
    tbin::AppendBe32(out, d.delivery_count);
    tbin::AppendFieldHeader(out, tbin::kString, 4);
    tbin::AppendString(out, d.payload);
    tbin::AppendFieldHeader(out, tbin::kI64, 5);
    tbin::AppendBe64(out, static_cast<uint64_t>(d.timestamp_ms));
    tbin::AppendFieldHeader(out, tbin::kI64, 6);
    tbin::AppendBe64(out, static_cast<uint64_t>(d.expiry_ms));
    out->push_back(static_cast<char>(tbin::kStop));
  }
  out->push_back(static_cast<char>(tbin::kStop));
  tbin::PatchFrameLength(out, at);
}

void AppendI32Reply(std::string* out, std::string_view method, int32_t seqid, int32_t value) {
  const size_t at = BeginReply(out, method, seqid);
  tbin::AppendFieldHeader(out, tbin::kI32, 0);
  tbin::AppendBe32(out, static_cast<uint32_t>(value));
  out->push_back(static_cast<char>(tbin::kStop));
  tbin::PatchFrameLength(out, at);
}

void AppendAckReply(std::string* out, int32_t seqid, const Result<int32_t>& r) {
  if (r.ok()) return AppendI32Reply(out, "ack", seqid, *r);
  AppendNativeError(out, "ack", seqid, r.status());
}

void AppendApplicationException(std::string* out, std::string_view method, int32_t seqid,
                                std::string_view message) {
  // TApplicationException { 1: string message, 2: i32 type }; type 6 is INTERNAL_ERROR.
  constexpr uint32_t kInternalError = 6;
  const size_t at = BeginReply(out, method, seqid, MessageType::kException);
  tbin::AppendFieldHeader(out, tbin::kString, 1);
  tbin::AppendString(out, message);
  tbin::AppendFieldHeader(out, tbin::kI32, 2);
  tbin::AppendBe32(out, kInternalError);
  out->push_back(static_cast<char>(tbin::kStop));
  tbin::PatchFrameLength(out, at);
}

}  // namespace saker::net

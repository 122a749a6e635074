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

// struct PutItem { 1: binary data, 2: optional string key, 3: i64 ttl_ms = 0 }
bool DecodePutItem(Reader& r, int64_t now_wall_ms, queue::PutItem* item) {
  bool seen[4] = {};
  while (true) {
    uint8_t type = r.Byte();
    if (type == tbin::kStop) return r.ok();
    int16_t id = r.I16();
    if (!r.ok() || id < 1 || id > 3 || seen[id]) return false;
    seen[id] = true;
    if (id == 1 && type == tbin::kString) {
      item->payload.assign(r.String());
    } else if (id == 2 && type == tbin::kString) {
      item->key.assign(r.String());
    } else if (id == 3 && type == tbin::kI64) {
      item->expiry_ms = ExpiryAfter(now_wall_ms, r.I64());
    } else {
      return false;
    }
  }
}

// Appends the strict message header of a reply to `method`, after a length placeholder;
// returns where the placeholder is.
size_t BeginReply(std::string* out, std::string_view method, int32_t seqid) {
  const size_t at = out->size();
  tbin::AppendBe32(out, 0);
  tbin::AppendBe32(out, tbin::kVersion1 | static_cast<uint8_t>(MessageType::kReply));
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
  bool seen[6] = {};
  while (true) {
    uint8_t type = r.Byte();
    if (type == tbin::kStop) return r.ok() && seen[1] && seen[2] && seen[3];
    int16_t id = r.I16();
    if (!r.ok() || id < 1 || id > 5 || seen[id]) return false;
    seen[id] = true;
    if (id <= 2 && type == tbin::kString) {
      (id == 1 ? out->queue : out->subscription) = r.String();
    } else if (id >= 3 && type == tbin::kI32) {
      int32_t v = r.I32();
      if (id == 3) out->max_items = v;
      if (id == 4) out->wait_ms = v;
      if (id == 5) out->lease_ms = v;
    } else {
      return false;
    }
  }
}

bool DecodeAckArgs(std::string_view args, std::vector<uint64_t>* lease_ids) {
  Reader r(args);
  bool seen[3] = {};
  while (true) {
    uint8_t type = r.Byte();
    if (type == tbin::kStop) return r.ok() && seen[1] && seen[2];
    int16_t id = r.I16();
    if (!r.ok() || id < 1 || id > 2 || seen[id]) return false;
    seen[id] = true;
    if (id == 1 && type == tbin::kString) {
      r.String();
    } else if (id == 2 && type == tbin::kList) {
      int32_t n = ListSize(r, tbin::kI64);
      if (n < 0) return false;
      lease_ids->resize(static_cast<size_t>(n));
      for (uint64_t& lease : *lease_ids) lease = static_cast<uint64_t>(r.I64());
    } else {
      return false;
    }
  }
}

bool DecodePutItemsArgs(std::string_view args, int64_t now_wall_ms, PutCall* out) {
  Reader r(args);
  bool seen[3] = {};
  while (true) {
    uint8_t type = r.Byte();
    if (type == tbin::kStop) return r.ok() && seen[1] && seen[2];
    int16_t id = r.I16();
    if (!r.ok() || id < 1 || id > 2 || seen[id]) return false;
    seen[id] = true;
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
  }
}

bool DecodeKestrelPutArgs(std::string_view args, int64_t now_wall_ms, PutCall* out) {
  Reader r(args);
  bool seen[4] = {};
  int64_t expiry = 0;
  while (true) {
    uint8_t type = r.Byte();
    if (type == tbin::kStop) break;
    int16_t id = r.I16();
    if (!r.ok() || id < 1 || id > 3 || seen[id]) return false;
    seen[id] = true;
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
  }
  if (!r.ok() || !seen[1] || !seen[2]) return false;
  for (queue::PutItem& item : out->items) item.expiry_ms = expiry;
  return true;
}

void AppendPutItemsReply(std::string* out, int32_t seqid, const Result<queue::PutResult>& r) {
  const size_t at = BeginReply(out, "put_items", seqid);
  if (!r.ok()) {
    // Saker_put_items_result { 1: SakerError err }
    tbin::AppendFieldHeader(out, tbin::kStruct, 1);
    AppendError(out, r.status());
  } else {
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
  }
  out->push_back(static_cast<char>(tbin::kStop));
  tbin::PatchFrameLength(out, at);
}

void AppendGetItemsReply(std::string* out, int32_t seqid,
                         const Result<std::vector<queue::Delivery>>& r) {
  const size_t at = BeginReply(out, "get_items", seqid);
  if (!r.ok()) {
    // Saker_get_items_result { 1: SakerError err }
    tbin::AppendFieldHeader(out, tbin::kStruct, 1);
    AppendError(out, r.status());
  } else {
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

}  // namespace saker::net

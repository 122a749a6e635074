// The native API's argument checks: a table of every native method's argument struct, field for
// field as thrift/saker.thrift declares it, walked over the frame's bytes.
#include "server/net/thrift_args.h"

#include <span>
#include <string>

#include "server/net/thrift_binary.h"
#include "server/queue/queue_manager.h"

namespace saker::net {
namespace {

using tbin::Reader;

// TType values the table and the skipper need beyond thrift_binary.h's.
constexpr uint8_t kBool = 2;
constexpr uint8_t kByte = 3;
constexpr uint8_t kDouble = 4;
constexpr uint8_t kI16 = 6;
constexpr uint8_t kMap = 13;
constexpr uint8_t kSet = 14;
constexpr uint8_t kUuid = 16;

// libthrift's default recursion limit: deeper nesting is refused, not walked.
constexpr int kMaxDepth = 64;

struct StructSpec;

struct FieldSpec {
  int16_t id;
  std::string_view name;
  uint8_t type;                        // TType
  bool required;                       // the IDL gives it no default value
  uint8_t elem = tbin::kStop;          // a list's element type
  const StructSpec* nested = nullptr;  // a struct's fields, or those of a list's structs
};

struct StructSpec {
  std::span<const FieldSpec> fields;
};

// struct PutItem { 1: binary data, 2: optional string key, 3: i64 ttl_ms = 0 }
constexpr FieldSpec kPutItemFields[] = {{1, "data", tbin::kString, true},
                                        {2, "key", tbin::kString, false},
                                        {3, "ttl_ms", tbin::kI64, false}};
constexpr StructSpec kPutItem{kPutItemFields};
// struct StartPosition { 1: StartKind kind = LATEST, 2: i64 value = 0 }
constexpr FieldSpec kStartFields[] = {{1, "kind", tbin::kI32, false},
                                      {2, "value", tbin::kI64, false}};
constexpr StructSpec kStart{kStartFields};

constexpr FieldSpec kQueue{1, "queue", tbin::kString, true};
constexpr FieldSpec kSubscription{2, "subscription", tbin::kString, true};
constexpr FieldSpec kLeaseIds{2, "lease_ids", tbin::kList, true, tbin::kI64};

constexpr FieldSpec kPutItemsArgs[] = {kQueue,
                                       {2, "items", tbin::kList, true, tbin::kStruct, &kPutItem}};
constexpr FieldSpec kGetItemsArgs[] = {kQueue,
                                       kSubscription,
                                       {3, "max_items", tbin::kI32, true},
                                       {4, "wait_ms", tbin::kI32, false},
                                       {5, "lease_ms", tbin::kI32, false}};
constexpr FieldSpec kAckArgs[] = {kQueue, kLeaseIds};
constexpr FieldSpec kNackArgs[] = {kQueue, kLeaseIds, {3, "delay_ms", tbin::kI32, false}};
constexpr FieldSpec kExtendArgs[] = {kQueue, kLeaseIds, {3, "lease_ms", tbin::kI32, true}};
constexpr FieldSpec kCreateArgs[] = {
    kQueue, kSubscription, {3, "start", tbin::kStruct, true, tbin::kStop, &kStart}};
constexpr FieldSpec kSeekArgs[] = {
    kQueue, kSubscription, {3, "position", tbin::kStruct, true, tbin::kStop, &kStart}};
constexpr FieldSpec kQueueArgs[] = {kQueue};
constexpr FieldSpec kSubscriptionArgs[] = {kQueue, kSubscription};

struct MethodSpec {
  std::string_view name;
  StructSpec args;
};

constexpr MethodSpec kMethods[] = {
    {"put_items", {kPutItemsArgs}},
    {"get_items", {kGetItemsArgs}},
    {"ack", {kAckArgs}},
    {"nack", {kNackArgs}},
    {"extend_leases", {kExtendArgs}},
    {"create_subscription", {kCreateArgs}},
    {"seek_subscription", {kSeekArgs}},
    {"list_subscriptions", {kQueueArgs}},
    {"delete_subscription", {kSubscriptionArgs}},
    {"queue_info", {kQueueArgs}},
    {"queue_config", {kQueueArgs}},
    {"list_queues", {}},
};

std::string_view TypeName(uint8_t type) {
  switch (type) {
    case kBool:
      return "bool";
    case kByte:
      return "byte";
    case kDouble:
      return "double";
    case kI16:
      return "i16";
    case tbin::kI32:
      return "i32";
    case tbin::kI64:
      return "i64";
    case tbin::kString:
      return "string";
    case tbin::kStruct:
      return "struct";
    case kMap:
      return "map";
    case kSet:
      return "set";
    case tbin::kList:
      return "list";
    case kUuid:
      return "uuid";
    default:
      return "an unknown type";
  }
}

// A container of `n` elements fits the bytes left (every element takes at least one byte).
bool Fits(const Reader& r, int32_t n) { return n >= 0 && static_cast<size_t>(n) <= r.remaining(); }

// Reads past one value of `type`; false if the bytes run out, a size is impossible or the
// nesting is too deep.
bool Skip(Reader& r, uint8_t type, int depth) {
  if (depth > kMaxDepth) return false;
  switch (type) {
    case kBool:
    case kByte:
      r.Byte();
      break;
    case kI16:
      r.I16();
      break;
    case tbin::kI32:
      r.I32();
      break;
    case kDouble:
    case tbin::kI64:
      r.I64();
      break;
    case kUuid:
      r.I64();
      r.I64();
      break;
    case tbin::kString:
      r.String();
      break;
    case tbin::kStruct:
      for (uint8_t t = r.Byte(); r.ok() && t != tbin::kStop; t = r.Byte()) {
        r.I16();
        if (!Skip(r, t, depth + 1)) return false;
      }
      break;
    case kMap: {
      uint8_t key = r.Byte();
      uint8_t value = r.Byte();
      int32_t n = r.I32();
      if (!r.ok() || !Fits(r, n)) return false;
      for (int32_t i = 0; i < n && r.ok(); ++i) {
        if (!Skip(r, key, depth + 1) || !Skip(r, value, depth + 1)) return false;
      }
      break;
    }
    case kSet:
    case tbin::kList: {
      uint8_t elem = r.Byte();
      int32_t n = r.I32();
      if (!r.ok() || !Fits(r, n)) return false;
      for (int32_t i = 0; i < n && r.ok(); ++i) {
        if (!Skip(r, elem, depth + 1)) return false;
      }
      break;
    }
    default:
      return false;
  }
  return r.ok();
}

class Checker {
 public:
  Checker(std::string_view method, std::string_view args) : method_(method), r_(args) {}

  Status Run(const StructSpec& spec) {
    Status s = Struct(spec, "", 0);
    if (s.ok() && !r_.ok()) s = Bad("the arguments are truncated");
    return s;
  }

 private:
  Status Bad(const std::string& what) const {
    return Status::InvalidArgument(std::string(method_) + ": " + what);
  }

  // `where` prefixes field names inside a nested struct ("items[2].").
  Status Struct(const StructSpec& spec, const std::string& where, int depth) {
    uint32_t seen = 0;
    for (uint8_t type = r_.Byte(); r_.ok() && type != tbin::kStop; type = r_.Byte()) {
      int16_t id = r_.I16();
      const FieldSpec* field = nullptr;
      for (const FieldSpec& f : spec.fields) {
        if (f.id == id) field = &f;
      }
      if (field == nullptr) {  // a newer client's field: skipped, as generated code does
        if (!Skip(r_, type, depth + 1)) return Bad("the arguments do not parse");
        continue;
      }
      const std::string name = where + std::string(field->name);
      if (type != field->type) {
        return Bad("field " + std::to_string(id) + " (" + name + ") is " +
                   std::string(TypeName(type)) + ", want " + std::string(TypeName(field->type)));
      }
      seen |= 1u << field->id;
      SAKER_RETURN_IF_ERROR(Value(*field, name, depth));
    }
    if (!r_.ok()) return Bad("the arguments are truncated");
    for (const FieldSpec& f : spec.fields) {
      if (f.required && (seen & (1u << f.id)) == 0) {
        return Bad("missing field " + std::to_string(f.id) + " (" + where + std::string(f.name) +
                   ")");
      }
    }
    return Status::OK();
  }

  Status Value(const FieldSpec& field, const std::string& name, int depth) {
    if (field.type == tbin::kStruct && field.nested != nullptr) {
      return Struct(*field.nested, name + ".", depth + 1);
    }
    if (field.type != tbin::kList) {
      return Skip(r_, field.type, depth + 1) ? Status::OK() : Bad("the arguments do not parse");
    }
    uint8_t elem = r_.Byte();
    int32_t n = r_.I32();
    if (!r_.ok() || !Fits(r_, n)) return Bad(name + ": bad list size");
    if (elem != field.elem && n > 0) {
      return Bad(name + " is a list of " + std::string(TypeName(elem)) + ", want a list of " +
                 std::string(TypeName(field.elem)));
    }
    for (int32_t i = 0; i < n && r_.ok(); ++i) {
      if (field.nested != nullptr) {
        SAKER_RETURN_IF_ERROR(
            Struct(*field.nested, name + "[" + std::to_string(i) + "].", depth + 1));
      } else if (!Skip(r_, elem, depth + 1)) {
        return Bad("the arguments do not parse");
      }
    }
    return Status::OK();
  }

  std::string_view method_;
  Reader r_;
};

}  // namespace

Status CheckNativeArgs(std::string_view method, std::string_view args) {
  for (const MethodSpec& m : kMethods) {
    if (m.name == method) return Checker(method, args).Run(m.args);
  }
  return Status::OK();
}

Status CheckQueueArg(std::string_view method, std::string_view queue) {
  auto name = queue::ParseQueueName(queue);
  if (name.ok()) return Status::OK();
  return Status::InvalidArgument(std::string(method) + ": " + std::string(name.status().message()));
}

Status CheckSubscriptionArg(std::string_view method, std::string_view subscription,
                            bool allow_default) {
  if ((allow_default && subscription.empty()) || queue::IsValidName(subscription)) {
    return Status::OK();
  }
  return Status::InvalidArgument(
      std::string(method) + ": bad subscription name '" + std::string(subscription.substr(0, 200)) +
      "': " + (allow_default ? "\"\" (the default) or " : "") + "1-200 bytes of [A-Za-z0-9_.:-]");
}

Status CheckNotEmpty(std::string_view method, std::string_view field, size_t size) {
  if (size > 0) return Status::OK();
  return Status::InvalidArgument(std::string(method) + ": " + std::string(field) + " is empty");
}

Status CheckRange(std::string_view method, std::string_view field, int64_t value, int64_t lo,
                  int64_t hi) {
  if (value >= lo && value <= hi) return Status::OK();
  return Status::InvalidArgument(std::string(method) + ": " + std::string(field) + " is " +
                                 std::to_string(value) + ", want " + std::to_string(lo) + " to " +
                                 std::to_string(hi));
}

Status CheckStartArg(std::string_view method, int32_t kind, int64_t value) {
  // saker.thrift's StartKind: EARLIEST = 0, LATEST = 1, OFFSET = 2, TIMESTAMP = 3.
  if (kind < 0 || kind > 3) {
    return Status::InvalidArgument(std::string(method) + ": unknown StartKind " +
                                   std::to_string(kind) +
                                   ", want EARLIEST, LATEST, OFFSET or TIMESTAMP");
  }
  if (kind >= 2) return CheckRange(method, "start value", value, 0, INT64_MAX);
  return Status::OK();
}

Status CheckSubscriptionCall(std::string_view method, std::string_view queue,
                             std::string_view subscription, bool allow_default, int32_t kind,
                             int64_t value) {
  SAKER_RETURN_IF_ERROR(CheckQueueArg(method, queue));
  SAKER_RETURN_IF_ERROR(CheckSubscriptionArg(method, subscription, allow_default));
  return CheckStartArg(method, kind, value);
}

Status CheckLeaseCall(std::string_view method, std::string_view queue, size_t lease_ids) {
  SAKER_RETURN_IF_ERROR(CheckQueueArg(method, queue));
  return CheckNotEmpty(method, "lease_ids", lease_ids);
}

}  // namespace saker::net

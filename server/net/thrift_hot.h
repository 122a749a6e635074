// The hot calls decoded and answered by hand: put and put_items (every producer), get_items and
// ack (every worker); and the reply frames the generated code cannot make for us (a
// TApplicationException for a Kestrel method, whose IDL declares no exceptions).
//
// Why: through the generated cob_style processor one 256-byte put cost about twenty heap
// allocations (protocol objects, argument structs, bound continuations, the result struct),
// which perf showed as a fifth of sakerd's CPU under W1, and a get copied every payload into a
// LeasedItem before writing it (docs/BENCHMARKS.md). These functions read the argument struct
// straight from the frame and write the reply bytes the generated code would write.
//
// Decoding is strict about shape: anything but the exact fields of the IDL (an unknown or
// repeated field, a wrong type, a missing argument) returns false, and the caller hands the frame
// to the generated processor, which is the reference for every odd case. The native calls'
// decoders are strict about values too: what thrift_args.h's checks refuse (a bad name, an empty
// list, a negative duration, max_items < 1) returns false, so each refusal is made, and worded,
// in one place, on the generated path. Sizes are bounded by
// the frame. tests/unit/net/thrift_hot_test.cc checks both directions against the generated code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"
#include "server/queue/queue_manager.h"

namespace saker::net {

// The arguments of a put: `queue` points into the frame.
struct PutCall {
  std::string_view queue;
  std::vector<queue::PutItem> items;
};

// saker.thrift `put_items(1: string queue, 2: list<PutItem> items)`: `args` is the frame after
// the message header. A PutItem's ttl_ms becomes an absolute expiry from `now_wall_ms`.
bool DecodePutItemsArgs(std::string_view args, int64_t now_wall_ms, PutCall* out);

// kestrel.thrift `put(1: string queue_name, 2: list<binary> items, 3: i32 expiration_msec)`.
bool DecodeKestrelPutArgs(std::string_view args, int64_t now_wall_ms, PutCall* out);

// saker.thrift `get_items(1: string queue, 2: string subscription, 3: i32 max_items,
// 4: i32 wait_ms = 0, 5: i32 lease_ms = 0)`; the strings point into the frame.
struct GetItemsCall {
  std::string_view queue;
  std::string_view subscription;
  int32_t max_items = 0;
  int32_t wait_ms = 0;
  int32_t lease_ms = 0;
};
bool DecodeGetItemsArgs(std::string_view args, GetItemsCall* out);

// saker.thrift `ack(1: string queue, 2: list<i64> lease_ids)`: only the ids (ids are unique
// server-wide; the queue routes the call in a cluster).
bool DecodeAckArgs(std::string_view args, std::vector<uint64_t>* lease_ids);

// Append whole reply frames (length prefix included), each as the generated code writes it:
// the declared SakerError of native `method` (every native method declares it as field 1);
void AppendNativeError(std::string* out, std::string_view method, int32_t seqid, const Status& st);
// put_items' PutResult, or its error as the declared SakerError;
void AppendPutItemsReply(std::string* out, int32_t seqid, const Result<queue::PutResult>& r);
// get_items' list<LeasedItem>, or its error as the declared SakerError;
void AppendGetItemsReply(std::string* out, int32_t seqid,
                         const Result<std::vector<queue::Delivery>>& r);
// the i32 result of `method` (Kestrel's put, ack).
void AppendI32Reply(std::string* out, std::string_view method, int32_t seqid, int32_t value);
// ack's i32, or its error as the declared SakerError;
void AppendAckReply(std::string* out, int32_t seqid, const Result<int32_t>& r);
// a TApplicationException (INTERNAL_ERROR, `message`) answering `method`, as TProcessor writes
// one: the error reply of a Kestrel method (confirm, abort, flush_queue, ...).
void AppendApplicationException(std::string* out, std::string_view method, int32_t seqid,
                                std::string_view message);

}  // namespace saker::net

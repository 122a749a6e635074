// The put calls decoded and answered by hand: the hot path of every producer.
//
// Why: through the generated cob_style processor one 256-byte put cost about twenty heap
// allocations (protocol objects, argument structs, bound continuations, the result struct),
// which perf showed as a fifth of sakerd's CPU under W1 (docs/BENCHMARKS.md). These functions
// read a put's argument struct straight from the frame into queue::PutItem and write the reply
// bytes the generated code would write.
//
// Decoding is strict about shape: anything but the exact fields of the IDL (an unknown or
// repeated field, a wrong type, a missing argument) returns false, and the caller hands the frame
// to the generated processor, which is the reference for every odd case. Sizes are bounded by
// the frame. tests/unit/net/thrift_put_test.cc checks both directions against the generated code.
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

// Appends the whole reply frame (length prefix included) of put_items: the PutResult, or
// `error` as the declared SakerError when it is not OK.
void AppendPutItemsReply(std::string* out, int32_t seqid, const Result<queue::PutResult>& r);

// Appends the whole reply frame of Kestrel's put: the count of items stored.
void AppendKestrelPutReply(std::string* out, int32_t seqid, int32_t accepted);

}  // namespace saker::net

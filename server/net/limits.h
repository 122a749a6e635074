// What one client connection may send and keep pending, on every protocol: the [server]
// options max_request_bytes, max_item_size, max_open_reads and request_timeout_ms, and the
// backpressure marks.
// Each option has its one default here; ServerConfig holds the one ConnectionLimits that every
// listener, connection and protocol session reads (the codecs' Limits default to the same
// constants). Plain data.
#pragma once

#include <cstddef>
#include <cstdint>

namespace saker::net {

inline constexpr size_t kDefaultMaxRequestBytes = 17u << 20;
inline constexpr size_t kDefaultMaxItemSize = 16u << 20;
inline constexpr int64_t kDefaultRequestTimeoutMs = 30'000;

struct ConnectionLimits {
  // Input a connection may buffer without a whole request (then it is closed): the cap of a
  // memcache or text request (line plus data) and of a Thrift frame. Config validation keeps it
  // at least 1 KiB above max_item_size.
  size_t max_request_bytes = kDefaultMaxRequestBytes;
  // Largest item accepted on any protocol (each queue may set a lower max_item_size).
  size_t max_item_size = kDefaultMaxItemSize;
  // Kestrel maxOpenTransactions: open (reliable) reads per connection per queue.
  uint32_t max_open_reads = 100;
  // Once the first byte of a request has arrived, the whole request (a memcache line and its
  // data block, a text line or put block, a Thrift frame, an HTTP head) must arrive within this,
  // else the connection is closed; 0 = no deadline. Requests the server holds (a long-poll get,
  // one pipelined behind it) and idle time between requests do not count.
  int64_t request_timeout_ms = kDefaultRequestTimeoutMs;
  size_t output_high_water = 4u << 20;  // pending output that pauses reading
  size_t max_pending_replies = 4096;    // unanswered pipelined requests that pause reading
};

}  // namespace saker::net

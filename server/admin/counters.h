// The server's counters: plain data that the protocol sessions and connections bump (loop
// thread only) and that stats.h renders. No dependency on the net library, which depends on
// this one.
#pragma once

#include <cstdint>

#include "server/common/histogram.h"

namespace saker::admin {

// Connection counters, shared by every listener.
struct ConnectionCounters {
  uint64_t current = 0;
  uint64_t total = 0;
  uint64_t refused = 0;           // over max_connections
  uint64_t request_timeouts = 0;  // closed with a request unfinished past request_timeout_ms
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
};

struct ServerCounters {
  int64_t start_wall_ms = 0;
  uint64_t cmd_get = 0;
  uint64_t cmd_set = 0;
  uint64_t cmd_peek = 0;
  uint64_t cmd_monitor = 0;
  uint64_t get_hits = 0;
  uint64_t get_misses = 0;
  uint64_t total_items = 0;      // items stored since start
  uint64_t protocol_errors = 0;  // malformed requests, by any protocol
  uint64_t queue_creates = 0;
  uint64_t queue_deletes = 0;
  ConnectionCounters connections;
  Histogram put_latency;  // request received → durable reply
  Histogram get_latency;  // request received → items handed out (hits only)
};

}  // namespace saker::admin

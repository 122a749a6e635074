// Server-wide counters and the renderings of every statistic saker exports: Kestrel's memcache
// `stats` / `dump_stats` names, Prometheus text exposition (/metrics), /stats.json and the HTML
// status page. Loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/common/histogram.h"
#include "server/net/connection.h"
#include "server/queue/queue_manager.h"
#include "server/storage/storage_thread.h"

namespace saker::admin {

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
  net::ConnectionCounters connections;
  Histogram put_latency;  // request received → durable reply
  Histogram get_latency;  // request received → items handed out (hits only)
};

// What every rendering reads.
struct Snapshot {
  const ServerCounters* counters;
  std::vector<queue::QueueStats> queues;
  storage::StorageStats storage;
  std::string status;  // "UP", "READONLY", "QUIESCENT"
  int64_t now_wall_ms = 0;
};

// Memcache `stats`: "STAT <name> <value>\r\n" lines in Kestrel's order, then "END\r\n".
std::string KestrelStats(const Snapshot& s);
// Memcache `dump_stats [q ...]`: "queue '<name>' {\r\n  k=v\r\n}\r\n" per queue, then "END\r\n".
// An empty `only` means every queue.
std::string KestrelDumpStats(const Snapshot& s, const std::vector<std::string>& only);
// Prometheus text exposition format 0.0.4.
std::string Prometheus(const Snapshot& s);
// /stats.json: one JSON object.
std::string Json(const Snapshot& s);
// The status page: queues, depths, rates and lag, as HTML.
std::string StatusPage(const Snapshot& s);

}  // namespace saker::admin

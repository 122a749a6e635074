// Server-wide counters and the renderings of every statistic saker exports: Kestrel's memcache
// `stats` / `dump_stats` names, Prometheus text exposition (/metrics), /stats.json and the HTML
// status page. Loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/admin/cluster_view.h"
#include "server/admin/counters.h"
#include "server/admin/history.h"
#include "server/queue/queue_manager.h"
#include "server/storage/storage_thread.h"

namespace saker::admin {

// What every rendering reads.
struct Snapshot {
  const ServerCounters* counters;
  std::vector<queue::QueueStats> queues;
  storage::StorageStats storage;
  std::string status;  // "UP", "READONLY", "QUIESCENT"
  int64_t now_wall_ms = 0;
  std::optional<ClusterView> cluster;  // in a cluster only
};

// Memcache `stats`: "STAT <name> <value>\r\n" lines in Kestrel's order, then "END\r\n".
std::string KestrelStats(const Snapshot& s);
// Memcache `dump_stats [q ...]`: "queue '<name>' {\r\n  k=v\r\n}\r\n" per queue, then "END\r\n".
// An empty `only` means every queue.
std::string KestrelDumpStats(const Snapshot& s, const std::vector<std::string>& only);
// Prometheus text exposition format 0.0.4; in a cluster also the saker_cluster_* families
// (cluster_stats.h).
std::string Prometheus(const Snapshot& s);
// /stats.json: one JSON object; in a cluster it has a "cluster" object too.
std::string Json(const Snapshot& s);
// /healthz's body when some queue is stopped, "" when every queue serves:
// "degraded: failed queues orders (corruption), jobs (no_space)\n".
std::string Degraded(const Snapshot& s);
// The status page: queues, depths, lag, and from `history` each queue's put and get rates and a
// depth sparkline (inline SVG), and in a cluster its nodes and queues, as one HTML page with no
// scripts and no external assets.
std::string StatusPage(const Snapshot& s, const History& history);

}  // namespace saker::admin

// QueueConfig and EngineConfig: plain structs with the defaults of docs/SEMANTICS.md. The TOML
// parser (server/config.{h,cc}) fills them; the queue engine only reads them. No globals.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/storage/sync_policy.h"

namespace saker::queue {

enum class WhenFull : uint8_t {
  kReject = 0,      // refuse the put (Kestrel's default)
  kDropOldest = 1,  // move lagging cursors forward past the oldest items (discard_old_when_full)
};

// One queue's options. 0 means "no limit" for every limit below.
struct QueueConfig {
  // Limits on what the queue retains for its slowest subscription (depth and bytes count the
  // items between the lowest ack floor and the end of the log).
  uint64_t max_items = 0;
  uint64_t max_bytes = 0;
  int64_t max_age_ms = 0;      // caps every item's lifetime (Kestrel maxAge)
  uint64_t max_item_size = 0;  // a bigger item is always refused
  WhenFull when_full = WhenFull::kReject;

  storage::SyncPolicy sync;  // default: always
  uint64_t segment_bytes = 64ull << 20;
  // A segment also rolls once its first batch is this old (0 = by size only).
  int64_t segment_age_ms = 0;

  // Leases. A reliable read without its own lease time gets lease_timeout_ms (0 = never
  // expires; memcache /open leases end with their connection).
  int64_t lease_timeout_ms = 0;
  // Delay before an aborted or expired lease is deliverable again: redelivery_backoff_ms[n-1]
  // for the n-th redelivery (the last entry repeats); empty = redelivery_delay_ms always.
  int64_t redelivery_delay_ms = 0;
  std::vector<int64_t> redelivery_backoff_ms;
  // After this many deliveries the item goes to the dead-letter queue and is acked on its
  // subscription. 0 = unlimited.
  uint32_t max_deliveries = 0;
  std::string dlq;        // dead-letter queue name; empty = "<queue>.dlq"
  std::string expire_to;  // expired items are appended to this queue; empty = dropped

  // Idempotency keys are remembered this long (0 = keys ignored).
  int64_t dedupe_window_ms = 120'000;
  // Flow control: at most this many leased items per subscription (0 = unlimited).
  uint64_t max_unacked = 10'000;

  // Retention of acked data: whole segments below every subscription's ack floor are deleted
  // unless needed to keep retain_age_ms of history or retain_bytes of log (0 = keep nothing).
  int64_t retain_age_ms = 0;
  uint64_t retain_bytes = 0;

  // In a cluster (replication/PROTOCOL.md): copies of the log, and how many must have a put
  // durable before it is acknowledged (0 = a majority of `replicas`). Fixed at creation.
  uint32_t replicas = 3;
  uint32_t ack_quorum = 0;

  bool operator==(const QueueConfig&) const = default;
};

// Server-wide options of the queue engine.
struct EngineConfig {
  std::string data_dir = "./data";
  // This node's id in a cluster (0-4095): every lease id carries it, so ids handed out by two
  // nodes never collide.
  uint32_t node_id = 0;
  // Recent batches kept in memory for delivery, across every queue (storage::TailCache).
  uint64_t tail_cache_bytes = 64ull << 20;
  // From this many queues to fsync in one storage round, one syncfs() of the data directory's
  // filesystem syncs them all (storage::StorageThread); 0 = always one fdatasync per queue.
  size_t syncfs_min_queues = 4;
  // A storage round's appends to one `always` queue of at least this many bytes go to disk
  // with O_DIRECT (storage::LogOptions::direct_min_bytes); 0 = always through the page cache.
  uint64_t direct_io_min_bytes = 16 << 10;
  // Batches read back from the logs for lagging subscriptions, across every queue.
  uint64_t cold_cache_bytes = 64ull << 20;
  // A meta.db checkpoint of the cursor logs is committed at most this often (acks are durable
  // in the cursor log before; the checkpoint bounds what a restart replays).
  int64_t commit_interval_ms = 5;
  // Resolution of lease, waiter and redelivery deadlines.
  int64_t tick_ms = 10;
  // Kestrel's expiration timer: this often, every subscription's expired head items are
  // expired (moved to expire_to, or dropped) with no reader; 0 = only when read.
  int64_t expiry_sweep_ms = 1'000;
  // Bytes asked from the log per cold read, and the threads that serve cold reads.
  uint64_t read_bytes = 1 << 20;
  int reader_threads = 1;
  // Segment file descriptors kept open across every queue (an idle queue holds none).
  size_t max_open_files = 1024;
  // Defaults for every queue; `config_for` (if set) returns a queue's resolved config (defaults
  // plus the overrides whose glob matches the name). Called on the loop thread.
  QueueConfig defaults;
  std::function<QueueConfig(std::string_view queue)> config_for;
};

}  // namespace saker::queue

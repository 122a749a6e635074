// saker's native API: `service Saker extends Kestrel`, so one connection serves both Kestrel's
// eleven methods and these. Every native method throws SakerError with a stable code.
//
// Names: `queue` is a queue name (1-200 bytes of [A-Za-z0-9_.:-]); `subscription` names a
// durable reader of it ("" = the queue's default subscription, which Kestrel methods use).
// Times: `*_ms` durations are milliseconds; `*_at_ms` are Unix wall-clock milliseconds.

include "kestrel.thrift"

namespace java saker.thrift
namespace cpp saker.api

// The codes of server/common/status.h (StatusCode); they never change.
enum ErrorCode {
  OK = 0,
  NOT_FOUND = 1,
  INVALID_ARGUMENT = 2,
  CORRUPTION = 3,
  IO_ERROR = 4,
  BUSY = 5,
  NOT_LEADER = 6,
  TIMEOUT = 7,
  UNAVAILABLE = 8,
}

exception SakerError {
  // One of ErrorCode (sent as i32 so that new codes never break old clients).
  1: i32 code
  2: string message
}

struct PutItem {
  1: binary data
  // Idempotency key: a repeat within the queue's dedupe window returns the original offset.
  2: optional string key
  // Relative lifetime; 0 = never expires (still capped by the queue's max_age).
  3: i64 ttl_ms = 0
}

struct PutResult {
  // How many items were stored: a prefix of the request.
  1: i32 accepted
  // The offset of each accepted item, in request order (a deduplicated item: its original).
  2: list<i64> offsets
  // Why item `accepted` was refused; absent when every item was accepted.
  3: optional SakerError refused
}

struct LeasedItem {
  // Use with ack / nack / extend_leases; 0 when the read was not leased.
  1: i64 lease_id
  2: i64 offset
  // Deliveries of this item on this subscription, this one included.
  3: i32 delivery_count
  4: binary data
  5: i64 put_at_ms
  // 0 = never
  6: i64 expires_at_ms
}

enum StartKind {
  EARLIEST = 0,
  LATEST = 1,
  OFFSET = 2,
  TIMESTAMP = 3,
}

struct StartPosition {
  1: StartKind kind = StartKind.LATEST
  // OFFSET: the first offset to deliver. TIMESTAMP: the first item put at or after this Unix ms.
  2: i64 value = 0
}

struct SubscriptionInfo {
  1: string name
  // Every offset below is acknowledged.
  2: i64 ack_floor
  // Items not yet acknowledged, leased ones included (lag in items).
  3: i64 lag
  // Age of the oldest unacknowledged item (lag in time); 0 if none.
  4: i64 lag_ms
  // Items handed out and not yet acknowledged or returned (Kestrel's open_transactions).
  5: i64 leased
  6: i32 waiters
  7: i64 delivered
  8: i64 redelivered
  9: i64 acked
  10: i64 expired
  11: i64 dead_lettered
  // Leases that ended without an ack (nack, abort, lease expiry, a memcache connection
  // closing): their items became deliverable again.
  12: i64 aborted
  // Items this subscription never read because when_full = drop_oldest (or retention) skipped
  // them.
  13: i64 dropped
  // Kestrel's items and bytes: the items of `lag` that are not leased, and their payload bytes.
  14: i64 items
  15: i64 bytes
}

struct QueueDetails {
  1: string name
  // Oldest offset still stored / offset the next put gets.
  2: i64 first_offset
  3: i64 next_offset
  // Kestrel's counts, of the default subscription: items neither acknowledged nor leased, and
  // their payload bytes (open_transactions counts the leased ones).
  4: i64 items
  5: i64 bytes
  6: i64 log_bytes
  7: i64 put_items
  8: i64 put_refused
  9: i64 deduplicated
  10: i64 dropped
  // The queue stopped after a write error (fail-stop).
  11: bool failed
  12: list<SubscriptionInfo> subscriptions
  // The default subscription's leased items (Kestrel's open_transactions).
  13: i64 open_transactions
  // What the queue retains for its slowest subscription, leased items included (what
  // max_items and max_bytes limit), and its payload bytes.
  14: i64 depth
  15: i64 depth_bytes
  // Why the queue is stopped, "" while it serves: "corruption" (puts and gets refused until
  // repair_queue), "no_space" (puts refused, reads go on, resumes by itself) or "io_error"
  // (puts and gets refused until resume_queue); and the error.
  16: string failure_kind
  17: string failure
}

// One damaged stretch repair_queue removed.
struct RepairCut {
  // "items" (offsets are item offsets) or "cursors" (the cursor log: offsets count cursor
  // records; acks in them are lost, so their items are delivered again).
  1: string log
  2: string segment
  // Byte position of the damage in the segment, and the bytes removed there.
  3: i64 position
  4: i64 bytes
  // Offsets [first_offset, end_offset) are gone.
  5: i64 first_offset
  6: i64 end_offset
}

struct RepairReport {
  // Intact batches in the queue's item log after the repair.
  1: i64 batches_kept
  // Empty when nothing was damaged.
  2: list<RepairCut> cut
}

// A queue's resolved configuration (packaging/saker.toml documents each option). 0 = no limit.
struct QueueSettings {
  1: i64 max_items
  2: i64 max_bytes
  3: i64 max_age_ms
  4: i64 max_item_size
  // "reject" or "drop_oldest"
  5: string when_full
  // "always", "never" or "interval:<ms>"
  6: string sync
  7: i64 segment_bytes
  8: i64 lease_timeout_ms
  9: i64 redelivery_delay_ms
  10: list<i64> redelivery_backoff_ms
  11: i32 max_deliveries
  12: string dlq
  13: string expire_to
  14: i64 dedupe_window_ms
  15: i64 max_unacked
  16: i64 retain_age_ms
  17: i64 retain_bytes
}

// What one node of a cluster knows about it (cluster_status). Offsets are item offsets.
struct ClusterNodeStatus {
  1: i32 id
  2: string host
  3: i32 replication_port
  4: i32 thrift_port
  5: i32 memcache_port
  6: i32 text_port
  7: i32 admin_port
  // The answering node's last append round trip to this node, in microseconds (0: none yet).
  8: i64 append_rtt_us
}

struct ClusterFollowerStatus {
  1: i32 node
  // What the follower has acknowledged durable.
  2: i64 durable_end
  // Offsets the leader has that the follower has not acknowledged.
  3: i64 lag
  // Receiving batches as they are appended.
  4: bool synced
}

struct ClusterQueueStatus {
  1: string name
  // Node id of the leader; -1 while none is known.
  2: i32 leader
  3: i64 epoch
  4: list<i32> replicas
  5: i32 ack_quorum
  // The answering node's role for the queue: "leader", "follower", "candidate" or "none".
  6: string role
  // Offsets below commit_end are committed (acknowledged, deliverable); log_end is the end of
  // the answering node's copy.
  7: i64 commit_end
  8: i64 log_end
  // Filled only when the answering node leads the queue.
  9: list<ClusterFollowerStatus> followers
}

// The answering node's counters since it started.
struct ClusterCounterStatus {
  // Leaderships won and opened / takeovers given up (coverage, lost compare-and-set, fenced).
  1: i64 takeovers
  2: i64 takeover_failures
  3: i64 fences_received
  // Appends and fences refused for a lower epoch.
  4: i64 fenced_rejections
  5: i64 step_downs
  6: i64 appends_sent
  7: i64 appends_received
  // Puts answered "unknown" (TIMEOUT): the quorum was not reached in time.
  8: i64 unknown_puts
}

struct ClusterStatus {
  // The answering node.
  1: i32 node_id
  2: bool zookeeper_connected
  // Its --zookeeper string.
  3: string zookeeper
  // Live nodes, as ZooKeeper lists them.
  4: list<ClusterNodeStatus> nodes
  // The queues this node knows, by name.
  5: list<ClusterQueueStatus> queues
  6: ClusterCounterStatus counters
}

service Saker extends kestrel.Kestrel {
  // Appends items in order; each is stored durably (at the queue's sync level) before the reply.
  PutResult put_items(1: string queue, 2: list<PutItem> items) throws (1: SakerError err)

  // Takes up to `max_items` items from a subscription, waiting up to `wait_ms` for the first
  // (0 = return at once). Items are leased for `lease_ms` (0 = the queue's lease_timeout_ms)
  // and come back for redelivery unless acknowledged.
  list<LeasedItem> get_items(1: string queue, 2: string subscription, 3: i32 max_items,
                             4: i32 wait_ms = 0, 5: i32 lease_ms = 0) throws (1: SakerError err)

  // End or change leases by id (from any connection); each returns how many ids matched.
  // `queue` routes the call (to the queue's leader in a cluster); ids are unique server-wide.
  // ack and nack answer once the change is durable at the queue's sync level (IO_ERROR if the
  // queue went fail-stop first).
  i32 ack(1: string queue, 2: list<i64> lease_ids) throws (1: SakerError err)
  // Makes the items deliverable again after `delay_ms` (< 0: the queue's redelivery delay).
  i32 nack(1: string queue, 2: list<i64> lease_ids, 3: i32 delay_ms = -1) throws (1: SakerError err)
  // Sets each lease to expire `lease_ms` from now.
  i32 extend_leases(1: string queue, 2: list<i64> lease_ids, 3: i32 lease_ms) throws (1: SakerError err)

  // INVALID_ARGUMENT if it exists.
  void create_subscription(1: string queue, 2: string subscription, 3: StartPosition start)
      throws (1: SakerError err)
  // Everything before `position` is acknowledged, everything from it on is deliverable.
  void seek_subscription(1: string queue, 2: string subscription, 3: StartPosition position)
      throws (1: SakerError err)
  list<SubscriptionInfo> list_subscriptions(1: string queue) throws (1: SakerError err)
  void delete_subscription(1: string queue, 2: string subscription) throws (1: SakerError err)

  QueueDetails queue_info(1: string queue) throws (1: SakerError err)
  QueueSettings queue_config(1: string queue) throws (1: SakerError err)
  list<string> list_queues() throws (1: SakerError err)

  // Salvages a damaged queue while the server runs: keeps every intact batch, cuts the damaged
  // bytes (docs/OPERATIONS.md "Damage and repair"); the queue then serves again. NOT_FOUND,
  // BUSY (a repair is running), UNAVAILABLE (its logs could not be opened at startup).
  RepairReport repair_queue(1: string queue) throws (1: SakerError err)
  // Ends a stop after a write error once the disk takes writes again. CORRUPTION if the queue
  // is damaged (repair it), IO_ERROR while the probe write fails.
  void resume_queue(1: string queue) throws (1: SakerError err)

  // The cluster as the answering node sees it (docs/OPERATIONS.md "Cluster status"). NOT_FOUND
  // "not a cluster" on a node started without --zookeeper.
  ClusterStatus cluster_status() throws (1: SakerError err)
}

// QueueManager: the queue engine's whole API for the protocol adapters (memcache, text, thrift,
// native). It owns every queue, subscription, lease and waiter of the server. A queue is one log;
// a subscription is a cursor over it (ack floor + acked offsets above it + delivery counts), so
// fan-out never copies items. See docs/SEMANTICS.md for the rules users see.
//
// Threads: every method is loop thread only, except Open(). Callbacks run on the loop
// thread, never inline unless said. Disk work goes to the StorageThread (writes, meta.db) and to
// cold reads off the loop thread.
//
// Names: a queue name is 1-200 bytes of [A-Za-z0-9_.:-]. Methods that take `name` accept
// "queue" (the default subscription, empty name) or "queue+sub" (subscription `sub`). A queue is
// created on first reference; "queue+sub" on first reference creates `sub` at the latest offset.
// Bad names give InvalidArgument.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/clock.h"
#include "server/common/event_loop.h"
#include "server/common/status.h"
#include "server/queue/queue_config.h"
#include "server/queue/replicator.h"
#include "server/storage/batch.h"
#include "server/storage/log.h"
#include "server/storage/storage_thread.h"

namespace saker::queue {

class Engine;

// Kestrel's server status. ReadOnly refuses put, flush, delete and flush_expired, and seek and
// subscription deletion; Quiescent also refuses get and peek; ack / abort / extend work in every
// status. Refusals are Unavailable.
enum class ServerStatus : uint8_t { kUp = 0, kReadOnly = 1, kQuiescent = 2 };
std::string_view ServerStatusName(ServerStatus status);  // "UP", "READONLY", "QUIESCENT"

// --- Put ------------------------------------------------------------------------------------

struct PutItem {
  std::string payload;
  int64_t expiry_ms = 0;  // absolute wall-clock Unix ms; 0 = never
  std::string key;        // idempotency key; empty = none
};

struct PutResult {
  // Items accepted, a prefix of the request (Kestrel): items after the first refused one are
  // not stored.
  uint32_t accepted = 0;
  // Offsets of the accepted items, in request order; a repeated key within the dedupe window
  // gives the original item's offset.
  std::vector<uint64_t> offsets;
  // Why item `accepted` was refused (OK when all were accepted): InvalidArgument (too big),
  // Busy (queue full and when_full = reject).
  Status refused;
};
using PutDone = std::function<void(Result<PutResult>)>;

// --- Get ------------------------------------------------------------------------------------

struct GetOptions {
  uint32_t max_items = 1;
  // How long to wait when fewer than wanted are available: 0 = return at once, < 0 = forever.
  int64_t timeout_ms = 0;
  // false: return as soon as at least one item is there (memcache). true: wait until max_items
  // or the deadline, whichever first (Kestrel thrift get).
  bool fill = false;
  // > 0: reliable read, the items are leased for this long. 0 with `reliable`: leased with the
  // queue's lease_timeout_ms (0 there = until acked, aborted or the owner is released).
  // Otherwise plain read: acked as they are handed out.
  int64_t lease_ms = 0;
  bool reliable = false;
  // Return the next deliverable items without leasing or acking them.
  bool peek = false;
  // Opaque owner of the leases (a memcache connection); 0 = none. See ReleaseOwner().
  uint64_t owner = 0;
};

struct Delivery {
  uint64_t lease_id = 0;  // 0 for plain reads and peeks
  uint64_t offset = 0;
  uint32_t delivery_count = 0;  // this delivery included
  int64_t timestamp_ms = 0;     // when it was put
  int64_t expiry_ms = 0;
  std::string_view payload;  // valid while `batch` is held
  storage::BatchPtr batch;
};
using GetDone = std::function<void(Result<std::vector<Delivery>>)>;
// Runs once a cursor change (ack, abort, flush) is durable; see QueueManager::Ack.
using DurableDone = std::function<void(Status)>;

// Identifies a parked get; 0 = the get already completed.
using GetHandle = uint64_t;

// --- Subscriptions and stats -----------------------------------------------------------------

struct StartPosition {
  enum class Kind : uint8_t { kEarliest, kLatest, kOffset, kTimestamp };
  Kind kind = Kind::kLatest;
  uint64_t offset = 0;       // kOffset: first offset to deliver
  int64_t timestamp_ms = 0;  // kTimestamp: first item put at or after this wall time
  static StartPosition Earliest() { return {Kind::kEarliest, 0, 0}; }
  static StartPosition Latest() { return {Kind::kLatest, 0, 0}; }
  static StartPosition Offset(uint64_t o) { return {Kind::kOffset, o, 0}; }
  static StartPosition Timestamp(int64_t ms) { return {Kind::kTimestamp, 0, ms}; }
};

struct SubscriptionStats {
  std::string name;        // "" = default subscription
  uint64_t ack_floor = 0;  // every offset below is done
  uint64_t depth = 0;      // items from the ack floor to the end, not acked, leased included
  // Kestrel's `items` and `bytes`: the items of `depth` that are not leased (open), and their
  // payload bytes (approximate for items put before the last restart).
  uint64_t items = 0;
  uint64_t bytes = 0;
  uint64_t leased = 0;  // Kestrel's open_transactions: handed out and not yet acked or aborted
  uint64_t waiters = 0;
  int64_t oldest_age_ms = 0;  // age of the oldest unacked item (lag in time), 0 if none
  uint64_t delivered = 0;
  uint64_t redelivered = 0;
  uint64_t acked = 0;
  uint64_t aborted = 0;
  uint64_t expired = 0;
  uint64_t dropped = 0;
  uint64_t dead_lettered = 0;
  uint64_t flushes = 0;  // flush / flush_all of this subscription (Kestrel's total_flushes)
};

struct QueueStats {
  std::string name;
  uint64_t id = 0;
  uint64_t first_offset = 1;  // oldest offset still in the log
  uint64_t next_offset = 1;   // offset the next put gets
  // Kestrel's counts, of the default subscription: items not acked and not leased, their
  // payload bytes, and the leased (open) items.
  uint64_t items = 0;
  uint64_t bytes = 0;
  uint64_t open_transactions = 0;
  // What the queue retains for its slowest subscription (what max_items / max_bytes limit):
  // items from the lowest ack floor to the end, leased included, and their payload bytes.
  uint64_t depth = 0;
  uint64_t depth_bytes = 0;
  uint64_t durable_end = 1;  // offsets below are fsynced on this node
  uint64_t commit_end = 1;   // offsets below may be delivered (single node: = durable_end)
  uint64_t epoch = 0;        // leader term written into every batch (0: standalone)
  uint64_t incarnation = 0;  // random at creation; names this queue's log on every node
  uint64_t log_bytes = 0;
  uint64_t log_direct_writes = 0;  // writes of the log with O_DIRECT since the server started
  uint64_t put = 0;
  uint64_t put_refused = 0;
  uint64_t deduped = 0;
  uint64_t dropped = 0;                          // items dropped by when_full = drop_oldest
  bool failed = false;                           // stopped (failure says why)
  std::vector<SubscriptionStats> subscriptions;  // default subscription first
  // Why the queue is stopped ("" while it serves): "corruption" (a damaged batch: puts and
  // gets refused until RepairQueue), "no_space" (puts refused, reads go on, resumes by itself)
  // or "io_error" (puts and gets refused until ResumeQueue); and the error itself.
  std::string failure_kind;
  std::string failure;
  uint64_t repairs = 0;           // RepairQueue runs that cut something
  uint64_t repair_cut_bytes = 0;  // bytes they removed
  uint64_t repair_cut_items = 0;  // item offsets they removed (holes)
  uint64_t resumes = 0;           // stops ended by a probe write or ResumeQueue
};

// What RepairQueue kept and cut.
struct RepairReport {
  uint64_t batches_kept = 0;          // intact batches in the item log after the repair
  std::vector<storage::LogCut> cuts;  // of the item log: offsets are item offsets
  // Of the cursor log (its offsets count cursor records): acks in them are lost, so their items
  // are delivered again.
  std::vector<storage::LogCut> cursor_cuts;
};

// --- The manager -----------------------------------------------------------------------------

class QueueManager {
 public:
  // Opens (creating if needed) config.data_dir: meta.db and one folder per queue, recovering
  // every queue and cursor (meta.db's checkpoint, then each queue's cursor log from it).
  // Blocking; call before the loop serves clients. `storage` and `loop` must outlive the
  // manager, and `storage` must be started. The next boot's lease ids differ from this one's.
  // `replicator` decides each queue's commit_end (nullptr: the single node's LocalReplicator).
  // Corruption / IOError if the data dir cannot be used; a queue that cannot be recovered is
  // stopped (IOError to its puts) and the others serve.
  static Result<std::unique_ptr<QueueManager>> Open(EngineConfig config, EventLoop* loop,
                                                    storage::StorageThread* storage,
                                                    const Clock* clock = SystemClock::Get(),
                                                    std::unique_ptr<Replicator> replicator = {});
  ~QueueManager();
  QueueManager(const QueueManager&) = delete;
  QueueManager& operator=(const QueueManager&) = delete;

  // Completes every waiter (with what it has), writes every cursor change and commits a meta.db
  // checkpoint, then runs `done`. After
  // Close every call is refused with Unavailable. Stop the StorageThread only after `done`,
  // and destroy the manager only after the StorageThread has stopped.
  void Close(std::function<void(Status)> done);

  // Appends `items` to `queue` (a subscription suffix is ignored: puts go to the queue).
  // `done` runs once every accepted item is durable at the queue's sync level, or with the
  // error that refused the whole put: InvalidArgument (name), NotLeader or Unavailable (Admit:
  // asked once the Replicator knows), Unavailable (status, closed),
  // IOError (the queue is stopped: a write error or a full disk), Corruption (the queue is
  // damaged; docs/OPERATIONS.md). Items put to one queue during one loop iteration are
  // written as one batch. When nothing needs writing (all refused or deduplicated and durable)
  // `done` runs before Put returns.
  void Put(std::string_view queue, std::vector<PutItem> items, PutDone done);

  // Takes up to max_items from `name`'s subscription. `done` runs once (possibly inline, before
  // Get returns 0), with the items (maybe none after a timeout), or an error: InvalidArgument,
  // NotLeader or Unavailable (Admit, as for Put), Unavailable (status), NotFound (queue deleted
  // while waiting), Corruption / IOError (the queue is stopped, but for a full disk, which keeps
  // serving reads; docs/OPERATIONS.md). Returns a handle while parked.
  GetHandle Get(std::string_view name, const GetOptions& options, GetDone done);
  // Drops a parked get at once (its client went away); O(1). Items it already held are
  // released for redelivery. `done` never runs. False if unknown or already completed.
  bool CancelGet(GetHandle handle);

  // Whether this node serves client operations on the queue `name` names ("queue" or
  // "queue+sub") now. Every call here that names a queue is admitted this way and answers its
  // refusal, but for OwnerLeaseCount (a count of this node's leases), SetQueueConfig,
  // RepairQueue and ResumeQueue (this node's own copy) and the replication calls (AppendBatch
  // and after). Put and Get, which answer through a callback, wait while the Replicator does
  // not know the queue's leader yet; the others answer at once. Calls by lease id name no
  // queue: a protocol whose request names one (the native ack, nack, extend_leases) asks here
  // before calling them. OK; InvalidArgument (a bad name); NotLeader (the message names the
  // leader: "queue Q is led by node N: thrift=H:P ..."); Unavailable (no leader; or not known
  // yet: "queue Q: no leader known yet, retry", and it is being looked up, so a retry finds
  // out). A single node serves every queue.
  Status Admit(std::string_view name);
  // True when Admit never refuses a valid name (a single node).
  bool ServesEveryQueue() const;

  // Lease ids are unique across restarts and nodes (they carry EngineConfig::node_id) and can
  // be used from any caller. Unknown ids are ignored; each returns how many leases it ended /
  // changed, at once (the in-memory state has changed when it returns).
  //
  // `durable` (optional) runs on the loop thread once the changes are durable at their
  // queues' sync level (sync = always: fsynced in the cursor log), with IOError if a queue went
  // fail-stop first; at once (from the same call's completions) when nothing changed. A reply
  // that tells a client "done" goes out from `durable` (docs/SEMANTICS.md: an answered ack is
  // final).
  size_t Ack(std::span<const uint64_t> lease_ids, DurableDone durable = nullptr);
  // Makes the items deliverable again after `delay_ms` (< 0: the queue's redelivery delay).
  size_t Abort(std::span<const uint64_t> lease_ids, int64_t delay_ms = -1,
               DurableDone durable = nullptr);
  // Sets each lease to expire `lease_ms` from now (in memory only: leases are not durable).
  size_t Extend(std::span<const uint64_t> lease_ids, int64_t lease_ms);

  // Owner helpers (memcache /close, /abort, confirm, connection close). The oldest lease is the
  // one handed out first. Confirm/AbortOldest answer false if `owner` has no lease on `name`.
  // `durable` as for Ack (it does not run when the call returns an error). Admitted as Admit
  // says: its refusal is returned and nothing changes.
  Result<bool> ConfirmOldest(uint64_t owner, std::string_view name, DurableDone durable = nullptr);
  Result<bool> AbortOldest(uint64_t owner, std::string_view name, DurableDone durable = nullptr);
  // Kestrel `confirm <q> <count>`: acks the `count` oldest leases, or none (false) if fewer.
  Result<bool> ConfirmCount(uint64_t owner, std::string_view name, size_t count,
                            DurableDone durable = nullptr);
  size_t OwnerLeaseCount(uint64_t owner, std::string_view name) const;
  // Aborts every lease of `owner` (no redelivery delay); returns how many.
  size_t ReleaseOwner(uint64_t owner);

  // Subscriptions. Create fails with InvalidArgument if it exists.
  Status CreateSubscription(std::string_view queue, std::string_view sub, StartPosition start);
  // Moves a subscription: everything below the new position is acked, everything from it on
  // is deliverable; its leases are dropped.
  Status Seek(std::string_view name, StartPosition start);
  Status DeleteSubscription(std::string_view queue, std::string_view sub);
  Result<std::vector<SubscriptionStats>> ListSubscriptions(std::string_view queue);

  // Acks everything currently in `name`'s subscription (leases included). `durable` as for Ack
  // (it does not run when the call returns an error). FlushAll (and FlushAllExpired) act on
  // every queue this node serves (Admit), and leave those another node leads alone.
  Status Flush(std::string_view name, DurableDone durable = nullptr);
  Status FlushAll(DurableDone durable = nullptr);
  // Acks (or moves to expire_to) every expired item of the subscription now; returns the count.
  Result<uint64_t> FlushExpired(std::string_view name);
  Result<uint64_t> FlushAllExpired();
  // Removes the queue, its subscriptions and its files. Parked gets complete with NotFound.
  // `durable` (optional; not run when the call returns an error) runs once meta.db holds the
  // deletion (its files go after that), or with IOError if that commit failed: the queue is
  // then not deleted and serves again. A reply that says "deleted" goes out from it.
  Status DeleteQueue(std::string_view queue, DurableDone durable = nullptr);

  std::vector<std::string> ListQueues() const;
  // Queues created since the server started (Kestrel's queue_creates).
  uint64_t queue_creates() const;
  // Stats of one queue (created if missing, as Kestrel's peek). NotFound never; InvalidArgument.
  Result<QueueStats> GetQueueStats(std::string_view queue);
  std::vector<QueueStats> AllStats() const;

  // Applies a new config to an existing queue (reload). Limits apply to later puts.
  Status SetQueueConfig(std::string_view queue, const QueueConfig& config);

  ServerStatus status() const;
  // Persisted (committed on the storage thread); effective at once.
  void SetStatus(ServerStatus status);

  // Replication and mirroring: appends `batch`, received whole from a leader or a mirror's
  // source (parsed and CRC-checked by storage::Batch::Parse), at its own base offset, which must
  // be the queue's next offset (else InvalidArgument; Busy while local puts are not yet
  // written). Written through the storage thread like a put, in call order; `done`
  // runs once commit_end passes it (the batch's epoch becomes the queue's if higher), or with the
  // error that refused it. The queue is created on first reference.
  void AppendBatch(std::string_view queue, storage::BatchPtr batch,
                   std::function<void(Status)> done);
  // Cuts `queue` back so that its next offset is `offset`, a batch boundary in [first offset,
  // next offset] (else InvalidArgument); durably (Log::Truncate) before `done` runs. From the call
  // on, nothing at or above `offset` is served: not from the tail cache, the cold cache or a cold
  // read in flight; puts not yet committed there fail with Unavailable. Offsets at or above it
  // must not have been delivered (they lie above commit_end when replication truncates);
  // subscriptions whose floor is above are moved back to it. NotFound if there is no such queue;
  // Busy while appends to it are not yet handed to storage (call again after the loop turned).
  void Truncate(std::string_view queue, uint64_t offset, std::function<void(Status)> done);

  // The replicated log's view of one queue (replication/): what fence and takeover compare.
  struct ReplicaInfo {
    bool exists = false;
    uint64_t id = 0;      // this node's folder number (CommitSink's queue id)
    bool failed = false;  // stopped (damaged, disk full, I/O error): never elected
    uint64_t incarnation = 0;
    uint64_t first_offset = 1;
    uint64_t next_offset = 1;  // offsets below are in the log or on their way to it
    uint64_t durable_end = 1;
    uint64_t commit_end = 1;
    uint64_t epoch = 0;  // the highest epoch of a batch in the log, or set by SetEpoch
  };
  ReplicaInfo GetReplicaInfo(std::string_view queue) const;
  // The configuration `queue` gets (or has, if it exists).
  QueueConfig ConfigFor(std::string_view queue) const;
  // Creates `queue` with the cluster's `incarnation` if it is not here (the queue's folder and
  // logs are opened like any new queue's). InvalidArgument if a queue of that name with another
  // incarnation is here.
  Status EnsureQueue(std::string_view queue, uint64_t incarnation);
  // The epoch this node, as the queue's leader, writes into every batch it builds from now on.
  void SetEpoch(std::string_view queue, uint64_t epoch);
  // Reads `queue`'s item log from `offset` (at most about `max_bytes`, at least one batch) off
  // the loop thread: what a follower lacks. Batches not yet handed to storage are not there.
  void ReadLog(std::string_view queue, uint64_t offset, size_t max_bytes,
               std::function<void(Result<std::vector<storage::BatchPtr>>)> done);
  // Answers the puts of `queue` still waiting for commit_end that were handed in before
  // `before_ms` (monotonic clock; INT64_MAX: all of them) with `st`: a put whose replication
  // did not reach its quorum in time, or whose leader lost its leadership, is "unknown".
  void FailPendingPuts(std::string_view queue, int64_t before_ms, const Status& st);
  // Monotonic time the oldest put of `queue` waiting for commit_end was handed in; 0 if none.
  int64_t OldestPendingPut(std::string_view queue) const;

  // Salvages `queue` while the server runs (docs/OPERATIONS.md "Damage and repair"): both its
  // logs are read whole on the storage thread, every intact batch is kept and the damaged bytes
  // are cut (storage::Log::Repair). The cut item offsets are skipped by every subscription
  // (counted as dropped); the queue then serves again. `done` gets what was kept and cut (no
  // cuts: nothing was damaged), NotFound, Busy (a repair is running), Unavailable (its logs
  // could not be opened at startup), or the error that stopped the repair (the queue stays
  // stopped).
  void RepairQueue(std::string_view queue, std::function<void(Result<RepairReport>)> done);
  // Ends a stop after a write error once the disk takes writes again (a probe write, then the
  // logs reloaded from their files). OK at once if the queue is not stopped; Corruption if it is
  // damaged (repair it); IOError while the probe fails. A queue stopped by a full disk also
  // does this by itself, one probe a second.
  void ResumeQueue(std::string_view queue, std::function<void(Status)> done);

  // Processes due deadlines (leases, waiters, delayed redelivery). A timer calls this every
  // tick_ms; tests with a FakeClock call it after Advance().
  void Tick();
  // Commits a meta.db checkpoint of the cursor logs now (normally every commit_interval_ms);
  // `done` runs when it is in meta.db and the segments it frees are gone.
  void CommitCursors(std::function<void(Status)> done);

 private:
  explicit QueueManager(std::unique_ptr<Engine> engine);
  std::unique_ptr<Engine> engine_;
};

// Splits "queue+sub" into its parts and validates both (docs/SEMANTICS.md name rules).
struct QueueName {
  std::string_view queue;
  std::string_view subscription;  // "" = default
};
Result<QueueName> ParseQueueName(std::string_view name);
bool IsValidName(std::string_view name);

}  // namespace saker::queue

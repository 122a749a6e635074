// The engine's in-memory model of one queue and its subscriptions (docs/SEMANTICS.md). A Queue owns
// its log, its two ends (durable_end: fsynced here; commit_end: deliverable and acknowledged), the
// records not yet handed to storage, its pending puts, its idempotency keys and its
// subscriptions; a Subscription owns its Cursor, the offsets it has leased and its blocked gets.
// The engine (engine.h) wires them to the storage thread, the caches and the lease table.
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/queue/cursor.h"
#include "server/queue/dedupe_index.h"
#include "server/queue/queue_config.h"
#include "server/queue/queue_manager.h"
#include "server/storage/batch.h"
#include "server/storage/log.h"

namespace saker::queue {

struct Queue;

// "queue" for the default subscription, "queue+sub" otherwise (Kestrel's fan-out name).
std::string FullName(std::string_view queue, std::string_view sub);
// The queue expired-and-over-the-limit items go to: `dlq` from the config, else "<queue>.dlq".
std::string DeadLetterName(std::string_view queue, const QueueConfig& config);

// A blocked get.
struct Waiter {
  GetHandle handle = 0;
  GetOptions options;
  GetDone done;
  int64_t deadline_ms = 0;     // monotonic; INT64_MAX = forever
  std::vector<uint64_t> held;  // lease ids, in delivery order
  // Enough items to answer: max_items, or any for a get that does not fill.
  bool Complete() const {
    if (held.size() >= options.max_items) return true;
    return !options.fill && !held.empty();
  }
};

struct Subscription {
  explicit Subscription(uint64_t floor) : cursor(floor) {}
  uint64_t uid = 0;  // never reused during a run: callbacks find a subscription by it
  std::string name;
  Queue* queue = nullptr;
  Cursor cursor;
  std::map<uint64_t, uint64_t> leases;  // offset -> lease id (handed out or held)
  std::list<Waiter> waiters;            // arrival order
  SubscriptionStats counters;
};

// A put (or a given batch) waiting for commit_end to pass its last offset.
struct PendingPut {
  uint64_t need = 0;     // commit_end must reach this
  int64_t since_ms = 0;  // monotonic: when it was handed in (FailPendingPuts)
  PutResult result;
  PutDone done;
};

// A batch put during this run: what timestamps and byte counts are computed from.
struct BatchInfo {
  uint64_t base = 0;
  uint64_t end = 0;
  int64_t first_ts = 0;
  uint64_t bytes_before = 0;  // payload bytes put this run before this batch
};

// A reply waiting for the cursor changes made before it to be durable (QueueManager::Ack).
struct DurableWait {
  uint64_t generation = 0;  // the queue's cursor_generation to reach
  std::function<void(Status)> done;
};

struct Queue {
  uint64_t id = 0;  // this node's folder number
  uint64_t incarnation = 0;
  std::string name;
  std::string dir;
  int64_t created_ms = 0;  // wall time
  QueueConfig config;
  std::shared_ptr<storage::Log> log;
  std::shared_ptr<storage::Log> cursor_log;
  // Stopped: puts are refused with `failure`. Corruption (a damaged batch) refuses gets too,
  // until repair_queue; IOError with no_space (the disk is full) keeps serving reads and acks,
  // and a probe write resumes it (docs/OPERATIONS.md).
  bool failed = false;
  Status failure;
  bool no_space = false;
  bool resuming = false;   // a Resume of its logs is on the storage thread
  bool repairing = false;  // a Repair of its logs is on the storage thread
  uint64_t epoch = 0;      // written into every batch this node builds
  uint64_t first_offset = 1;
  uint64_t next_offset = 1;  // the next put gets this
  uint64_t flushed_end = 1;  // handed to storage below this
  uint64_t durable_end = 1;  // fsynced on this node below this
  uint64_t commit_end = 1;   // deliverable and acknowledged below this (the Replicator's)
  // Bumped by every truncation: appends and cold reads started before one are stale.
  uint64_t truncations = 0;
  storage::BatchBuilder builder;
  uint64_t builder_bytes = 0;
  bool dirty = false;  // builder holds records, or given batches wait for the log to open
  std::vector<storage::BatchPtr> given;  // AppendBatch's, while the log is being opened
  std::deque<PendingPut> puts;
  bool loading = false;  // a cold read is in flight
  std::map<std::string, std::unique_ptr<Subscription>, std::less<>> subs;  // "" first
  DedupeIndex dedupe;
  std::deque<BatchInfo> index;  // batches put this run, for timestamps and bytes
  // After a restart, the backlog's first batch (its bytes_before unused), read back by
  // LoadHeads: its timestamp is the oldest age until a get brings the head into memory.
  std::optional<BatchInfo> head;
  uint64_t bytes_total = 0;
  QueueStats counters;

  // The cursor log (cursor_commit.cc). Every cursor change bumps cursor_generation; a cursor
  // batch written at generation g makes cursor_durable_generation g once it is durable.
  std::vector<storage::CursorOp> cursor_ops;  // explicit ops (create, seek, delete) not yet written
  uint64_t cursor_generation = 0;
  uint64_t cursor_written_generation = 0;  // covered by what was handed to storage
  uint64_t cursor_durable_generation = 0;
  bool cursor_dirty = false;    // on the engine's list of queues with changes to write
  bool checkpoint_due = false;  // on the engine's list of queues to checkpoint to meta.db
  uint64_t cursor_log_end = 1;  // next offset of the cursor log
  uint64_t cursor_durable_end = 1;
  std::deque<DurableWait> durable_waits;          // ascending generation
  std::vector<storage::CursorOp> checkpoint_ops;  // durable ops not yet in meta.db
};

}  // namespace saker::queue

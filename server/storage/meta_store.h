// MetaStore: meta.db, the SQLite database (WAL mode) beside the queue folders. It holds the
// queues (name -> numeric id = folder name, incarnation), the deletion records of deleted queues
// whose folders may not be removed yet, subscriptions and their cursors (ack
// floor, acked offsets above it, delivery counts, delivered high-water mark), idempotency keys
// and server settings (status, boot count).
//
// meta.db is a checkpoint of the queues' cursor logs (FORMAT.md "Cursor log"): a MetaBatch
// applies, in one transaction, the CursorOps that were durable in the cursor logs, with the
// cursor-log offset below which each queue's records are now applied (cursor_log_through);
// recovery replays each cursor log from there.
//
// Threads: Open() and Load() on any thread before the store is shared; afterwards one thread at
// a time (the queue engine's meta thread). Never call it on the loop thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "server/common/status.h"
#include "server/storage/cursor_op.h"

namespace saker::storage {

struct QueueRecord {
  uint64_t id = 0;
  std::string name;
  int64_t created_ms = 0;
  uint64_t incarnation = 0;  // 0 for a queue created before schema 2 (until set_incarnations)
};

struct DedupeRecord {
  uint64_t queue_id = 0;
  std::string key;
  uint64_t offset = 0;
  int64_t timestamp_ms = 0;
};

struct SubscriptionRecord {
  uint64_t queue_id = 0;
  std::string name;
  uint64_t ack_floor = 1;
  std::vector<uint64_t> acked;                            // ascending, all >= ack_floor
  std::vector<std::pair<uint64_t, uint32_t>> deliveries;  // (offset, count), ascending
  uint64_t delivered_end = 0;  // kDelivered: every offset below was handed out at least once
};

// One transaction's worth of changes, applied in the order of the fields below.
struct MetaBatch {
  std::vector<QueueRecord> create_queues;
  std::vector<CursorOp> cursor_ops;
  std::vector<DedupeRecord> dedupe_keys;
  // Keys put before this wall time are forgotten (0 = keep).
  int64_t dedupe_forget_before_ms = 0;
  // (queue id, offset): every key of the queue up to `offset` is in dedupe_keys of this or an
  // earlier batch (recovery scans the log only above it).
  std::vector<std::pair<uint64_t, uint64_t>> dedupe_through;
  // (queue id, incarnation) for queues made before incarnations were stored.
  std::vector<std::pair<uint64_t, uint64_t>> set_incarnations;
  // (queue id, offset): every record of the queue's cursor log below `offset` is applied.
  std::vector<std::pair<uint64_t, uint64_t>> cursor_log_through;
  // The queue row and everything of that queue go; a deletion record (deleted_queues) of each
  // stays until drop_deletions names it: its folder may be removed once this commits.
  std::vector<uint64_t> delete_queues;
  int64_t deleted_ms = 0;                // wall time of the deletions
  std::vector<uint64_t> drop_deletions;  // deletion records whose folders are gone
  std::map<std::string, std::string> settings;

  bool empty() const {
    return create_queues.empty() && cursor_ops.empty() && dedupe_keys.empty() &&
           dedupe_forget_before_ms == 0 && dedupe_through.empty() && set_incarnations.empty() &&
           cursor_log_through.empty() && delete_queues.empty() && drop_deletions.empty() &&
           settings.empty();
  }
};

struct MetaSnapshot {
  std::vector<QueueRecord> queues;  // ascending id
  std::map<uint64_t, uint64_t> dedupe_through;
  std::map<uint64_t, uint64_t> cursor_log_through;  // queue id -> offset (1 = nothing applied)
  std::vector<SubscriptionRecord> subscriptions;
  std::vector<DedupeRecord> dedupe_keys;
  std::set<uint64_t> deleted_queues;  // ids with a committed deletion record
  std::map<std::string, std::string> settings;
};

class MetaStore {
 public:
  // Opens or creates the database at `path` (WAL, synchronous=FULL, secure_delete=OFF) and
  // applies any schema migration not yet recorded. IOError / Corruption from SQLite (Corruption:
  // the file is not a database or is damaged); InvalidArgument if its schema is newer than ours.
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path);
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  // Everything stored.
  Result<MetaSnapshot> Load();
  // Applies `batch` in one transaction, durably; nothing of it on error (IOError).
  Status Commit(const MetaBatch& batch);
  // PRAGMA integrity_check: Corruption naming the problems it lists.
  Status CheckIntegrity();

  int schema_version() const { return schema_version_; }

 private:
  explicit MetaStore(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);
  Status Migrate();
  Status Apply(const MetaBatch& batch);
  Status ApplyCursorOp(const CursorOp& op);
  sqlite3_stmt* Prepare(int slot, const char* sql);
  // Deletes a subscription's acked ranges and delivery counts (create, seek, delete).
  bool ClearSubscriptionState(int64_t queue_id, const std::string& sub);
  Status Error(const char* what) const;

  sqlite3* db_;
  int schema_version_ = 0;
  std::vector<sqlite3_stmt*> stmts_;  // prepared once, by slot
};

}  // namespace saker::storage

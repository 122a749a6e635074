// MetaStore: meta.db, the SQLite database (WAL mode) beside the queue folders. It holds the
// queues (name -> numeric id = folder name), subscriptions and their cursors (ack floor, acked
// offsets above it, delivery counts), idempotency keys and server settings (status, boot count).
//
// Cursor changes are CursorOps: small, idempotent records that the queue engine produces on the
// loop thread and that replication can ship as they are (DESIGN.md Replication). A MetaBatch of
// them is committed in one transaction.
//
// Threads: Open() and Load() on any thread before the store is shared; afterwards only the
// storage thread calls it (StorageThread::Run). Never call it on the loop thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/common/status.h"

namespace saker::storage {

struct CursorOp {
  enum class Type : uint8_t {
    kCreate = 1,      // subscription created with ack floor `offset`
    kDelete = 2,      // subscription and its cursor removed
    kFloor = 3,       // ack floor advanced to `offset` (state below it is dropped)
    kSeek = 4,        // ack floor set to `offset`; every acked offset and count is dropped
    kAck = 5,         // `offset` (at or above the floor) acked
    kDeliveries = 6,  // `offset` has been delivered `count` times
  };
  Type type = Type::kAck;
  uint64_t queue_id = 0;
  std::string subscription;
  uint64_t offset = 0;
  uint32_t count = 0;
};

struct QueueRecord {
  uint64_t id = 0;
  std::string name;
  int64_t created_ms = 0;
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
  std::vector<uint64_t> delete_queues;  // the queue row and everything of that queue
  std::map<std::string, std::string> settings;

  bool empty() const {
    return create_queues.empty() && cursor_ops.empty() && dedupe_keys.empty() &&
           dedupe_forget_before_ms == 0 && dedupe_through.empty() && delete_queues.empty() &&
           settings.empty();
  }
};

struct MetaSnapshot {
  std::vector<QueueRecord> queues;  // ascending id
  std::map<uint64_t, uint64_t> dedupe_through;
  std::vector<SubscriptionRecord> subscriptions;
  std::vector<DedupeRecord> dedupe_keys;
  std::map<std::string, std::string> settings;
};

class MetaStore {
 public:
  // Opens or creates the database at `path` (WAL, synchronous=FULL, secure_delete=OFF) and
  // applies any schema migration not yet recorded. IOError / Corruption from SQLite.
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path);
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  // Everything stored.
  Result<MetaSnapshot> Load();
  // Applies `batch` in one transaction, durably; nothing of it on error (IOError).
  Status Commit(const MetaBatch& batch);

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

// MetaStore over SQLite. Every statement is prepared once and reused; a MetaBatch is one
// transaction, so a crash leaves meta.db at a commit boundary (WAL + synchronous=FULL).
#include "server/storage/meta_store.h"

#include <string_view>

namespace saker::storage {
namespace {

// Schema migrations, applied in order; the index + 1 is the schema version. Never edit an
// applied entry: append a new one.
constexpr const char* kMigrations[] = {
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE queues (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL, dedupe_through INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE subscriptions (queue_id INTEGER NOT NULL, name TEXT NOT NULL,"
    "  ack_floor INTEGER NOT NULL, PRIMARY KEY (queue_id, name)) WITHOUT ROWID;"
    "CREATE TABLE acked (queue_id INTEGER NOT NULL, sub TEXT NOT NULL, offset INTEGER NOT NULL,"
    "  PRIMARY KEY (queue_id, sub, offset)) WITHOUT ROWID;"
    "CREATE TABLE deliveries (queue_id INTEGER NOT NULL, sub TEXT NOT NULL,"
    "  offset INTEGER NOT NULL, count INTEGER NOT NULL,"
    "  PRIMARY KEY (queue_id, sub, offset)) WITHOUT ROWID;"
    "CREATE TABLE dedupe (queue_id INTEGER NOT NULL, key TEXT NOT NULL,"
    "  offset INTEGER NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (queue_id, key)) WITHOUT ROWID;"
    "CREATE INDEX dedupe_ts ON dedupe (ts);",
    // 2: incarnations, the cursor-log checkpoint, the delivered high-water mark.
    "ALTER TABLE queues ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE queues ADD COLUMN cursor_log_through INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE subscriptions ADD COLUMN delivered_end INTEGER NOT NULL DEFAULT 0;",
    // 3: deletion records (a queue folder is removed only once its deletion is committed here).
    "CREATE TABLE deleted_queues (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    "  incarnation INTEGER NOT NULL, deleted_ms INTEGER NOT NULL);",
};

enum Slot {
  kBegin,
  kCommitTx,
  kRollback,
  kInsertQueue,
  kInsertSub,
  kDeleteSub,
  kDeleteSubAcked,
  kDeleteSubDeliveries,
  kSetFloor,
  kAckedBelow,
  kDeliveriesBelow,
  kInsertAck,
  kUpsertDeliveries,
  kSetDelivered,
  kSetIncarnation,
  kCursorLogThrough,
  kInsertDedupe,
  kForgetDedupe,
  kDedupeThrough,
  kRecordDeletion,
  kDropDeletion,
  kDeleteQueue,
  kDeleteQueueSubs,
  kDeleteQueueAcked,
  kDeleteQueueDeliveries,
  kDeleteQueueDedupe,
  kSetSetting,
  kSlotCount
};

int64_t I64(uint64_t v) { return static_cast<int64_t>(v); }

}  // namespace

Result<std::unique_ptr<MetaStore>> MetaStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "open " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return Status::IOError(msg);
  }
  std::unique_ptr<MetaStore> store(new MetaStore(db));
  store->stmts_.assign(kSlotCount, nullptr);
  SAKER_RETURN_IF_ERROR(
      store->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=OFF;"
                  "PRAGMA foreign_keys=OFF;"));
  SAKER_RETURN_IF_ERROR(store->Migrate());
  return store;
}

MetaStore::~MetaStore() {
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

Status MetaStore::Error(const char* what) const {
  int code = sqlite3_errcode(db_);
  std::string msg = std::string("meta.db ") + what + ": " + sqlite3_errmsg(db_);
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return Status::Corruption(msg);
  return Status::IOError(msg);
}

Status MetaStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = std::string("meta.db exec: ") + (err ? err : "?");
    sqlite3_free(err);
    const int code = sqlite3_errcode(db_);
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return Status::Corruption(msg);
    return Status::IOError(msg);
  }
  return Status::OK();
}

Status MetaStore::CheckIntegrity() {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA integrity_check", -1, &s, nullptr) != SQLITE_OK) {
    return Error("integrity_check");
  }
  std::string problems;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    const std::string line = p ? p : "";
    if (line == "ok") continue;
    if (!problems.empty()) problems += "; ";
    problems += line;
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return Error("integrity_check");
  if (!problems.empty()) return Status::Corruption("meta.db integrity_check: " + problems);
  return Status::OK();
}

Status MetaStore::Migrate() {
  SAKER_RETURN_IF_ERROR(
      Exec("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY,"
           " applied_ms INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 "
           "AS INTEGER)));"));
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT COALESCE(MAX(version), 0) FROM migrations", -1, &q,
                         nullptr) != SQLITE_OK) {
    return Error("read schema version");
  }
  int version = 0;
  if (sqlite3_step(q) == SQLITE_ROW) version = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  constexpr int kLatest = static_cast<int>(std::size(kMigrations));
  if (version > kLatest) {
    return Status::InvalidArgument("meta.db schema version " + std::to_string(version) +
                                   " is newer than this sakerd (" + std::to_string(kLatest) + ")");
  }
  for (int v = version; v < kLatest; v++) {
    SAKER_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status st = Exec(kMigrations[v]);
    if (st.ok()) {
      std::string ins = "INSERT INTO migrations (version) VALUES (" + std::to_string(v + 1) + ")";
      st = Exec(ins.c_str());
    }
    if (!st.ok()) {
      (void)Exec("ROLLBACK");
      return st;
    }
    SAKER_RETURN_IF_ERROR(Exec("COMMIT"));
  }
  schema_version_ = kLatest;
  return Status::OK();
}

sqlite3_stmt* MetaStore::Prepare(int slot, const char* sql) {
  sqlite3_stmt*& s = stmts_[slot];
  if (s == nullptr) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      s = nullptr;
      return nullptr;
    }
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return s;
}

namespace {

// Binds `args` in order and steps `s` to completion.
bool Bind(sqlite3_stmt* s, int i, int64_t v) { return sqlite3_bind_int64(s, i, v) == SQLITE_OK; }
bool Bind(sqlite3_stmt* s, int i, const std::string& v) {
  return sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC) == SQLITE_OK;
}

template <typename... Args>
bool Run(sqlite3_stmt* s, const Args&... args) {
  if (s == nullptr) return false;
  int i = 0;
  bool ok = (Bind(s, ++i, args) && ...);
  if (!ok) return false;
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE || rc == SQLITE_ROW;
}

}  // namespace

bool MetaStore::ClearSubscriptionState(int64_t queue_id, const std::string& sub) {
  return Run(Prepare(kDeleteSubAcked, "DELETE FROM acked WHERE queue_id = ? AND sub = ?"), queue_id,
             sub) &&
         Run(Prepare(kDeleteSubDeliveries, "DELETE FROM deliveries WHERE queue_id = ? AND sub = ?"),
             queue_id, sub);
}

Status MetaStore::ApplyCursorOp(const CursorOp& op) {
  const int64_t q = I64(op.queue_id);
  const int64_t off = I64(op.offset);
  const std::string& sub = op.subscription;
  bool ok = true;
  switch (op.type) {
    case CursorOp::Type::kCreate:
      ok = Run(Prepare(kInsertSub,
                       "INSERT OR REPLACE INTO subscriptions (queue_id, name, ack_floor)"
                       " VALUES (?, ?, ?)"),
               q, sub, off) &&
           ClearSubscriptionState(q, sub);
      break;
    case CursorOp::Type::kDelete:
      ok = Run(Prepare(kDeleteSub, "DELETE FROM subscriptions WHERE queue_id = ? AND name = ?"), q,
               sub) &&
           ClearSubscriptionState(q, sub);
      break;
    case CursorOp::Type::kSeek:
      ok = ClearSubscriptionState(q, sub);
      [[fallthrough]];
    case CursorOp::Type::kFloor:
      ok = ok &&
           Run(Prepare(kSetFloor,
                       "UPDATE subscriptions SET ack_floor = ? WHERE queue_id = ? AND name = ?"),
               off, q, sub) &&
           Run(Prepare(kAckedBelow,
                       "DELETE FROM acked WHERE queue_id = ? AND sub = ? AND offset < ?"),
               q, sub, off) &&
           Run(Prepare(kDeliveriesBelow,
                       "DELETE FROM deliveries WHERE queue_id = ? AND sub = ? AND offset < ?"),
               q, sub, off);
      break;
    case CursorOp::Type::kAck:
      ok = Run(Prepare(kInsertAck,
                       "INSERT OR IGNORE INTO acked (queue_id, sub, offset) SELECT ?1, ?2, ?3"
                       " WHERE EXISTS (SELECT 1 FROM subscriptions WHERE queue_id = ?1"
                       " AND name = ?2 AND ack_floor <= ?3)"),
               q, sub, off);
      break;
    case CursorOp::Type::kDeliveries:
      ok = Run(Prepare(kUpsertDeliveries,
                       "INSERT INTO deliveries (queue_id, sub, offset, count) VALUES (?, ?, ?, ?)"
                       " ON CONFLICT DO UPDATE SET count = MAX(count, excluded.count)"),
               q, sub, off, static_cast<int64_t>(op.count));
      break;
    case CursorOp::Type::kDelivered:
      ok = Run(Prepare(kSetDelivered,
                       "UPDATE subscriptions SET delivered_end = MAX(delivered_end, ?)"
                       " WHERE queue_id = ? AND name = ?"),
               off, q, sub);
      break;
  }
  return ok ? Status::OK() : Error("cursor op");
}

Status MetaStore::Apply(const MetaBatch& b) {
  for (const QueueRecord& r : b.create_queues) {
    if (!Run(Prepare(kInsertQueue,
                     "INSERT OR REPLACE INTO queues (id, name, created_ms, incarnation)"
                     " VALUES (?, ?, ?, ?)"),
             I64(r.id), r.name, r.created_ms, I64(r.incarnation))) {
      return Error("insert queue");
    }
  }
  for (const auto& [id, incarnation] : b.set_incarnations) {
    if (!Run(Prepare(kSetIncarnation, "UPDATE queues SET incarnation = ? WHERE id = ?"),
             I64(incarnation), I64(id))) {
      return Error("set incarnation");
    }
  }
  for (const CursorOp& op : b.cursor_ops) SAKER_RETURN_IF_ERROR(ApplyCursorOp(op));
  for (const DedupeRecord& d : b.dedupe_keys) {
    if (!Run(Prepare(kInsertDedupe,
                     "INSERT OR REPLACE INTO dedupe (queue_id, key, offset, ts)"
                     " VALUES (?, ?, ?, ?)"),
             I64(d.queue_id), d.key, I64(d.offset), d.timestamp_ms)) {
      return Error("insert dedupe key");
    }
  }
  if (b.dedupe_forget_before_ms != 0 &&
      !Run(Prepare(kForgetDedupe, "DELETE FROM dedupe WHERE ts < ?"), b.dedupe_forget_before_ms)) {
    return Error("forget dedupe keys");
  }
  for (const auto& [id, offset] : b.dedupe_through) {
    if (!Run(Prepare(kDedupeThrough,
                     "UPDATE queues SET dedupe_through = MAX(dedupe_through, ?) WHERE id = ?"),
             I64(offset), I64(id))) {
      return Error("dedupe_through");
    }
  }
  for (const auto& [id, offset] : b.cursor_log_through) {
    if (!Run(Prepare(kCursorLogThrough,
                     "UPDATE queues SET cursor_log_through = MAX(cursor_log_through, ?)"
                     " WHERE id = ?"),
             I64(offset), I64(id))) {
      return Error("cursor_log_through");
    }
  }
  for (uint64_t id : b.delete_queues) {
    const int64_t q = I64(id);
    if (!Run(Prepare(kRecordDeletion,
                     "INSERT OR REPLACE INTO deleted_queues (id, name, incarnation, deleted_ms)"
                     " SELECT id, name, incarnation, ? FROM queues WHERE id = ?"),
             b.deleted_ms, q) ||
        !Run(Prepare(kDeleteQueue, "DELETE FROM queues WHERE id = ?"), q) ||
        !Run(Prepare(kDeleteQueueSubs, "DELETE FROM subscriptions WHERE queue_id = ?"), q) ||
        !Run(Prepare(kDeleteQueueAcked, "DELETE FROM acked WHERE queue_id = ?"), q) ||
        !Run(Prepare(kDeleteQueueDeliveries, "DELETE FROM deliveries WHERE queue_id = ?"), q) ||
        !Run(Prepare(kDeleteQueueDedupe, "DELETE FROM dedupe WHERE queue_id = ?"), q)) {
      return Error("delete queue");
    }
  }
  for (uint64_t id : b.drop_deletions) {
    if (!Run(Prepare(kDropDeletion, "DELETE FROM deleted_queues WHERE id = ?"), I64(id))) {
      return Error("drop deletion record");
    }
  }
  for (const auto& [key, value] : b.settings) {
    if (!Run(Prepare(kSetSetting, "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)"),
             key, value)) {
      return Error("set setting");
    }
  }
  return Status::OK();
}

Status MetaStore::Commit(const MetaBatch& batch) {
  if (batch.empty()) return Status::OK();
  if (!Run(Prepare(kBegin, "BEGIN IMMEDIATE"))) return Error("begin");
  Status st = Apply(batch);
  if (st.ok() && !Run(Prepare(kCommitTx, "COMMIT"))) st = Error("commit");
  if (!st.ok()) (void)Run(Prepare(kRollback, "ROLLBACK"));
  return st;
}

Result<MetaSnapshot> MetaStore::Load() {
  MetaSnapshot snap;
  auto query = [&](const char* sql, auto&& row) -> Status {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return Error("load");
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) row(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? Status::OK() : Error("load");
  };
  auto text = [](sqlite3_stmt* s, int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
    return std::string(p ? p : "", sqlite3_column_bytes(s, col));
  };
  auto u64 = [](sqlite3_stmt* s, int col) {
    return static_cast<uint64_t>(sqlite3_column_int64(s, col));
  };
  SAKER_RETURN_IF_ERROR(query(
      "SELECT id, name, created_ms, dedupe_through, incarnation, cursor_log_through FROM queues"
      " ORDER BY id",
      [&](sqlite3_stmt* s) {
        snap.queues.push_back({u64(s, 0), text(s, 1), sqlite3_column_int64(s, 2), u64(s, 4)});
        snap.dedupe_through[u64(s, 0)] = u64(s, 3);
        snap.cursor_log_through[u64(s, 0)] = u64(s, 5);
      }));
  std::map<std::pair<uint64_t, std::string>, size_t> index;
  SAKER_RETURN_IF_ERROR(
      query("SELECT queue_id, name, ack_floor, delivered_end FROM subscriptions"
            " ORDER BY queue_id, name",
            [&](sqlite3_stmt* s) {
              SubscriptionRecord r;
              r.queue_id = u64(s, 0);
              r.name = text(s, 1);
              r.ack_floor = u64(s, 2);
              r.delivered_end = u64(s, 3);
              index[{r.queue_id, r.name}] = snap.subscriptions.size();
              snap.subscriptions.push_back(std::move(r));
            }));
  auto find = [&](sqlite3_stmt* s) -> SubscriptionRecord* {
    auto it = index.find({u64(s, 0), text(s, 1)});
    return it == index.end() ? nullptr : &snap.subscriptions[it->second];
  };
  SAKER_RETURN_IF_ERROR(
      query("SELECT queue_id, sub, offset FROM acked ORDER BY queue_id, sub, offset",
            [&](sqlite3_stmt* s) {
              if (SubscriptionRecord* r = find(s); r && u64(s, 2) >= r->ack_floor) {
                r->acked.push_back(u64(s, 2));
              }
            }));
  SAKER_RETURN_IF_ERROR(
      query("SELECT queue_id, sub, offset, count FROM deliveries ORDER BY queue_id, sub, offset",
            [&](sqlite3_stmt* s) {
              if (SubscriptionRecord* r = find(s); r && u64(s, 2) >= r->ack_floor) {
                r->deliveries.emplace_back(u64(s, 2), static_cast<uint32_t>(u64(s, 3)));
              }
            }));
  SAKER_RETURN_IF_ERROR(query("SELECT queue_id, key, offset, ts FROM dedupe", [&](sqlite3_stmt* s) {
    snap.dedupe_keys.push_back({u64(s, 0), text(s, 1), u64(s, 2), sqlite3_column_int64(s, 3)});
  }));
  SAKER_RETURN_IF_ERROR(query("SELECT id FROM deleted_queues",
                              [&](sqlite3_stmt* s) { snap.deleted_queues.insert(u64(s, 0)); }));
  SAKER_RETURN_IF_ERROR(query("SELECT key, value FROM settings",
                              [&](sqlite3_stmt* s) { snap.settings[text(s, 0)] = text(s, 1); }));
  return snap;
}

}  // namespace saker::storage

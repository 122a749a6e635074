// Engine: restart — meta.db's checkpoint (rebuilt from the queue folders when meta.db is missing or
// damaged), interrupted folder removals finished and folders meta.db does not know adopted, every
// queue's logs opened on several threads, each queue's identity checked against its folder, the
// cursor logs replayed from the checkpoint, and the idempotency keys rebuilt.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "server/queue/engine.h"
#include "server/storage/cursor_op.h"
#include "server/storage/queue_identity.h"

namespace saker::queue {
namespace {

// Threads that open logs on restart besides the calling one (OpenLogsInParallel).
constexpr size_t kRecoveryThreads = 7;

// Opens every log of a restart. One after another, 100,000 logs are 100,000 directory listings
// and tail reads in a row (seconds, and tens of seconds with a cold page cache); a few threads
// overlap them, so restart to ready stays short (docs/BENCHMARKS.md W5). Log::Open touches no
// shared state but the thread-safe FdCache.
std::vector<Result<std::unique_ptr<storage::Log>>> OpenLogsInParallel(
    const std::vector<std::pair<std::string, storage::LogOptions>>& logs) {
  std::vector<Result<std::unique_ptr<storage::Log>>> out;
  out.reserve(logs.size());
  for (size_t i = 0; i < logs.size(); ++i) out.emplace_back(Status::Unavailable("not opened"));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < logs.size(); i = next++) {
      out[i] = storage::Log::Open(logs[i].first, logs[i].second);
    }
  };
  const size_t threads = std::min<size_t>(kRecoveryThreads, logs.size() / 256);
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return out;
}

// A subscription's durable state while the cursor log is replayed onto meta.db's checkpoint.
struct ReplayedCursor {
  uint64_t floor = 1;
  std::set<uint64_t> acked;
  std::map<uint64_t, uint32_t> counts;
  uint64_t delivered_end = 0;
};
using ReplayedCursors = std::map<std::string, ReplayedCursor, std::less<>>;

// Applies one cursor-log op as MetaStore::Commit applies it to meta.db (FORMAT.md "Cursor log").
void Apply(const storage::CursorOp& op, ReplayedCursors* cursors) {
  using Type = storage::CursorOp::Type;
  if (op.type == Type::kCreate) {
    (*cursors)[op.subscription] = ReplayedCursor{op.offset, {}, {}, 0};
    return;
  }
  if (op.type == Type::kDelete) {
    cursors->erase(op.subscription);
    return;
  }
  auto it = cursors->find(op.subscription);
  if (it == cursors->end()) return;  // deleted later in the log than this op was checkpointed
  ReplayedCursor& c = it->second;
  switch (op.type) {
    case Type::kFloor:
      c.floor = std::max(c.floor, op.offset);
      c.acked.erase(c.acked.begin(), c.acked.lower_bound(c.floor));
      c.counts.erase(c.counts.begin(), c.counts.lower_bound(c.floor));
      break;
    case Type::kSeek:
      c = ReplayedCursor{op.offset, {}, {}, c.delivered_end};
      break;
    case Type::kAck:
      if (op.offset >= c.floor) c.acked.insert(op.offset);
      break;
    case Type::kDeliveries:
      if (op.offset >= c.floor) c.counts[op.offset] = op.count;
      break;
    case Type::kDelivered:
      c.delivered_end = std::max(c.delivered_end, op.offset);
      break;
    default:
      break;
  }
}

// Replays `log` from `from` onto `cursors`, and appends the ops to `replayed` (queue `queue_id`):
// they go into meta.db with the boot's checkpoint, before any later checkpoint moves past them.
// Corruption if a record does not decode.
Status Replay(const storage::Log& log, uint64_t queue_id, uint64_t from, size_t read_bytes,
              ReplayedCursors* cursors, std::vector<storage::CursorOp>* replayed) {
  from = std::max(from, log.first_offset());
  while (from < log.next_offset()) {
    auto batches = log.Read(from, read_bytes);
    if (!batches.ok()) return batches.status();
    if (batches->empty()) break;
    for (const storage::BatchPtr& b : *batches) {
      for (const storage::RecordView& rec : b->records()) {
        if (rec.offset < from) continue;
        auto op = storage::DecodeCursorOp(rec.payload);
        if (!op.ok()) {
          return Status::Corruption("cursor log " + log.dir() + " offset " +
                                    std::to_string(rec.offset) + ": " + op.status().ToString());
        }
        op->queue_id = queue_id;
        Apply(*op, cursors);
        replayed->push_back(std::move(op).value());
      }
      from = std::max(from, b->end_offset());
    }
  }
  return Status::OK();
}

// A queue folder is named by the queue's numeric id.
bool IsQueueFolderName(const std::string& name) {
  return !name.empty() && name.size() <= 19 && std::all_of(name.begin(), name.end(), ::isdigit);
}

// Moves `path` (if it exists) aside to `path`.corrupt-<unix time>, `suffix` after that (for
// SQLite's -wal and -shm files).
Status SetAside(const std::string& path, const std::string& suffix, int64_t unix_s,
                std::string* moved_to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path + suffix, ec)) return Status::OK();
  const std::string to = path + ".corrupt-" + std::to_string(unix_s) + suffix;
  fs::rename(path + suffix, to, ec);
  if (ec) return Status::IOError("rename " + path + suffix + " to " + to + ": " + ec.message());
  if (suffix.empty()) *moved_to = to;
  return Status::OK();
}

// Opens and loads meta.db at `path` (after PRAGMA integrity_check if `check`).
Result<Engine::OpenedMeta> LoadMeta(const std::string& path, bool check, std::string rebuilt) {
  auto store = storage::MetaStore::Open(path);
  if (!store.ok()) return store.status();
  if (check) SAKER_RETURN_IF_ERROR((*store)->CheckIntegrity());
  auto snap = (*store)->Load();
  if (!snap.ok()) return snap.status();
  return Engine::OpenedMeta{std::shared_ptr<storage::MetaStore>(std::move(store).value()),
                            std::move(snap).value(), std::move(rebuilt)};
}

}  // namespace

Result<Engine::OpenedMeta> Engine::OpenMeta(const std::string& data_dir, int64_t wall_ms) {
  namespace fs = std::filesystem;
  const std::string path = data_dir + "/meta.db";
  std::error_code ec;
  Status bad;
  if (!fs::exists(path, ec)) {
    // No meta.db and no queue folder is a new data dir, not a loss.
    bool folders = false;
    for (const auto& entry : fs::directory_iterator(data_dir, ec)) {
      folders |= entry.is_directory() && IsQueueFolderName(entry.path().filename().string());
    }
    if (!folders) return LoadMeta(path, false, "");
    bad = Status::NotFound("meta.db is missing");
  } else {
    auto opened = LoadMeta(path, true, "");
    if (opened.ok()) return opened;
    bad = opened.status();
    // A schema of a newer sakerd, or an I/O error (permissions, a failing disk), is not a
    // damaged file: rebuilding would throw away what a later start could still read.
    if (!bad.IsCorruption()) return bad;
  }
  // meta.db is gone or damaged: set whatever is left of it aside (a -wal without its database
  // would be replayed into the fresh one) and rebuild from the queue folders (Recover).
  std::string moved_to;
  const int64_t unix_s = wall_ms / 1000;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    SAKER_RETURN_IF_ERROR(SetAside(path, suffix, unix_s, &moved_to));
  }
  std::string reason(bad.message());
  if (!moved_to.empty()) reason += "; the damaged file is kept as " + moved_to;
  return LoadMeta(path, false, std::move(reason));
}

Status Engine::Recover(storage::MetaSnapshot snap, const std::string& rebuilt) {
  namespace fs = std::filesystem;
  uint64_t boots = 0;
  if (auto it = snap.settings.find("boots"); it != snap.settings.end()) {
    boots = std::stoull(it->second);
  }
  // A rebuilt meta.db lost the count: the wall clock's seconds make it unlikely that this boot's
  // lease ids are those of a boot before the loss, which clients may still hold.
  if (!rebuilt.empty()) boots = static_cast<uint64_t>(Wall() / 1000);
  boots++;
  leases_.SetPrefix(config_.node_id, boots);
  if (auto it = snap.settings.find("status"); it != snap.settings.end()) {
    if (it->second == "READONLY") status_ = ServerStatus::kReadOnly;
    if (it->second == "QUIESCENT") status_ = ServerStatus::kQuiescent;
  }
  storage::MetaBatch boot;
  boot.settings["boots"] = std::to_string(boots);

  // A folder without a queue row is either a deleted queue whose removal was interrupted (its
  // deletion record says so: the removal is finished now), or a queue meta.db does not know
  // (meta.db was lost or rebuilt, or the row's commit never finished): that one is adopted from
  // its QUEUE file, never removed. Ids are never reused.
  std::set<uint64_t> known;
  std::set<std::string, std::less<>> names;
  for (const auto& r : snap.queues) {
    known.insert(r.id);
    names.insert(r.name);
  }
  const int64_t wall = Wall();
  size_t adopted = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(config_.data_dir, ec)) {
    const std::string fname = entry.path().filename().string();
    if (!entry.is_directory() || !IsQueueFolderName(fname)) continue;
    uint64_t id = std::stoull(fname);
    next_queue_id_ = std::max(next_queue_id_, id + 1);
    if (known.count(id) > 0) continue;
    if (snap.deleted_queues.count(id) > 0) {
      EngineLog().info("[queue id={}] finishing the removal of a deleted queue's folder", id);
      // Kept with its deletion record, the next start tries again.
      if (Status st = storage::RemoveQueueFolder(entry.path().string()); !st.ok()) {
        EngineLog().warn("[queue id={}] removing the folder: {}", id, st.ToString());
      }
      continue;
    }
    auto identity = storage::ReadQueueIdentity(entry.path().string());
    std::string refused;
    if (!identity.ok()) {
      refused = identity.status().ToString();
    } else if (!IsValidName(identity->name)) {
      refused = "its QUEUE file names no valid queue";
    } else if (names.count(identity->name) > 0) {
      refused = "queue " + identity->name + " exists";
    }
    if (!refused.empty()) {
      EngineLog().error(
          "[queue id={}] folder {} is not in meta.db and cannot be adopted ({}): "
          "kept, not served (saker-dump shows it)",
          id, entry.path().string(), refused);
      continue;
    }
    storage::QueueRecord row{id, identity->name,
                             identity->created_ms != 0 ? identity->created_ms : wall,
                             identity->incarnation};
    names.insert(row.name);
    snap.queues.push_back(row);
    boot.create_queues.push_back(row);
    // Every subscription starts at the log's first offset (at worst items are redelivered);
    // the replay of the whole cursor log then moves it to where it was.
    for (const std::string& sub : identity->subscriptions) {
      snap.subscriptions.push_back({id, sub, 1, {}, {}, 0});
      boot.cursor_ops.push_back({storage::CursorOp::Type::kCreate, id, sub, 1, 0});
    }
    snap.subscriptions.push_back({id, "", 1, {}, {}, 0});
    boot.cursor_ops.push_back({storage::CursorOp::Type::kCreate, id, "", 1, 0});
    adopted++;
    if (rebuilt.empty()) {
      EngineLog().warn("[queue={}] folder {} was not in meta.db: adopted from its QUEUE file",
                       row.name, id);
    }
  }
  // Deletion records whose folders are gone are done with.
  for (uint64_t id : snap.deleted_queues) {
    if (!fs::exists(config_.data_dir + "/" + std::to_string(id), ec)) {
      boot.drop_deletions.push_back(id);
    }
  }
  if (auto it = snap.settings.find("next_queue_id"); it != snap.settings.end()) {
    next_queue_id_ = std::max<uint64_t>(next_queue_id_, std::stoull(it->second));
  }
  if (!rebuilt.empty()) {
    EngineLog().warn("meta.db rebuilt from {} queue folders ({}); status UP", adopted, rebuilt);
  }

  std::vector<std::unique_ptr<Queue>> recovered;
  std::vector<std::pair<std::string, storage::LogOptions>> to_open;
  for (const storage::QueueRecord& r : snap.queues) {
    next_queue_id_ = std::max(next_queue_id_, r.id + 1);
    auto q = std::make_unique<Queue>();
    q->id = r.id;
    q->incarnation = r.incarnation;
    q->name = r.name;
    q->created_ms = r.created_ms;
    q->dir = config_.data_dir + "/" + std::to_string(r.id);
    q->config = ConfigFor(r.name);
    q->counters.name = r.name;
    q->counters.id = r.id;
    to_open.emplace_back(q->dir, LogOptionsFor(q.get()));
    to_open.emplace_back(q->dir + "/" + kCursorDir, CursorLogOptionsFor(q.get()));
    recovered.push_back(std::move(q));
  }
  std::vector<Result<std::unique_ptr<storage::Log>>> logs = OpenLogsInParallel(to_open);

  std::map<uint64_t, ReplayedCursors> cursors;
  for (const storage::SubscriptionRecord& r : snap.subscriptions) {
    ReplayedCursor& c = cursors[r.queue_id][r.name];
    c.floor = r.ack_floor;
    c.acked.insert(r.acked.begin(), r.acked.end());
    c.counts.insert(r.deliveries.begin(), r.deliveries.end());
    c.delivered_end = r.delivered_end;
  }
  for (size_t i = 0; i < recovered.size(); ++i) {
    std::unique_ptr<Queue>& q = recovered[i];
    Result<std::unique_ptr<storage::Log>>& log = logs[2 * i];
    Result<std::unique_ptr<storage::Log>>& cursor_log = logs[2 * i + 1];
    Status st = !log.ok() ? log.status() : cursor_log.status();
    // The folder names the incarnation its logs belong to; meta.db's cursors must be its.
    if (st.ok()) {
      auto identity = storage::ReadQueueIdentity(q->dir);
      if (identity.ok() && q->incarnation != 0 && identity->incarnation != q->incarnation) {
        st = Status::Corruption("folder " + q->dir + " holds incarnation " +
                                std::to_string(identity->incarnation) + " but meta.db has " +
                                std::to_string(q->incarnation) + " for queue " + q->name);
      } else if (identity.ok() || identity.status().IsNotFound()) {
        if (q->incarnation == 0) {
          q->incarnation = identity.ok() ? identity->incarnation : storage::NewIncarnation();
          boot.set_incarnations.emplace_back(q->id, q->incarnation);
        }
      } else {
        st = identity.status();
      }
    }
    q->counters.incarnation = q->incarnation;
    if (st.ok()) {
      q->log = std::shared_ptr<storage::Log>(std::move(log).value());
      q->cursor_log = std::shared_ptr<storage::Log>(std::move(cursor_log).value());
      auto through = snap.cursor_log_through.find(q->id);
      st = Replay(*q->cursor_log, q->id,
                  through == snap.cursor_log_through.end() ? 1 : through->second,
                  config_.read_bytes, &cursors[q->id], &boot.cursor_ops);
      if (st.ok()) boot.cursor_log_through.emplace_back(q->id, q->cursor_log->next_offset());
    }
    if (!st.ok()) {
      EngineLog().error("[queue={}] cannot be recovered, queue stopped: {}", q->name,
                        st.ToString());
      q->failed = true;
      q->failure = Status::IOError("queue " + q->name + " cannot be recovered: " + st.ToString());
      q->log.reset();
      q->cursor_log.reset();
    } else {
      q->first_offset = q->log->first_offset();
      q->next_offset = q->flushed_end = q->durable_end = q->commit_end = q->log->next_offset();
      q->epoch = q->log->stats().last_epoch;
      q->cursor_log_end = q->cursor_durable_end = q->cursor_log->next_offset();
      // Opened damaged (a bad batch in the middle of the tail): stopped until repair_queue.
      if (q->log->damaged()) FailQueue(q.get(), q->log->damage());
    }
    auto through = snap.dedupe_through.find(q->id);
    q->dedupe.set_through(through == snap.dedupe_through.end() ? 0 : through->second);
    Queue* raw = q.get();
    queues_by_id_[raw->id] = raw;
    queues_.emplace(raw->name, std::move(q));
  }
  for (auto& [id, subs] : cursors) {
    Queue* q = FindQueue(id);
    if (q == nullptr) continue;
    for (auto& [name, c] : subs) {
      uint64_t floor = std::min(std::max(c.floor, q->first_offset), q->next_offset);
      Subscription* s = AddSubscription(q, name, floor, false);
      std::vector<uint64_t> acked(c.acked.begin(), c.acked.end());
      std::vector<std::pair<uint64_t, uint32_t>> counts(c.counts.begin(), c.counts.end());
      s->cursor.Restore(acked, counts, c.delivered_end);
    }
  }
  for (auto& [name, q] : queues_) {
    if (q->subs.count("") == 0) AddSubscription(q.get(), "", q->first_offset, true);
  }
  // A QUEUE file older than its fields (or than the queue's config) is brought up to date.
  for (auto& [name, q] : queues_) {
    if (q->failed) continue;
    const storage::QueueIdentity identity = IdentityOf(q.get());
    auto current = storage::ReadQueueIdentity(q->dir);
    if (!current.ok() || !(*current == identity)) {
      // Best effort: the file it replaces still names the queue and its incarnation.
      Status st = storage::WriteQueueIdentity(q->dir, identity);
      if (!st.ok()) EngineLog().warn("[queue={}] QUEUE file not updated: {}", name, st.ToString());
    }
  }
  for (const storage::DedupeRecord& d : snap.dedupe_keys) {
    Queue* q = FindQueue(d.queue_id);
    if (q == nullptr || q->config.dedupe_window_ms <= 0 ||
        d.timestamp_ms < wall - q->config.dedupe_window_ms) {
      continue;
    }
    q->dedupe.Add(d.key, d.offset, d.timestamp_ms);
  }
  // Keys of items made durable after the last checkpoint are only in the log.
  for (auto& [name, q] : queues_) {
    if (!q->log || q->config.dedupe_window_ms <= 0) continue;
    uint64_t from = std::max(q->dedupe.through() + 1, q->first_offset);
    while (from < q->next_offset) {
      auto batches = q->log->Read(from, config_.read_bytes);
      if (!batches.ok() || batches->empty()) break;
      for (const storage::BatchPtr& b : *batches) {
        for (const storage::RecordView& rec : b->records()) {
          if (rec.offset >= from && !rec.key.empty() &&
              rec.timestamp_ms >= wall - q->config.dedupe_window_ms) {
            q->dedupe.Add(std::string(rec.key), rec.offset, rec.timestamp_ms);
          }
        }
        from = std::max(from, b->end_offset());
      }
    }
  }
  changed_.clear();
  return meta_->Commit(boot);
}

}  // namespace saker::queue

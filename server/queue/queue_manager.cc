// QueueManager::Impl: queues, subscriptions, leases, waiters and the glue to the storage thread.
//
// Data path: Put assigns offsets at once and adds the records to the queue's BatchBuilder; a
// before-sleep hook turns each dirty queue's records into one Batch and hands it to the
// StorageThread; when it is durable the put replies go out and the offsets become deliverable.
// Appended batches go to the storage TailCache (shared, never copied per subscriber, under the
// engine's byte budget); older ones are read back by the ReaderPool off the loop thread and
// kept per queue, under their own budget, while subscriptions need them. Cursor changes become
// CursorOps that are committed to meta.db every commit_interval_ms on the engine's own meta
// thread: a meta.db commit (an SQLite checkpoint's fsync took 345 ms under W4) never delays
// the appends and fdatasyncs of the storage thread. Work that must follow a commit (deleting
// segments below committed floors, removing deleted queues' folders) then runs on the storage
// thread, which owns the logs.
//
// Re-entrancy: user callbacks never run while internal state is half-updated. Completions are
// queued and run by Drain() at the end of each public entry point.
#include "server/queue/queue_manager.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <deque>
#include <filesystem>
#include <list>
#include <map>
#include <queue>
#include <set>
#include <thread>
#include <unordered_map>

#include "server/common/check.h"
#include "server/common/logging.h"
#include "server/queue/cursor.h"
#include "server/storage/fd_cache.h"
#include "server/storage/log.h"
#include "server/storage/meta_store.h"
#include "server/storage/reader_pool.h"
#include "server/storage/tail_cache.h"

namespace saker::queue {
namespace {

constexpr int kLeaseCounterBits = 40;
constexpr int64_t kForever = INT64_MAX;
constexpr int64_t kDedupeForgetEveryMs = 60'000;
constexpr int64_t kMoveRetryMs = 1'000;
// Threads that open logs on restart besides the calling one (OpenLogsInParallel).
constexpr size_t kRecoveryThreads = 7;

spdlog::logger& Logger() {
  static auto& log = logging::Get("queue");
  return log;
}

std::string FullName(std::string_view queue, std::string_view sub) {
  std::string s(queue);
  if (!sub.empty()) s.append("+").append(sub);
  return s;
}

struct Queue;

struct Lease {
  uint64_t id = 0;
  uint64_t sub_uid = 0;
  uint64_t offset = 0;
  int64_t deadline_ms = 0;  // monotonic; 0 = none
  uint64_t owner = 0;
  bool held = true;  // held by a parked get, not handed out yet
  storage::BatchPtr batch;
};

struct Waiter {
  GetHandle handle = 0;
  GetOptions options;
  GetDone done;
  int64_t deadline_ms = kForever;  // monotonic
  std::vector<uint64_t> held;      // lease ids, in delivery order
};

struct Subscription {
  explicit Subscription(uint64_t floor) : cursor(floor) {}
  uint64_t uid = 0;
  std::string name;
  Queue* queue = nullptr;
  Cursor cursor;
  std::map<uint64_t, uint64_t> leases;  // offset -> lease id (handed out or held)
  std::list<Waiter> waiters;            // arrival order
  SubscriptionStats counters;
};

struct PendingPut {
  uint64_t need = 0;  // durable_end must reach this
  PutResult result;
  PutDone done;
};

struct BatchInfo {
  uint64_t base = 0;
  uint64_t end = 0;
  int64_t first_ts = 0;
  uint64_t bytes_before = 0;  // payload bytes put this boot before this batch
};

struct Queue {
  uint64_t id = 0;
  std::string name;
  std::string dir;
  QueueConfig config;
  std::shared_ptr<storage::Log> log;
  bool failed = false;
  uint64_t first_offset = 1;
  uint64_t next_offset = 1;  // the next put gets this
  uint64_t flushed_end = 1;  // handed to storage below this
  uint64_t durable_end = 1;  // deliverable below this
  storage::BatchBuilder builder;
  uint64_t builder_bytes = 0;
  bool dirty = false;    // builder holds records
  bool touched = false;  // cursor or dedupe state to commit
  std::deque<PendingPut> puts;
  std::map<uint64_t, storage::BatchPtr> cold;  // base offset -> batch read back from the log
  bool loading = false;
  std::map<std::string, std::unique_ptr<Subscription>, std::less<>> subs;  // "" first
  std::unordered_map<std::string, std::pair<uint64_t, int64_t>> dedupe;    // key -> offset, ts
  std::deque<std::pair<int64_t, std::string>> dedupe_order;                // ts, key
  std::vector<storage::DedupeRecord> dedupe_dirty;
  uint64_t dedupe_through = 0;
  std::deque<BatchInfo> index;  // batches put this boot, for timestamps and bytes
  uint64_t bytes_total = 0;
  QueueStats counters;
};

struct TimerEvent {
  enum Kind : uint8_t { kLease, kWaiter, kRedeliver };
  int64_t due = 0;
  Kind kind = kLease;
  uint64_t id = 0;
  bool operator>(const TimerEvent& o) const { return due > o.due; }
};

}  // namespace

class QueueManager::Impl {
 public:
  Impl(EngineConfig config, EventLoop* loop, storage::StorageThread* storage, const Clock* clock,
       std::shared_ptr<storage::MetaStore> meta)
      : config_(std::move(config)),
        fd_cache_(std::make_shared<storage::FdCache>(std::max<size_t>(1, config_.max_open_files))),
        loop_(loop),
        storage_(storage),
        clock_(clock),
        meta_(std::move(meta)),
        meta_thread_(std::make_unique<storage::StorageThread>(loop)),
        reader_(loop, std::max(1, config_.reader_threads)),
        tail_(config_.tail_cache_bytes) {}

  ~Impl() {
    if (timer_ != nullptr) {
      uv_timer_stop(timer_);
      uv_close(reinterpret_cast<uv_handle_t*>(timer_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    }
    *alive_ = false;
  }

  Status Recover(storage::MetaSnapshot snap);
  void Start();

  // --- API (see queue_manager.h) ---
  void Put(std::string_view name, std::vector<PutItem> items, PutDone done);
  GetHandle Get(std::string_view name, const GetOptions& options, GetDone done);
  bool CancelGet(GetHandle handle);
  size_t Ack(std::span<const uint64_t> ids);
  size_t Abort(std::span<const uint64_t> ids, int64_t delay_ms);
  size_t Extend(std::span<const uint64_t> ids, int64_t lease_ms);
  bool OwnerOldest(uint64_t owner, std::string_view name, bool confirm);
  bool ConfirmCount(uint64_t owner, std::string_view name, size_t count);
  size_t OwnerLeaseCount(uint64_t owner, std::string_view name) const;
  size_t ReleaseOwner(uint64_t owner);
  Status CreateSubscription(std::string_view queue, std::string_view sub, StartPosition start);
  Status Seek(std::string_view name, StartPosition start);
  Status DeleteSubscription(std::string_view queue, std::string_view sub);
  Result<std::vector<SubscriptionStats>> ListSubscriptions(std::string_view queue);
  Status Flush(std::string_view name);
  Status FlushAll();
  Result<uint64_t> FlushExpired(std::string_view name);
  Result<uint64_t> FlushAllExpired();
  Status DeleteQueue(std::string_view name);
  std::vector<std::string> ListQueues() const;
  Result<QueueStats> GetQueueStats(std::string_view name);
  std::vector<QueueStats> AllStats() const;
  Status SetQueueConfig(std::string_view name, const QueueConfig& config);
  ServerStatus status() const { return status_; }
  void SetStatus(ServerStatus status);
  void Tick();
  void Commit(std::function<void(Status)> done);
  // Runs `durable` once the cursor changes made so far are durable (`changed`), or at once.
  void WhenDurable(bool changed, DurableDone durable) {
    if (!durable) return;
    if (!changed) {
      completions_.push_back([durable = std::move(durable)] { durable(Status::OK()); });
      return;
    }
    Commit(std::move(durable));
  }
  // After a commit: deletes the segments below committed floors and the folders of deleted
  // queues (taken out on the storage thread, their files removed on the meta thread), then
  // runs the commit's `waiters`.
  // A queue's log to cut below `floor` (its whole segments).
  struct Retained {
    uint64_t queue_id;
    std::shared_ptr<storage::Log> log;
    uint64_t floor;
  };
  void RemoveCommitted(
      std::vector<Retained> retention,
      std::shared_ptr<std::vector<std::pair<std::shared_ptr<storage::Log>, std::string>>> dirs,
      std::vector<std::function<void(Status)>> waiters);
  void Close(std::function<void(Status)> done);
  void Drain();

 private:
  QueueConfig ConfigFor(std::string_view name) const {
    return config_.config_for ? config_.config_for(name) : config_.defaults;
  }
  Status CheckOpen() const {
    return closed_ ? Status::Unavailable("queue engine is closed") : Status::OK();
  }
  Status CheckWrites() const;
  Status CheckReads() const;
  int64_t Now() const { return clock_->NowMonoMs(); }
  int64_t Wall() const { return clock_->NowWallMs(); }

  Result<Queue*> GetOrCreateQueue(std::string_view name);
  Queue* FindQueue(std::string_view name) const {
    auto it = queues_.find(name);
    return it == queues_.end() ? nullptr : it->second.get();
  }
  Queue* FindQueue(uint64_t id) const {
    auto it = queues_by_id_.find(id);
    return it == queues_by_id_.end() ? nullptr : it->second;
  }
  // "queue" or "queue+sub"; creates both on first reference (a new sub at latest).
  Result<Subscription*> Resolve(std::string_view name);
  Subscription* AddSubscription(Queue* q, std::string_view name, uint64_t floor, bool emit);
  Result<uint64_t> StartOffset(Queue* q, StartPosition start) const;
  void OpenLogs();
  storage::LogOptions LogOptionsFor(const Queue* q);

  void PutInto(Queue* q, std::vector<PutItem> items, PutDone done);
  uint64_t MinFloor(const Queue* q) const;
  uint64_t RetainedBytes(const Queue* q, uint64_t floor) const;
  void DropOldest(Queue* q);
  void FlushPuts();
  void OnAppended(uint64_t queue_id, storage::BatchPtr batch, Status st);
  void FailQueue(Queue* q, const Status& st);
  void CompletePuts(Queue* q);

  void AddCold(Queue* q, storage::BatchPtr batch);
  storage::BatchPtr FindResident(const Queue* q, uint64_t offset) const;
  void TrimCold(Queue* q);
  void RequestLoad(Queue* q, uint64_t offset);
  bool Expired(const Queue* q, const storage::RecordView& rec) const;

  void ServeWaiters(Subscription* s);
  void ServeQueue(Queue* q) {
    for (auto& [name, s] : q->subs) ServeWaiters(s.get());
  }
  void Fill(Subscription* s, Waiter* w);
  bool Complete(const Waiter& w) const {
    if (w.held.size() >= w.options.max_items) return true;
    return !w.options.fill && !w.held.empty();
  }
  void Finish(Subscription* s, std::list<Waiter>::iterator it, Status st);
  void MoveOut(Subscription* s, uint64_t offset, const storage::RecordView& rec,
               const std::string& target, bool dead_letter);
  void ExpireItem(Subscription* s, uint64_t offset, const storage::RecordView& rec);

  uint64_t NewLease(Subscription* s, uint64_t offset, storage::BatchPtr batch);
  void EndLease(std::unordered_map<uint64_t, Lease>::iterator it);
  void ReleaseLease(uint64_t lease_id, int64_t delay_ms);
  void DropSubscriptionLeases(Subscription* s, uint64_t below);
  void AckOffset(Subscription* s, uint64_t offset);
  void Touch(Queue* q) {
    if (!q->touched) {
      q->touched = true;
      touched_.push_back(q->id);
    }
  }
  void AddTimer(int64_t due, TimerEvent::Kind kind, uint64_t id) {
    timers_.push(TimerEvent{due, kind, id});
  }
  Status RemoveQueue(Queue* q);
  Status FlushSub(Subscription* s);
  uint64_t FlushExpiredSub(Subscription* s);
  QueueStats StatsOf(const Queue* q) const;
  SubscriptionStats StatsOf(const Subscription* s) const;
  std::set<uint64_t>* OwnerSet(uint64_t owner, std::string_view name);

  EngineConfig config_;
  // Segment descriptors of every log; declared first so that it outlives every Log.
  std::shared_ptr<storage::FdCache> fd_cache_;  // shared with every log
  EventLoop* loop_;
  storage::StorageThread* storage_;
  const Clock* clock_;
  std::shared_ptr<storage::MetaStore> meta_;  // used on meta_thread_ only (after Recover)
  // meta.db commits and the opening of new queues' logs (Run only, no appends).
  std::unique_ptr<storage::StorageThread> meta_thread_;
  storage::ReaderPool reader_;  // cold reads, off the loop thread
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::map<std::string, std::unique_ptr<Queue>, std::less<>> queues_;
  std::unordered_map<uint64_t, Queue*> queues_by_id_;
  std::unordered_map<uint64_t, Subscription*> subs_by_uid_;
  std::unordered_map<uint64_t, Lease> leases_;
  // owner -> "queue[+sub]" -> lease ids (ascending = oldest first)
  std::unordered_map<uint64_t, std::map<std::string, std::set<uint64_t>, std::less<>>> owners_;
  struct WaiterRef {
    Subscription* sub;
    std::list<Waiter>::iterator it;
  };
  std::unordered_map<GetHandle, WaiterRef> waiters_;
  std::priority_queue<TimerEvent, std::vector<TimerEvent>, std::greater<>> timers_;
  std::vector<uint64_t> creating_;  // queue ids whose rows and logs are to be created
  std::vector<uint64_t> dirty_;     // queue ids with records to write
  std::vector<uint64_t> touched_;   // queue ids with state to commit
  storage::MetaBatch pending_meta_;
  std::vector<std::pair<std::shared_ptr<storage::Log>, std::string>> remove_dirs_;
  bool commit_in_flight_ = false;
  bool commit_again_ = false;
  std::vector<std::function<void(Status)>> commit_waiters_;
  int64_t last_commit_ms_ = 0;
  int64_t last_forget_ms_ = 0;

  uint64_t next_queue_id_ = 1;
  uint64_t next_sub_uid_ = 1;
  GetHandle next_handle_ = 1;
  uint64_t lease_prefix_ = 0;
  uint64_t lease_counter_ = 0;
  ServerStatus status_ = ServerStatus::kUp;
  bool closed_ = false;

  storage::TailCache tail_;
  uint64_t cold_bytes_ = 0;
  struct LruEntry {
    uint64_t queue_id;
    uint64_t base;
    const storage::Batch* batch;
  };
  std::deque<LruEntry> lru_;

  uv_timer_t* timer_ = nullptr;
  std::vector<std::function<void()>> completions_;
  bool draining_ = false;

  friend class QueueManager;
};

// ---------------------------------------------------------------------------------------------
// Open and recovery

namespace {

// Opens every log of a restart. One after another, 100,000 logs are 100,000 directory listings
// and tail reads in a row (seconds, and tens of seconds with a cold page cache); a few threads
// overlap them, so restart to ready stays short (DESIGN.md W5). Log::Open touches no shared
// state but the thread-safe FdCache.
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

}  // namespace

Status QueueManager::Impl::Recover(storage::MetaSnapshot snap) {
  namespace fs = std::filesystem;
  uint64_t boots = 0;
  if (auto it = snap.settings.find("boots"); it != snap.settings.end()) {
    boots = std::stoull(it->second);
  }
  boots++;
  lease_prefix_ = (boots & ((1ull << (64 - kLeaseCounterBits)) - 1)) << kLeaseCounterBits;
  if (auto it = snap.settings.find("status"); it != snap.settings.end()) {
    if (it->second == "READONLY") status_ = ServerStatus::kReadOnly;
    if (it->second == "QUIESCENT") status_ = ServerStatus::kQuiescent;
  }
  {
    storage::MetaBatch b;
    b.settings["boots"] = std::to_string(boots);
    SAKER_RETURN_IF_ERROR(meta_->Commit(b));
  }

  // Folders without a queue row are queues whose deletion was committed (or whose creation
  // never was: no put to them was acknowledged). Their ids are never reused.
  std::set<uint64_t> known;
  for (const auto& r : snap.queues) known.insert(r.id);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(config_.data_dir, ec)) {
    const std::string fname = entry.path().filename().string();
    if (!entry.is_directory() || fname.empty() ||
        !std::all_of(fname.begin(), fname.end(), ::isdigit)) {
      continue;
    }
    uint64_t id = std::stoull(fname);
    next_queue_id_ = std::max(next_queue_id_, id + 1);
    if (known.count(id) == 0) {
      Logger().warn("[queue id={}] removing folder of a deleted queue", id);
      fs::remove_all(entry.path(), ec);
    }
  }
  if (auto it = snap.settings.find("next_queue_id"); it != snap.settings.end()) {
    next_queue_id_ = std::max<uint64_t>(next_queue_id_, std::stoull(it->second));
  }

  const int64_t wall = Wall();
  std::vector<std::unique_ptr<Queue>> recovered;
  std::vector<std::pair<std::string, storage::LogOptions>> to_open;
  for (const storage::QueueRecord& r : snap.queues) {
    next_queue_id_ = std::max(next_queue_id_, r.id + 1);
    auto q = std::make_unique<Queue>();
    q->id = r.id;
    q->name = r.name;
    q->dir = config_.data_dir + "/" + std::to_string(r.id);
    q->config = ConfigFor(r.name);
    q->counters.name = r.name;
    q->counters.id = r.id;
    to_open.emplace_back(q->dir, LogOptionsFor(q.get()));
    recovered.push_back(std::move(q));
  }
  std::vector<Result<std::unique_ptr<storage::Log>>> logs = OpenLogsInParallel(to_open);
  for (size_t i = 0; i < recovered.size(); ++i) {
    std::unique_ptr<Queue>& q = recovered[i];
    const storage::QueueRecord& r = snap.queues[i];
    Result<std::unique_ptr<storage::Log>>& log = logs[i];
    if (!log.ok()) {
      Logger().error("[queue={}] cannot open its log, queue stopped: {}", r.name,
                     log.status().ToString());
      q->failed = true;
    } else {
      q->log = std::shared_ptr<storage::Log>(std::move(log).value());
      q->first_offset = q->log->first_offset();
      q->next_offset = q->flushed_end = q->durable_end = q->log->next_offset();
    }
    auto through = snap.dedupe_through.find(r.id);
    q->dedupe_through = through == snap.dedupe_through.end() ? 0 : through->second;
    Queue* raw = q.get();
    queues_by_id_[r.id] = raw;
    queues_.emplace(r.name, std::move(q));
  }
  for (const storage::SubscriptionRecord& r : snap.subscriptions) {
    Queue* q = FindQueue(r.queue_id);
    if (q == nullptr) continue;
    uint64_t floor = std::min(std::max(r.ack_floor, q->first_offset), q->next_offset);
    Subscription* s = AddSubscription(q, r.name, floor, false);
    s->cursor.Restore(r.acked, r.deliveries);
  }
  for (auto& [name, q] : queues_) {
    if (q->subs.count("") == 0) AddSubscription(q.get(), "", q->first_offset, true);
  }
  for (const storage::DedupeRecord& d : snap.dedupe_keys) {
    Queue* q = FindQueue(d.queue_id);
    if (q == nullptr || q->config.dedupe_window_ms <= 0 ||
        d.timestamp_ms < wall - q->config.dedupe_window_ms) {
      continue;
    }
    q->dedupe[d.key] = {d.offset, d.timestamp_ms};
  }
  // Keys of items made durable after the last meta.db commit are only in the log.
  for (auto& [name, q] : queues_) {
    if (!q->log || q->config.dedupe_window_ms <= 0) continue;
    uint64_t from = std::max(q->dedupe_through + 1, q->first_offset);
    while (from < q->next_offset) {
      auto batches = q->log->Read(from, config_.read_bytes);
      if (!batches.ok() || batches->empty()) break;
      for (const storage::BatchPtr& b : *batches) {
        for (const storage::RecordView& rec : b->records()) {
          if (rec.offset >= from && !rec.key.empty() &&
              rec.timestamp_ms >= wall - q->config.dedupe_window_ms) {
            q->dedupe[std::string(rec.key)] = {rec.offset, rec.timestamp_ms};
          }
        }
        from = std::max(from, b->end_offset());
      }
    }
    for (const auto& [key, v] : q->dedupe) q->dedupe_order.emplace_back(v.second, key);
    std::sort(q->dedupe_order.begin(), q->dedupe_order.end());
  }
  return Status::OK();
}

void QueueManager::Impl::Start() {
  meta_thread_->Start();
  loop_->AddBeforeSleep([this, alive = alive_] {
    if (*alive) FlushPuts();
  });
  timer_ = new uv_timer_t;
  uv_timer_init(loop_->uv(), timer_);
  timer_->data = this;
  uint64_t tick = static_cast<uint64_t>(std::max<int64_t>(1, config_.tick_ms));
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->Tick(); }, tick, tick);
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  last_commit_ms_ = Now();
  last_forget_ms_ = Now();
}

storage::LogOptions QueueManager::Impl::LogOptionsFor(const Queue* q) {
  storage::LogOptions o;
  o.segment_bytes = q->config.segment_bytes;
  o.sync = q->config.sync;
  o.direct_min_bytes = config_.direct_io_min_bytes;
  o.clock = clock_;
  o.fd_cache = fd_cache_;
  o.name = "queue=" + q->name;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Names, queues and subscriptions

Status QueueManager::Impl::CheckWrites() const {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  if (status_ != ServerStatus::kUp) {
    return Status::Unavailable("server is " + std::string(ServerStatusName(status_)));
  }
  return Status::OK();
}

Status QueueManager::Impl::CheckReads() const {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  if (status_ == ServerStatus::kQuiescent) return Status::Unavailable("server is QUIESCENT");
  return Status::OK();
}

Result<Queue*> QueueManager::Impl::GetOrCreateQueue(std::string_view name) {
  if (Queue* q = FindQueue(name)) return q;
  if (!IsValidName(name)) {
    return Status::InvalidArgument("bad queue name '" + std::string(name.substr(0, 200)) + "'");
  }
  auto q = std::make_unique<Queue>();
  q->id = next_queue_id_++;
  q->name = std::string(name);
  q->dir = config_.data_dir + "/" + std::to_string(q->id);
  q->config = ConfigFor(name);
  q->counters.name = q->name;
  q->counters.id = q->id;
  Queue* raw = q.get();
  queues_by_id_[raw->id] = raw;
  queues_.emplace(raw->name, std::move(q));
  AddSubscription(raw, "", 1, false);
  creating_.push_back(raw->id);
  Logger().info("[queue={}] created (id {})", raw->name, raw->id);
  return raw;
}

void QueueManager::Impl::OpenLogs() {
  // The queue rows and their default cursors are committed before the logs exist, so a put is
  // never acknowledged into a folder that recovery would not know. Queues created in one loop
  // iteration share one meta.db transaction.
  if (creating_.empty()) return;
  struct Opening {
    uint64_t id;
    std::string dir;
    storage::LogOptions options;
    Result<std::shared_ptr<storage::Log>> log = Status::Unavailable("not opened");
  };
  auto opening = std::make_shared<std::vector<Opening>>();
  storage::MetaBatch create;
  for (uint64_t id : creating_) {
    Queue* q = FindQueue(id);
    if (q == nullptr) continue;
    create.create_queues.push_back({q->id, q->name, Wall()});
    create.cursor_ops.push_back({storage::CursorOp::Type::kCreate, q->id, "", 1, 0});
    opening->push_back({q->id, q->dir, LogOptionsFor(q)});
  }
  creating_.clear();
  create.settings["next_queue_id"] = std::to_string(next_queue_id_);
  meta_thread_->Run(
      [meta = meta_, create = std::move(create), opening]() -> Status {
        SAKER_RETURN_IF_ERROR(meta->Commit(create));
        for (Opening& o : *opening) {
          auto log = storage::Log::Open(o.dir, o.options);
          if (log.ok()) {
            o.log = std::shared_ptr<storage::Log>(std::move(log).value());
          } else {
            o.log = log.status();
          }
        }
        return Status::OK();
      },
      [this, alive = alive_, opening](Status st) {
        if (!*alive) return;
        for (Opening& o : *opening) {
          Queue* q = FindQueue(o.id);
          if (q == nullptr) continue;  // deleted meanwhile: the delete commit removes the folder
          if (!st.ok()) {
            FailQueue(q, st);
          } else if (!o.log.ok()) {
            FailQueue(q, o.log.status());
          } else {
            q->log = std::move(o.log).value();
          }
        }
        Drain();
      });
}

Subscription* QueueManager::Impl::AddSubscription(Queue* q, std::string_view name, uint64_t floor,
                                                  bool emit) {
  auto s = std::make_unique<Subscription>(floor);
  s->uid = next_sub_uid_++;
  s->name = std::string(name);
  s->queue = q;
  s->counters.name = s->name;
  Subscription* raw = s.get();
  subs_by_uid_[raw->uid] = raw;
  q->subs.emplace(raw->name, std::move(s));
  if (emit) {
    pending_meta_.cursor_ops.push_back(
        {storage::CursorOp::Type::kCreate, q->id, raw->name, floor, 0});
  }
  return raw;
}

Result<Subscription*> QueueManager::Impl::Resolve(std::string_view name) {
  auto parsed = ParseQueueName(name);
  if (!parsed.ok()) return parsed.status();
  auto q = GetOrCreateQueue(parsed->queue);
  if (!q.ok()) return q.status();
  auto it = (*q)->subs.find(parsed->subscription);
  if (it != (*q)->subs.end()) return it->second.get();
  return AddSubscription(*q, parsed->subscription, (*q)->next_offset, true);
}

Result<uint64_t> QueueManager::Impl::StartOffset(Queue* q, StartPosition start) const {
  const uint64_t first = q->log ? q->log->first_offset() : q->first_offset;
  switch (start.kind) {
    case StartPosition::Kind::kEarliest:
      return first;
    case StartPosition::Kind::kLatest:
      return q->next_offset;
    case StartPosition::Kind::kOffset:
      if (start.offset < 1) return Status::InvalidArgument("offsets start at 1");
      return std::clamp(start.offset, first, q->next_offset);
    case StartPosition::Kind::kTimestamp: {
      // Batches put since this boot are indexed by time; anything older counts as earlier.
      for (const BatchInfo& b : q->index) {
        if (b.first_ts >= start.timestamp_ms) return std::max(b.base, first);
      }
      if (q->index.empty() || q->index.front().base > first) {
        return q->index.empty() ? q->next_offset : q->index.front().base;
      }
      return q->next_offset;
    }
  }
  return q->next_offset;
}

// ---------------------------------------------------------------------------------------------
// Put

void QueueManager::Impl::Put(std::string_view name, std::vector<PutItem> items, PutDone done) {
  Status st = CheckWrites();
  auto parsed = ParseQueueName(name);
  if (st.ok() && !parsed.ok()) st = parsed.status();
  Result<Queue*> q = st.ok() ? GetOrCreateQueue(parsed->queue) : Result<Queue*>(st);
  if (!q.ok()) {
    completions_.push_back([done = std::move(done), st = q.status()] { done(st); });
    return;
  }
  PutInto(*q, std::move(items), std::move(done));
}

uint64_t QueueManager::Impl::MinFloor(const Queue* q) const {
  uint64_t floor = q->next_offset;
  for (const auto& [name, s] : q->subs) floor = std::min(floor, s->cursor.floor());
  return floor;
}

uint64_t QueueManager::Impl::RetainedBytes(const Queue* q, uint64_t floor) const {
  // Payload bytes from `floor` to the end, known for batches put since this boot.
  auto it = std::upper_bound(q->index.begin(), q->index.end(), floor,
                             [](uint64_t f, const BatchInfo& b) { return f < b.end; });
  return q->bytes_total - (it == q->index.end() ? q->bytes_total : it->bytes_before);
}

void QueueManager::Impl::DropOldest(Queue* q) {
  const uint64_t target = MinFloor(q) + 1;
  for (auto& [name, s] : q->subs) {
    if (s->cursor.floor() >= target) continue;
    DropSubscriptionLeases(s.get(), target);
    uint64_t n = s->cursor.AckBelow(target);
    s->counters.dropped += n;
  }
  q->counters.dropped++;
  Touch(q);
}

void QueueManager::Impl::PutInto(Queue* q, std::vector<PutItem> items, PutDone done) {
  if (q->failed) {
    completions_.push_back([done = std::move(done), name = q->name] {
      done(Status::IOError("queue " + name + " is stopped after a storage error"));
    });
    return;
  }
  const QueueConfig& cfg = q->config;
  const int64_t wall = Wall();
  while (!q->dedupe_order.empty() && q->dedupe_order.front().first < wall - cfg.dedupe_window_ms) {
    auto it = q->dedupe.find(q->dedupe_order.front().second);
    if (it != q->dedupe.end() && it->second.second == q->dedupe_order.front().first) {
      q->dedupe.erase(it);
    }
    q->dedupe_order.pop_front();
  }
  PendingPut put;
  put.done = std::move(done);
  uint64_t floor = MinFloor(q);
  uint64_t bytes = (cfg.max_bytes > 0) ? RetainedBytes(q, floor) + q->builder_bytes : 0;
  for (PutItem& item : items) {
    if (cfg.max_item_size > 0 && item.payload.size() > cfg.max_item_size) {
      put.result.refused = Status::InvalidArgument(
          "item of " + std::to_string(item.payload.size()) + " bytes is over max_item_size " +
          std::to_string(cfg.max_item_size) + " of queue " + q->name);
      break;
    }
    if (!item.key.empty() && cfg.dedupe_window_ms > 0) {
      auto it = q->dedupe.find(item.key);
      if (it != q->dedupe.end() && it->second.second >= wall - cfg.dedupe_window_ms) {
        put.result.offsets.push_back(it->second.first);
        put.result.accepted++;
        put.need = std::max(put.need, it->second.first + 1);
        q->counters.deduped++;
        continue;
      }
    }
    auto full = [&] {
      return (cfg.max_items > 0 && q->next_offset - floor + 1 > cfg.max_items) ||
             (cfg.max_bytes > 0 && bytes + item.payload.size() > cfg.max_bytes);
    };
    if (full() && cfg.when_full == WhenFull::kDropOldest) {
      while (full() && floor < q->next_offset) {
        DropOldest(q);
        floor = MinFloor(q);
        bytes = cfg.max_bytes > 0 ? RetainedBytes(q, floor) + q->builder_bytes : 0;
      }
    }
    if (full()) {
      put.result.refused = Status::Busy("queue " + q->name + " is full");
      q->counters.put_refused++;
      break;
    }
    int64_t expiry = item.expiry_ms;
    if (cfg.max_age_ms > 0) {
      int64_t cap = wall + cfg.max_age_ms;
      expiry = expiry == 0 ? cap : std::min(expiry, cap);
    }
    const uint64_t offset = q->next_offset++;
    q->builder.Add(wall, expiry, item.key, item.payload);
    q->builder_bytes += item.payload.size();
    bytes += item.payload.size();
    if (!item.key.empty() && cfg.dedupe_window_ms > 0) {
      q->dedupe[item.key] = {offset, wall};
      q->dedupe_order.emplace_back(wall, item.key);
    }
    put.result.offsets.push_back(offset);
    put.result.accepted++;
    put.need = offset + 1;
    q->counters.put++;
  }
  if (!q->builder.empty() && !q->dirty) {
    q->dirty = true;
    dirty_.push_back(q->id);
  }
  if (put.need <= q->durable_end) {
    completions_.push_back([put = std::move(put)]() mutable { put.done(std::move(put.result)); });
    return;
  }
  q->puts.push_back(std::move(put));
}

void QueueManager::Impl::FlushPuts() {
  OpenLogs();
  if (dirty_.empty()) return;
  std::vector<uint64_t> keep;
  for (uint64_t id : dirty_) {
    Queue* q = FindQueue(id);
    if (q == nullptr || q->builder.empty()) continue;
    if (!q->log) {
      if (!q->failed) keep.push_back(id);  // the log is still being opened
      continue;
    }
    q->dirty = false;
    storage::BatchPtr batch = q->builder.Finish(0, q->flushed_end);
    SAKER_CHECK(batch->end_offset() == q->next_offset);
    q->index.push_back(
        {batch->base_offset(), batch->end_offset(), batch->max_timestamp_ms(), q->bytes_total});
    q->bytes_total += q->builder_bytes;
    q->builder_bytes = 0;
    q->flushed_end = batch->end_offset();
    tail_.Add(q->log.get(), batch);
    // A subscription below the tail cache will read these items back from the log: keep them
    // in the page cache for it rather than write them with O_DIRECT.
    uint64_t cached = tail_.first_cached_offset(q->log.get());
    q->log->SetReadersBehind(MinFloor(q) < (cached == 0 ? q->next_offset : cached));
    storage_->Append(q->log, batch, [this, alive = alive_, id, batch](Status st) {
      if (!*alive) return;
      OnAppended(id, batch, std::move(st));
      Drain();
    });
  }
  dirty_ = std::move(keep);
}

void QueueManager::Impl::OnAppended(uint64_t queue_id, storage::BatchPtr batch, Status st) {
  Queue* q = FindQueue(queue_id);
  if (q == nullptr) return;
  if (!st.ok()) {
    FailQueue(q, st);
    return;
  }
  q->durable_end = std::max(q->durable_end, batch->end_offset());
  for (const storage::RecordView& rec : batch->records()) {
    if (!rec.key.empty() && q->config.dedupe_window_ms > 0) {
      q->dedupe_dirty.push_back({q->id, std::string(rec.key), rec.offset, rec.timestamp_ms});
    }
  }
  q->dedupe_through = batch->last_offset();
  Touch(q);
  CompletePuts(q);
  ServeQueue(q);
}

void QueueManager::Impl::FailQueue(Queue* q, const Status& st) {
  if (!q->failed) Logger().error("[queue={}] stopped: {}", q->name, st.ToString());
  q->failed = true;
  q->builder = storage::BatchBuilder();
  q->builder_bytes = 0;
  while (!q->puts.empty()) {
    PendingPut p = std::move(q->puts.front());
    q->puts.pop_front();
    completions_.push_back([done = std::move(p.done), st] { done(st); });
  }
}

void QueueManager::Impl::CompletePuts(Queue* q) {
  while (!q->puts.empty() && q->puts.front().need <= q->durable_end) {
    PendingPut p = std::move(q->puts.front());
    q->puts.pop_front();
    completions_.push_back([p = std::move(p)]() mutable { p.done(std::move(p.result)); });
  }
}

// ---------------------------------------------------------------------------------------------
// Resident batches and cold reads

void QueueManager::Impl::AddCold(Queue* q, storage::BatchPtr batch) {
  const uint64_t base = batch->base_offset();
  lru_.push_back({q->id, base, batch.get()});
  cold_bytes_ += batch->size_bytes();
  q->cold[base] = std::move(batch);
  while (cold_bytes_ > config_.cold_cache_bytes && lru_.size() > 1) {
    LruEntry e = lru_.front();
    lru_.pop_front();
    Queue* owner = FindQueue(e.queue_id);
    if (owner == nullptr) continue;
    auto it = owner->cold.find(e.base);
    if (it == owner->cold.end() || it->second.get() != e.batch) continue;
    cold_bytes_ -= it->second->size_bytes();
    owner->cold.erase(it);
  }
}

storage::BatchPtr QueueManager::Impl::FindResident(const Queue* q, uint64_t offset) const {
  if (q->log) {
    std::vector<storage::BatchPtr> tail = tail_.Read(q->log.get(), offset, 1);
    if (!tail.empty() && tail[0]->base_offset() <= offset && offset < tail[0]->end_offset()) {
      return tail[0];
    }
  }
  auto it = q->cold.upper_bound(offset);
  if (it == q->cold.begin()) return nullptr;
  --it;
  return offset < it->second->end_offset() ? it->second : nullptr;
}

void QueueManager::Impl::TrimCold(Queue* q) {
  const uint64_t floor = MinFloor(q);
  while (!q->cold.empty() && q->cold.begin()->second->end_offset() <= floor) {
    cold_bytes_ -= q->cold.begin()->second->size_bytes();
    q->cold.erase(q->cold.begin());
  }
  while (q->index.size() > 1 && q->index[1].base <= floor) q->index.pop_front();
}

void QueueManager::Impl::RequestLoad(Queue* q, uint64_t offset) {
  if (q->loading || !q->log) return;
  q->loading = true;
  reader_.Read(q->log, offset, config_.read_bytes,
               [this, alive = alive_, id = q->id](Result<std::vector<storage::BatchPtr>> read) {
                 if (!*alive) return;
                 Queue* q = FindQueue(id);
                 if (q == nullptr) return;
                 q->loading = false;
                 const Status& st = read.status();
                 std::vector<storage::BatchPtr> batches;
                 if (read.ok()) batches = std::move(read).value();
                 if (st.IsNotFound() && q->log) {
                   // Retention removed what a cursor still wanted (drop_oldest or a seek to
                   // earliest raced with it): move such cursors to the first offset kept.
                   const uint64_t first = q->log->first_offset();
                   q->first_offset = first;
                   for (auto& [name, s] : q->subs) {
                     DropSubscriptionLeases(s.get(), first);
                     s->counters.dropped += s->cursor.AckBelow(first);
                   }
                   Touch(q);
                 } else if (!st.ok()) {
                   Logger().error("[queue={}] cold read failed: {}", q->name, st.ToString());
                 }
                 // The first batch is the one a get waits for; read-ahead only while the budget
                 // allows.
                 for (size_t i = 0; i < batches.size(); i++) {
                   storage::BatchPtr& b = batches[i];
                   if (i > 0 && cold_bytes_ + b->size_bytes() > config_.cold_cache_bytes) break;
                   if (FindResident(q, b->base_offset()) == nullptr) AddCold(q, std::move(b));
                 }
                 ServeQueue(q);
                 // Gets that asked not to wait only waited for this read.
                 const int64_t now = Now();
                 for (auto& [name, s] : q->subs) {
                   for (auto it = s->waiters.begin(); it != s->waiters.end();) {
                     auto cur = it++;
                     if (cur->deadline_ms <= now) Finish(s.get(), cur, Status::OK());
                   }
                 }
                 Drain();
               });
}

bool QueueManager::Impl::Expired(const Queue* q, const storage::RecordView& rec) const {
  int64_t expiry = rec.expiry_ms;
  if (q->config.max_age_ms > 0) {
    int64_t cap = rec.timestamp_ms + q->config.max_age_ms;
    expiry = expiry == 0 ? cap : std::min(expiry, cap);
  }
  return expiry != 0 && expiry <= Wall();
}

// ---------------------------------------------------------------------------------------------
// Get

GetHandle QueueManager::Impl::Get(std::string_view name, const GetOptions& options, GetDone done) {
  Status st = CheckReads();
  Result<Subscription*> sub = st.ok() ? Resolve(name) : Result<Subscription*>(st);
  if (!sub.ok()) {
    completions_.push_back([done = std::move(done), st = sub.status()] { done(st); });
    return 0;
  }
  Subscription* s = *sub;
  if (options.max_items == 0) {
    completions_.push_back([done = std::move(done)] { done(std::vector<Delivery>{}); });
    return 0;
  }
  const int64_t now = Now();
  Waiter w;
  w.handle = next_handle_++;
  w.options = options;
  w.done = std::move(done);
  if (options.timeout_ms < 0) {
    w.deadline_ms = kForever;
  } else {
    w.deadline_ms = now + options.timeout_ms;
  }
  const GetHandle handle = w.handle;
  s->waiters.push_back(std::move(w));
  waiters_[handle] = {s, std::prev(s->waiters.end())};
  ServeWaiters(s);
  auto ref = waiters_.find(handle);
  if (ref == waiters_.end()) return 0;
  if (ref->second.it->deadline_ms <= now && !s->queue->loading) {
    Finish(s, ref->second.it, Status::OK());
    return 0;
  }
  if (ref->second.it->deadline_ms != kForever) {
    AddTimer(ref->second.it->deadline_ms, TimerEvent::kWaiter, handle);
  }
  return handle;
}

void QueueManager::Impl::ServeWaiters(Subscription* s) {
  while (!s->waiters.empty()) {
    auto it = s->waiters.begin();
    Fill(s, &*it);
    if (!Complete(*it)) break;
    Finish(s, it, Status::OK());
  }
}

void QueueManager::Impl::Fill(Subscription* s, Waiter* w) {
  Queue* q = s->queue;
  const int64_t now = Now();
  storage::BatchPtr batch;  // the batch of the previous offset, usually the next one's too
  while (w->held.size() < w->options.max_items) {
    if (!w->options.peek && q->config.max_unacked > 0 &&
        s->cursor.in_flight() >= q->config.max_unacked) {
      break;
    }
    const uint64_t offset = s->cursor.NextDeliverable(q->durable_end, now);
    if (offset == 0) break;
    if (!batch || offset < batch->base_offset() || offset >= batch->end_offset()) {
      batch = FindResident(q, offset);
    }
    if (!batch) {
      RequestLoad(q, offset);
      break;
    }
    const storage::RecordView rec = batch->Record(offset);
    if (Expired(q, rec)) {
      ExpireItem(s, offset, rec);
      continue;
    }
    if (q->config.max_deliveries > 0 &&
        s->cursor.DeliveryCount(offset) >= q->config.max_deliveries) {
      s->cursor.Take(offset);
      MoveOut(s, offset, rec, q->config.dlq.empty() ? q->name + ".dlq" : q->config.dlq, true);
      continue;
    }
    s->cursor.Take(offset);
    w->held.push_back(NewLease(s, offset, batch));
  }
}

void QueueManager::Impl::Finish(Subscription* s, std::list<Waiter>::iterator it, Status st) {
  Waiter w = std::move(*it);
  s->waiters.erase(it);
  waiters_.erase(w.handle);
  Queue* q = s->queue;
  const int64_t now = Now();
  std::vector<Delivery> out;
  if (!st.ok()) {
    for (uint64_t id : w.held) ReleaseLease(id, 0);
    completions_.push_back([done = std::move(w.done), st] { done(st); });
    return;
  }
  out.reserve(w.held.size());
  const bool reliable = w.options.reliable || w.options.lease_ms > 0;
  const std::string full = FullName(q->name, s->name);
  for (uint64_t id : w.held) {
    auto lit = leases_.find(id);
    SAKER_CHECK(lit != leases_.end());
    Lease& lease = lit->second;
    const storage::RecordView rec = lease.batch->Record(lease.offset);
    Delivery d;
    d.offset = lease.offset;
    d.timestamp_ms = rec.timestamp_ms;
    d.expiry_ms = rec.expiry_ms;
    d.payload = rec.payload;
    d.batch = lease.batch;
    if (w.options.peek) {
      d.delivery_count = s->cursor.DeliveryCount(lease.offset);
      out.push_back(std::move(d));
      s->cursor.Release(lease.offset, now, now);
      s->leases.erase(lease.offset);
      leases_.erase(lit);
      continue;
    }
    d.delivery_count = s->cursor.CountDelivery(lease.offset);
    s->counters.delivered++;
    if (d.delivery_count > 1) s->counters.redelivered++;
    if (!reliable) {
      const uint64_t offset = lease.offset;
      out.push_back(std::move(d));
      s->leases.erase(offset);
      leases_.erase(lit);
      if (s->cursor.Ack(offset)) s->counters.acked++;
      continue;
    }
    d.lease_id = id;
    lease.held = false;
    int64_t lease_ms = w.options.lease_ms > 0 ? w.options.lease_ms : q->config.lease_timeout_ms;
    if (lease_ms > 0) {
      lease.deadline_ms = now + lease_ms;
      AddTimer(lease.deadline_ms, TimerEvent::kLease, id);
    }
    if (w.options.owner != 0) {
      lease.owner = w.options.owner;
      owners_[w.options.owner][full].insert(id);
    }
    out.push_back(std::move(d));
  }
  Touch(q);
  if (w.options.peek) ServeWaiters(s);
  completions_.push_back(
      [done = std::move(w.done), out = std::move(out)]() mutable { done(std::move(out)); });
}

bool QueueManager::Impl::CancelGet(GetHandle handle) {
  auto ref = waiters_.find(handle);
  if (ref == waiters_.end()) return false;
  Subscription* s = ref->second.sub;
  Waiter w = std::move(*ref->second.it);
  s->waiters.erase(ref->second.it);
  waiters_.erase(ref);
  for (uint64_t id : w.held) ReleaseLease(id, 0);
  if (!w.held.empty()) ServeWaiters(s);
  return true;
}

void QueueManager::Impl::MoveOut(Subscription* s, uint64_t offset, const storage::RecordView& rec,
                                 const std::string& target, bool dead_letter) {
  // The offset stays in flight until the copy is durable in `target`, then it is acked: a
  // crash in between delivers it again (at least once), never loses it.
  Queue* q = s->queue;
  if (dead_letter) {
    s->counters.dead_lettered++;
  }
  auto dest = (target == q->name) ? Result<Queue*>(Status::InvalidArgument("self"))
                                  : GetOrCreateQueue(target);
  if (!dest.ok()) {
    if (s->cursor.Ack(offset)) Touch(q);
    return;
  }
  std::vector<PutItem> items(1);
  items[0].payload = std::string(rec.payload);
  PutInto(*dest, std::move(items), [this, uid = s->uid, offset](Result<PutResult> r) {
    auto it = subs_by_uid_.find(uid);
    if (it == subs_by_uid_.end()) return;
    Subscription* s = it->second;
    const int64_t now = Now();
    if (r.ok() && r->accepted == 1) {
      if (s->cursor.Ack(offset)) Touch(s->queue);
    } else {
      // The target refused it (full, stopped): try again later, not in a tight loop.
      s->cursor.Release(offset, now + kMoveRetryMs, now);
      AddTimer(now + kMoveRetryMs, TimerEvent::kRedeliver, uid);
    }
    Drain();
  });
}

void QueueManager::Impl::ExpireItem(Subscription* s, uint64_t offset,
                                    const storage::RecordView& rec) {
  Queue* q = s->queue;
  s->counters.expired++;
  // Only the default subscription moves expired items (once per item, not once per reader).
  if (s->name.empty() && !q->config.expire_to.empty()) {
    s->cursor.Take(offset);
    MoveOut(s, offset, rec, q->config.expire_to, false);
    return;
  }
  if (s->cursor.Ack(offset)) Touch(q);
}

// ---------------------------------------------------------------------------------------------
// Leases

uint64_t QueueManager::Impl::NewLease(Subscription* s, uint64_t offset, storage::BatchPtr batch) {
  const uint64_t id = lease_prefix_ | (++lease_counter_ & ((1ull << kLeaseCounterBits) - 1));
  Lease& l = leases_[id];
  l.id = id;
  l.sub_uid = s->uid;
  l.offset = offset;
  l.batch = std::move(batch);
  s->leases[offset] = id;
  return id;
}

std::set<uint64_t>* QueueManager::Impl::OwnerSet(uint64_t owner, std::string_view name) {
  auto o = owners_.find(owner);
  if (o == owners_.end()) return nullptr;
  auto it = o->second.find(name);
  return it == o->second.end() ? nullptr : &it->second;
}

void QueueManager::Impl::EndLease(std::unordered_map<uint64_t, Lease>::iterator it) {
  Lease& l = it->second;
  if (l.owner != 0) {
    auto o = owners_.find(l.owner);
    if (o != owners_.end()) {
      for (auto n = o->second.begin(); n != o->second.end(); ++n) {
        if (n->second.erase(l.id) > 0) {
          if (n->second.empty()) o->second.erase(n);
          break;
        }
      }
      if (o->second.empty()) owners_.erase(o);
    }
  }
  auto sit = subs_by_uid_.find(l.sub_uid);
  if (sit != subs_by_uid_.end()) sit->second->leases.erase(l.offset);
  leases_.erase(it);
}

void QueueManager::Impl::ReleaseLease(uint64_t lease_id, int64_t delay_ms) {
  auto it = leases_.find(lease_id);
  if (it == leases_.end()) return;
  const uint64_t offset = it->second.offset;
  const bool held = it->second.held;
  storage::BatchPtr batch = it->second.batch;
  auto sit = subs_by_uid_.find(it->second.sub_uid);
  EndLease(it);
  if (sit == subs_by_uid_.end()) return;
  Subscription* s = sit->second;
  const QueueConfig& cfg = s->queue->config;
  const int64_t now = Now();
  if (held) {
    s->cursor.Release(offset, now, now);
    return;
  }
  s->counters.aborted++;
  const uint32_t count = s->cursor.DeliveryCount(offset);
  if (cfg.max_deliveries > 0 && count >= cfg.max_deliveries) {
    MoveOut(s, offset, batch->Record(offset), cfg.dlq.empty() ? s->queue->name + ".dlq" : cfg.dlq,
            true);
    return;
  }
  if (delay_ms < 0) {
    delay_ms = cfg.redelivery_delay_ms;
    if (!cfg.redelivery_backoff_ms.empty() && count > 0) {
      delay_ms = cfg.redelivery_backoff_ms[std::min<size_t>(count - 1,
                                                            cfg.redelivery_backoff_ms.size() - 1)];
    }
  }
  s->cursor.Release(offset, now + delay_ms, now);
  if (delay_ms > 0) AddTimer(now + delay_ms, TimerEvent::kRedeliver, s->uid);
}

void QueueManager::Impl::DropSubscriptionLeases(Subscription* s, uint64_t below) {
  while (!s->leases.empty() && s->leases.begin()->first < below) {
    auto it = leases_.find(s->leases.begin()->second);
    if (it == leases_.end() || it->second.held) {
      // A parked get holds it: the get keeps its copy of the batch but loses the offset.
      if (it != leases_.end()) {
        for (auto& w : s->waiters) std::erase(w.held, it->first);
        leases_.erase(it);
      }
      s->leases.erase(s->leases.begin());
      continue;
    }
    EndLease(it);
  }
}

void QueueManager::Impl::AckOffset(Subscription* s, uint64_t offset) {
  if (s->cursor.Ack(offset)) s->counters.acked++;
  Touch(s->queue);
}

size_t QueueManager::Impl::Ack(std::span<const uint64_t> ids) {
  size_t n = 0;
  std::set<Subscription*> touched;
  for (uint64_t id : ids) {
    auto it = leases_.find(id);
    if (it == leases_.end() || it->second.held) continue;
    auto sit = subs_by_uid_.find(it->second.sub_uid);
    const uint64_t offset = it->second.offset;
    EndLease(it);
    n++;
    if (sit == subs_by_uid_.end()) continue;
    AckOffset(sit->second, offset);
    touched.insert(sit->second);
  }
  for (Subscription* s : touched) ServeWaiters(s);
  return n;
}

size_t QueueManager::Impl::Abort(std::span<const uint64_t> ids, int64_t delay_ms) {
  size_t n = 0;
  std::set<uint64_t> subs;
  for (uint64_t id : ids) {
    auto it = leases_.find(id);
    if (it == leases_.end() || it->second.held) continue;
    subs.insert(it->second.sub_uid);
    ReleaseLease(id, delay_ms);
    n++;
  }
  for (uint64_t uid : subs) {
    auto it = subs_by_uid_.find(uid);
    if (it != subs_by_uid_.end()) ServeWaiters(it->second);
  }
  return n;
}

size_t QueueManager::Impl::Extend(std::span<const uint64_t> ids, int64_t lease_ms) {
  size_t n = 0;
  const int64_t now = Now();
  for (uint64_t id : ids) {
    auto it = leases_.find(id);
    if (it == leases_.end() || it->second.held) continue;
    it->second.deadline_ms = lease_ms > 0 ? now + lease_ms : 0;
    if (lease_ms > 0) AddTimer(it->second.deadline_ms, TimerEvent::kLease, id);
    n++;
  }
  return n;
}

bool QueueManager::Impl::OwnerOldest(uint64_t owner, std::string_view name, bool confirm) {
  std::set<uint64_t>* set = OwnerSet(owner, name);
  if (set == nullptr || set->empty()) return false;
  const uint64_t id = *set->begin();
  if (confirm) {
    Ack(std::span<const uint64_t>(&id, 1));
  } else {
    Abort(std::span<const uint64_t>(&id, 1), 0);
  }
  return true;
}

bool QueueManager::Impl::ConfirmCount(uint64_t owner, std::string_view name, size_t count) {
  std::set<uint64_t>* set = OwnerSet(owner, name);
  size_t have = set == nullptr ? 0 : set->size();
  if (have < count) return false;
  if (count == 0) return true;
  std::vector<uint64_t> ids(set->begin(), std::next(set->begin(), static_cast<long>(count)));
  Ack(ids);
  return true;
}

size_t QueueManager::Impl::OwnerLeaseCount(uint64_t owner, std::string_view name) const {
  auto o = owners_.find(owner);
  if (o == owners_.end()) return 0;
  auto it = o->second.find(name);
  return it == o->second.end() ? 0 : it->second.size();
}

size_t QueueManager::Impl::ReleaseOwner(uint64_t owner) {
  auto o = owners_.find(owner);
  if (o == owners_.end()) return 0;
  std::vector<uint64_t> ids;
  for (const auto& [name, set] : o->second) ids.insert(ids.end(), set.begin(), set.end());
  return Abort(ids, 0);
}

// ---------------------------------------------------------------------------------------------
// Subscriptions, flush, delete

Status QueueManager::Impl::CreateSubscription(std::string_view queue, std::string_view sub,
                                              StartPosition start) {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  if (!IsValidName(sub)) return Status::InvalidArgument("bad subscription name");
  auto q = GetOrCreateQueue(queue);
  if (!q.ok()) return q.status();
  if ((*q)->subs.count(sub) > 0) {
    return Status::InvalidArgument("subscription " + FullName(queue, sub) + " exists");
  }
  auto offset = StartOffset(*q, start);
  if (!offset.ok()) return offset.status();
  AddSubscription(*q, sub, *offset, true);
  return Status::OK();
}

Status QueueManager::Impl::Seek(std::string_view name, StartPosition start) {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  auto sub = Resolve(name);
  if (!sub.ok()) return sub.status();
  Subscription* s = *sub;
  Queue* q = s->queue;
  auto offset = StartOffset(q, start);
  if (!offset.ok()) return offset.status();
  DropSubscriptionLeases(s, UINT64_MAX);
  // Pending ops of this cursor go first: a later kSeek must win over them.
  s->cursor.TakeOps(q->id, s->name, &pending_meta_.cursor_ops);
  s->cursor.Seek(*offset);
  pending_meta_.cursor_ops.push_back({storage::CursorOp::Type::kSeek, q->id, s->name, *offset, 0});
  ServeWaiters(s);
  return Status::OK();
}

Status QueueManager::Impl::DeleteSubscription(std::string_view queue, std::string_view sub) {
  SAKER_RETURN_IF_ERROR(CheckOpen());
  if (sub.empty()) return Status::InvalidArgument("the default subscription cannot be deleted");
  Queue* q = FindQueue(queue);
  if (q == nullptr) return Status::NotFound("no queue " + std::string(queue));
  auto it = q->subs.find(sub);
  if (it == q->subs.end()) return Status::NotFound("no subscription " + FullName(queue, sub));
  Subscription* s = it->second.get();
  while (!s->waiters.empty()) {
    Finish(s, s->waiters.begin(), Status::NotFound("subscription deleted"));
  }
  DropSubscriptionLeases(s, UINT64_MAX);
  pending_meta_.cursor_ops.push_back({storage::CursorOp::Type::kDelete, q->id, s->name, 0, 0});
  subs_by_uid_.erase(s->uid);
  q->subs.erase(it);
  Touch(q);
  return Status::OK();
}

Result<std::vector<SubscriptionStats>> QueueManager::Impl::ListSubscriptions(
    std::string_view queue) {
  auto q = GetOrCreateQueue(queue);
  if (!q.ok()) return q.status();
  return StatsOf(*q).subscriptions;
}

Status QueueManager::Impl::FlushSub(Subscription* s) {
  Queue* q = s->queue;
  DropSubscriptionLeases(s, UINT64_MAX);
  s->counters.acked += s->cursor.AckBelow(q->next_offset);
  Touch(q);
  return Status::OK();
}

Status QueueManager::Impl::Flush(std::string_view name) {
  SAKER_RETURN_IF_ERROR(CheckWrites());
  auto sub = Resolve(name);
  if (!sub.ok()) return sub.status();
  return FlushSub(*sub);
}

Status QueueManager::Impl::FlushAll() {
  SAKER_RETURN_IF_ERROR(CheckWrites());
  for (auto& [name, q] : queues_) {
    for (auto& [sname, s] : q->subs) SAKER_RETURN_IF_ERROR(FlushSub(s.get()));
  }
  return Status::OK();
}

uint64_t QueueManager::Impl::FlushExpiredSub(Subscription* s) {
  // Expired items are found among the batches in memory (the recent ones); older expired items
  // are skipped when delivery reaches them.
  Queue* q = s->queue;
  const uint64_t before = s->counters.expired;
  std::vector<storage::BatchPtr> batches;
  for (const auto& [base, b] : q->cold) {
    if (b->end_offset() > s->cursor.floor()) batches.push_back(b);
  }
  if (q->log) {
    for (storage::BatchPtr& b : tail_.Read(q->log.get(), s->cursor.floor(), SIZE_MAX)) {
      if (q->cold.count(b->base_offset()) == 0) batches.push_back(std::move(b));
    }
  }
  for (const storage::BatchPtr& b : batches) {
    for (const storage::RecordView& rec : b->records()) {
      if (rec.offset >= q->durable_end || s->cursor.IsAcked(rec.offset) ||
          s->cursor.IsInFlight(rec.offset) || !Expired(q, rec)) {
        continue;
      }
      ExpireItem(s, rec.offset, rec);
    }
  }
  return s->counters.expired - before;
}

Result<uint64_t> QueueManager::Impl::FlushExpired(std::string_view name) {
  SAKER_RETURN_IF_ERROR(CheckWrites());
  auto sub = Resolve(name);
  if (!sub.ok()) return sub.status();
  return FlushExpiredSub(*sub);
}

Result<uint64_t> QueueManager::Impl::FlushAllExpired() {
  SAKER_RETURN_IF_ERROR(CheckWrites());
  uint64_t n = 0;
  for (auto& [name, q] : queues_) {
    for (auto& [sname, s] : q->subs) n += FlushExpiredSub(s.get());
  }
  return n;
}

Status QueueManager::Impl::RemoveQueue(Queue* q) {
  for (auto& [name, s] : q->subs) {
    while (!s->waiters.empty()) {
      Finish(s.get(), s->waiters.begin(), Status::NotFound("queue " + q->name + " deleted"));
    }
    DropSubscriptionLeases(s.get(), UINT64_MAX);
    subs_by_uid_.erase(s->uid);
  }
  while (!q->puts.empty()) {
    PendingPut p = std::move(q->puts.front());
    q->puts.pop_front();
    completions_.push_back([done = std::move(p.done), name = q->name] {
      done(Status::NotFound("queue " + name + " deleted"));
    });
  }
  for (auto& [base, b] : q->cold) cold_bytes_ -= b->size_bytes();
  if (q->log) tail_.Drop(q->log.get());
  pending_meta_.delete_queues.push_back(q->id);
  remove_dirs_.emplace_back(std::move(q->log), q->dir);
  Logger().info("[queue={}] deleted (id {})", q->name, q->id);
  const std::string name = q->name;
  queues_by_id_.erase(q->id);
  queues_.erase(name);
  return Status::OK();
}

Status QueueManager::Impl::DeleteQueue(std::string_view name) {
  SAKER_RETURN_IF_ERROR(CheckWrites());
  auto parsed = ParseQueueName(name);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->subscription.empty()) {
    return DeleteSubscription(parsed->queue, parsed->subscription);
  }
  Queue* q = FindQueue(parsed->queue);
  if (q == nullptr) return Status::OK();
  return RemoveQueue(q);
}

std::vector<std::string> QueueManager::Impl::ListQueues() const {
  std::vector<std::string> names;
  names.reserve(queues_.size());
  for (const auto& [name, q] : queues_) names.push_back(name);
  return names;
}

// ---------------------------------------------------------------------------------------------
// Stats and config

SubscriptionStats QueueManager::Impl::StatsOf(const Subscription* s) const {
  const Queue* q = s->queue;
  SubscriptionStats st = s->counters;
  st.name = s->name;
  st.ack_floor = s->cursor.floor();
  st.depth = s->cursor.Depth(q->durable_end);
  st.waiters = s->waiters.size();
  // Kestrel's items and bytes leave out open (leased) items.
  uint64_t leased_bytes = 0;
  st.leased = 0;
  for (const auto& [offset, id] : s->leases) {
    auto it = leases_.find(id);
    if (it == leases_.end() || it->second.held) continue;
    st.leased++;
    leased_bytes += it->second.batch->Record(offset).payload.size();
  }
  st.items = st.depth > st.leased ? st.depth - st.leased : 0;
  const uint64_t retained = RetainedBytes(q, s->cursor.floor());
  st.bytes = retained > leased_bytes ? retained - leased_bytes : 0;
  st.oldest_age_ms = 0;
  if (st.depth > 0) {
    uint64_t oldest = s->cursor.floor();
    if (storage::BatchPtr b = FindResident(q, oldest)) {
      st.oldest_age_ms = std::max<int64_t>(0, Wall() - b->Record(oldest).timestamp_ms);
    } else {
      for (const BatchInfo& info : q->index) {
        if (oldest < info.end && oldest >= info.base) {
          st.oldest_age_ms = std::max<int64_t>(0, Wall() - info.first_ts);
          break;
        }
      }
    }
  }
  return st;
}

QueueStats QueueManager::Impl::StatsOf(const Queue* q) const {
  QueueStats st = q->counters;
  st.first_offset = q->log ? q->log->first_offset() : q->first_offset;
  st.next_offset = q->next_offset;
  const uint64_t floor = MinFloor(q);
  st.depth = q->durable_end > floor ? q->durable_end - floor : 0;
  st.depth_bytes = RetainedBytes(q, floor);
  st.durable_end = q->durable_end;
  st.commit_end = q->durable_end;
  if (q->log) {
    storage::LogStats ls = q->log->stats();
    st.log_bytes = ls.size_bytes;
    st.log_direct_writes = ls.direct_writes;
  }
  st.failed = q->failed;
  st.subscriptions.clear();
  for (const auto& [name, s] : q->subs) st.subscriptions.push_back(StatsOf(s.get()));
  if (!st.subscriptions.empty() && st.subscriptions.front().name.empty()) {
    st.items = st.subscriptions.front().items;
    st.bytes = st.subscriptions.front().bytes;
    st.open_transactions = st.subscriptions.front().leased;
  }
  return st;
}

Result<QueueStats> QueueManager::Impl::GetQueueStats(std::string_view name) {
  auto parsed = ParseQueueName(name);
  if (!parsed.ok()) return parsed.status();
  auto q = GetOrCreateQueue(parsed->queue);
  if (!q.ok()) return q.status();
  return StatsOf(*q);
}

std::vector<QueueStats> QueueManager::Impl::AllStats() const {
  std::vector<QueueStats> out;
  out.reserve(queues_.size());
  for (const auto& [name, q] : queues_) out.push_back(StatsOf(q.get()));
  return out;
}

Status QueueManager::Impl::SetQueueConfig(std::string_view name, const QueueConfig& config) {
  auto q = GetOrCreateQueue(name);
  if (!q.ok()) return q.status();
  (*q)->config = config;
  ServeQueue(*q);
  return Status::OK();
}

void QueueManager::Impl::SetStatus(ServerStatus status) {
  status_ = status;
  pending_meta_.settings["status"] = std::string(ServerStatusName(status));
}

// ---------------------------------------------------------------------------------------------
// Timers, commits, close

void QueueManager::Impl::Tick() {
  const int64_t now = Now();
  while (!timers_.empty() && timers_.top().due <= now) {
    TimerEvent e = timers_.top();
    timers_.pop();
    switch (e.kind) {
      case TimerEvent::kLease: {
        auto it = leases_.find(e.id);
        if (it == leases_.end() || it->second.held || it->second.deadline_ms == 0 ||
            it->second.deadline_ms > now) {
          break;
        }
        const uint64_t uid = it->second.sub_uid;
        ReleaseLease(e.id, -1);
        if (auto s = subs_by_uid_.find(uid); s != subs_by_uid_.end()) ServeWaiters(s->second);
        break;
      }
      case TimerEvent::kWaiter: {
        auto ref = waiters_.find(e.id);
        if (ref == waiters_.end() || ref->second.it->deadline_ms > now) break;
        Subscription* s = ref->second.sub;
        if (s->queue->loading) {
          AddTimer(now + std::max<int64_t>(1, config_.tick_ms), TimerEvent::kWaiter, e.id);
          break;
        }
        Finish(s, ref->second.it, Status::OK());
        break;
      }
      case TimerEvent::kRedeliver: {
        auto s = subs_by_uid_.find(e.id);
        if (s != subs_by_uid_.end()) ServeWaiters(s->second);
        break;
      }
    }
  }
  if (now - last_commit_ms_ >= config_.commit_interval_ms &&
      (!touched_.empty() || !pending_meta_.empty() || !remove_dirs_.empty())) {
    Commit(nullptr);
  }
  Drain();
}

void QueueManager::Impl::Commit(std::function<void(Status)> done) {
  // A caller waits for the commit that includes the changes made before its call: while one
  // is in flight, that is the next one.
  if (done) commit_waiters_.push_back(std::move(done));
  if (commit_in_flight_) {
    commit_again_ = true;
    return;
  }
  auto waiters = std::move(commit_waiters_);
  commit_waiters_.clear();
  const int64_t now = Now();
  const int64_t wall = Wall();
  auto batch = std::make_shared<storage::MetaBatch>(std::move(pending_meta_));
  pending_meta_ = storage::MetaBatch();
  std::vector<Retained> retention;
  for (uint64_t id : touched_) {
    Queue* q = FindQueue(id);
    if (q == nullptr) continue;
    q->touched = false;
    for (auto& [name, s] : q->subs) s->cursor.TakeOps(q->id, s->name, &batch->cursor_ops);
    for (auto& d : q->dedupe_dirty) batch->dedupe_keys.push_back(std::move(d));
    q->dedupe_dirty.clear();
    if (q->dedupe_through > 0) batch->dedupe_through.emplace_back(q->id, q->dedupe_through);
    TrimCold(q);
    if (!q->log) continue;
    uint64_t floor = MinFloor(q);
    if (q->config.retain_age_ms > 0) {
      uint64_t keep_from = q->next_offset;
      for (const BatchInfo& b : q->index) {
        if (b.first_ts >= wall - q->config.retain_age_ms) {
          keep_from = b.base;
          break;
        }
      }
      if (q->index.empty() || q->index.front().base > q->log->first_offset()) keep_from = 0;
      floor = std::min(floor, keep_from);
    }
    if (q->config.retain_bytes > 0 && q->log->stats().size_bytes <= q->config.retain_bytes) {
      floor = 0;
    }
    if (floor > q->log->first_offset()) retention.push_back({q->id, q->log, floor});
  }
  touched_.clear();
  if (now - last_forget_ms_ >= kDedupeForgetEveryMs) {
    int64_t window = 0;
    for (const auto& [name, q] : queues_) window = std::max(window, q->config.dedupe_window_ms);
    batch->dedupe_forget_before_ms = wall - window;
    last_forget_ms_ = now;
  }
  auto dirs = std::make_shared<std::vector<std::pair<std::shared_ptr<storage::Log>, std::string>>>(
      std::move(remove_dirs_));
  remove_dirs_.clear();
  last_commit_ms_ = now;
  commit_in_flight_ = true;
  meta_thread_->Run([meta = meta_, batch]() -> Status { return meta->Commit(*batch); },
                    [this, alive = alive_, retention = std::move(retention), dirs,
                     waiters = std::move(waiters)](Status st) mutable {
                      if (!*alive) return;
                      commit_in_flight_ = false;
                      if (!st.ok()) Logger().error("cursor commit failed: {}", st.ToString());
                      // Segments go only after the floors that free them are committed; a caller
                      // waiting for this commit also waits for that.
                      if (st.ok() && (!retention.empty() || !dirs->empty())) {
                        RemoveCommitted(std::move(retention), dirs, std::move(waiters));
                      } else {
                        for (auto& w : waiters)
                          completions_.push_back([w = std::move(w), st] { w(st); });
                      }
                      if (commit_again_) {
                        commit_again_ = false;
                        Commit(nullptr);
                      }
                      Drain();
                    });
}

void QueueManager::Impl::RemoveCommitted(
    std::vector<Retained> retention,
    std::shared_ptr<std::vector<std::pair<std::shared_ptr<storage::Log>, std::string>>> dirs,
    std::vector<std::function<void(Status)>> waiters) {
  // The storage thread only takes the segments out of their logs and drops deleted queues'
  // logs; the files go on the meta thread, so no append waits behind an unlink.
  auto doomed = std::make_shared<std::vector<std::string>>();
  storage_->Run(
      [retention, dirs, doomed]() -> Status {
        for (const Retained& r : retention) {
          SAKER_RETURN_IF_ERROR(r.log->DeleteBelow(r.floor, doomed.get()));
        }
        for (auto& [log, dir] : *dirs) log.reset();
        return Status::OK();
      },
      [this, alive = alive_, retention, dirs, doomed,
       waiters = std::move(waiters)](Status st) mutable {
        if (!*alive) return;
        if (!st.ok()) Logger().error("retention failed: {}", st.ToString());
        // Only the cut logs moved their first offset: no walk over every queue.
        for (const Retained& r : retention) {
          Queue* q = FindQueue(r.queue_id);
          if (q != nullptr && q->log == r.log) q->first_offset = q->log->first_offset();
        }
        meta_thread_->Run(
            [dirs, doomed]() -> Status {
              Status unlinked = storage::Log::UnlinkInOrder(*doomed);
              for (const auto& [log, dir] : *dirs) {
                std::error_code ec;
                std::filesystem::remove_all(dir, ec);
              }
              return unlinked;
            },
            [this, alive = alive_, st, waiters = std::move(waiters)](Status removed) mutable {
              if (!*alive) return;
              if (!removed.ok()) Logger().error("removing segment files: {}", removed.ToString());
              for (auto& w : waiters) completions_.push_back([w = std::move(w), st] { w(st); });
              Drain();
            });
      });
}

void QueueManager::Impl::Close(std::function<void(Status)> done) {
  closed_ = true;
  for (auto& [name, q] : queues_) {
    for (auto& [sname, s] : q->subs) {
      while (!s->waiters.empty()) Finish(s.get(), s->waiters.begin(), Status::OK());
    }
  }
  FlushPuts();
  Commit(std::move(done));
}

void QueueManager::Impl::Drain() {
  if (draining_) return;
  draining_ = true;
  while (!completions_.empty()) {
    auto batch = std::move(completions_);
    completions_.clear();
    for (auto& fn : batch) fn();
  }
  draining_ = false;
}

// ---------------------------------------------------------------------------------------------
// QueueManager: forwards to Impl and runs the completions each call produced.

Result<std::unique_ptr<QueueManager>> QueueManager::Open(EngineConfig config, EventLoop* loop,
                                                         storage::StorageThread* storage,
                                                         const Clock* clock) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return Status::IOError("create " + config.data_dir + ": " + ec.message());
  const int64_t start_us = MonotonicMicros();
  auto meta = storage::MetaStore::Open(config.data_dir + "/meta.db");
  if (!meta.ok()) return meta.status();
  auto snap = (*meta)->Load();
  if (!snap.ok()) return snap.status();
  const int64_t loaded_us = MonotonicMicros();
  const size_t queues = snap->queues.size();
  auto impl = std::make_unique<Impl>(std::move(config), loop, storage, clock,
                                     std::shared_ptr<storage::MetaStore>(std::move(meta).value()));
  SAKER_RETURN_IF_ERROR(impl->Recover(std::move(snap).value()));
  Logger().info("recovered {} queues in {} ms (meta.db {} ms)", queues,
                (MonotonicMicros() - start_us) / 1000, (loaded_us - start_us) / 1000);
  impl->Start();
  return std::unique_ptr<QueueManager>(new QueueManager(std::move(impl)));
}

QueueManager::QueueManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
QueueManager::~QueueManager() = default;

void QueueManager::Close(std::function<void(Status)> done) {
  impl_->Close(std::move(done));
  impl_->Drain();
}
void QueueManager::Put(std::string_view queue, std::vector<PutItem> items, PutDone done) {
  impl_->Put(queue, std::move(items), std::move(done));
  impl_->Drain();
}
GetHandle QueueManager::Get(std::string_view name, const GetOptions& options, GetDone done) {
  GetHandle h = impl_->Get(name, options, std::move(done));
  impl_->Drain();
  return h;
}
bool QueueManager::CancelGet(GetHandle handle) {
  bool r = impl_->CancelGet(handle);
  impl_->Drain();
  return r;
}
size_t QueueManager::Ack(std::span<const uint64_t> lease_ids, DurableDone durable) {
  size_t n = impl_->Ack(lease_ids);
  impl_->WhenDurable(n > 0, std::move(durable));
  impl_->Drain();
  return n;
}
size_t QueueManager::Abort(std::span<const uint64_t> lease_ids, int64_t delay_ms,
                           DurableDone durable) {
  size_t n = impl_->Abort(lease_ids, delay_ms);
  impl_->WhenDurable(n > 0, std::move(durable));
  impl_->Drain();
  return n;
}
size_t QueueManager::Extend(std::span<const uint64_t> lease_ids, int64_t lease_ms) {
  return impl_->Extend(lease_ids, lease_ms);
}
bool QueueManager::ConfirmOldest(uint64_t owner, std::string_view name, DurableDone durable) {
  bool r = impl_->OwnerOldest(owner, name, true);
  impl_->WhenDurable(r, std::move(durable));
  impl_->Drain();
  return r;
}
bool QueueManager::AbortOldest(uint64_t owner, std::string_view name, DurableDone durable) {
  bool r = impl_->OwnerOldest(owner, name, false);
  impl_->WhenDurable(r, std::move(durable));
  impl_->Drain();
  return r;
}
bool QueueManager::ConfirmCount(uint64_t owner, std::string_view name, size_t count,
                                DurableDone durable) {
  bool r = impl_->ConfirmCount(owner, name, count);
  impl_->WhenDurable(r && count > 0, std::move(durable));
  impl_->Drain();
  return r;
}
size_t QueueManager::OwnerLeaseCount(uint64_t owner, std::string_view name) const {
  return impl_->OwnerLeaseCount(owner, name);
}
size_t QueueManager::ReleaseOwner(uint64_t owner) {
  size_t n = impl_->ReleaseOwner(owner);
  impl_->Drain();
  return n;
}
Status QueueManager::CreateSubscription(std::string_view queue, std::string_view sub,
                                        StartPosition start) {
  Status st = impl_->CreateSubscription(queue, sub, start);
  impl_->Drain();
  return st;
}
Status QueueManager::Seek(std::string_view name, StartPosition start) {
  Status st = impl_->Seek(name, start);
  impl_->Drain();
  return st;
}
Status QueueManager::DeleteSubscription(std::string_view queue, std::string_view sub) {
  Status st = impl_->DeleteSubscription(queue, sub);
  impl_->Drain();
  return st;
}
Result<std::vector<SubscriptionStats>> QueueManager::ListSubscriptions(std::string_view queue) {
  return impl_->ListSubscriptions(queue);
}
Status QueueManager::Flush(std::string_view name, DurableDone durable) {
  Status st = impl_->Flush(name);
  if (st.ok()) impl_->WhenDurable(true, std::move(durable));
  impl_->Drain();
  return st;
}
Status QueueManager::FlushAll(DurableDone durable) {
  Status st = impl_->FlushAll();
  if (st.ok()) impl_->WhenDurable(true, std::move(durable));
  impl_->Drain();
  return st;
}
Result<uint64_t> QueueManager::FlushExpired(std::string_view name) {
  auto r = impl_->FlushExpired(name);
  impl_->Drain();
  return r;
}
Result<uint64_t> QueueManager::FlushAllExpired() {
  auto r = impl_->FlushAllExpired();
  impl_->Drain();
  return r;
}
Status QueueManager::DeleteQueue(std::string_view queue) {
  Status st = impl_->DeleteQueue(queue);
  impl_->Drain();
  return st;
}
std::vector<std::string> QueueManager::ListQueues() const { return impl_->ListQueues(); }
Result<QueueStats> QueueManager::GetQueueStats(std::string_view queue) {
  return impl_->GetQueueStats(queue);
}
std::vector<QueueStats> QueueManager::AllStats() const { return impl_->AllStats(); }
Status QueueManager::SetQueueConfig(std::string_view queue, const QueueConfig& config) {
  Status st = impl_->SetQueueConfig(queue, config);
  impl_->Drain();
  return st;
}
ServerStatus QueueManager::status() const { return impl_->status(); }
void QueueManager::SetStatus(ServerStatus status) { impl_->SetStatus(status); }
void QueueManager::Tick() { impl_->Tick(); }
void QueueManager::CommitCursors(std::function<void(Status)> done) {
  impl_->Commit(std::move(done));
  impl_->Drain();
}

}  // namespace saker::queue

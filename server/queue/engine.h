// Engine: the queue engine behind the QueueManager facade. It owns the queues and wires their
// parts together: the put path and the storage thread (put_path.cc), delivery, blocked gets and
// cold reads (delivery.cc), leases and acks (acks.cc), subscriptions, flush and delete
// (subscriptions.cc), dead-letter and expire_to moves (dead_letter.cc), the cursor log and
// meta.db checkpoints (cursor_commit.cc), retention (retention.cc), deadlines (deadlines.cc's
// Tick), stats (queue_stats.cc), restart (recovery.cc) and which queues this node serves
// (admission.cc).
//
// Data path: Put assigns offsets at once and adds the records to the queue's BatchBuilder; a
// before-sleep hook turns each dirty queue's records into one Batch and hands it to the
// StorageThread; once it is durable the Replicator moves commit_end, the put replies go out and
// the offsets become deliverable. Cursor changes made in the same loop iteration become one batch
// of the queue's cursor log in the same storage round; a reply that says an ack is done waits for
// it. meta.db is a checkpoint of the cursor logs, committed on the engine's own meta thread every
// commit_interval_ms (an SQLite checkpoint's fsync took 345 ms under W4: it never delays the
// storage thread's appends).
//
// Re-entrancy: user callbacks never run while internal state is half-updated. Completions are
// queued and run by Drain() at the end of each public entry point.
//
// Loop thread only, but for Open (before the loop serves).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/common/clock.h"
#include "server/common/event_loop.h"
#include "server/common/logging.h"
#include "server/queue/cold_cache.h"
#include "server/queue/deadlines.h"
#include "server/queue/lease_table.h"
#include "server/queue/queue.h"
#include "server/queue/queue_manager.h"
#include "server/queue/replicator.h"
#include "server/storage/fd_cache.h"
#include "server/storage/meta_store.h"
#include "server/storage/queue_identity.h"
#include "server/storage/reader_pool.h"
#include "server/storage/storage_thread.h"
#include "server/storage/tail_cache.h"

namespace saker::queue {

// A queue's cursor log lives in this folder of the queue's folder (FORMAT.md "Cursor log").
inline constexpr char kCursorDir[] = "cursors";
inline constexpr uint64_t kCursorSegmentBytes = 4 << 20;

// The engine's logger ("queue").
spdlog::logger& EngineLog();

class Engine final : public CommitSink {
 public:
  Engine(EngineConfig config, EventLoop* loop, storage::StorageThread* storage, const Clock* clock,
         std::shared_ptr<storage::MetaStore> meta, std::unique_ptr<Replicator> replicator);
  ~Engine() override;

  // recovery.cc
  // meta.db opened and loaded; when it was missing or damaged (Corruption), a fresh one with
  // `rebuilt` saying why (the damaged files set aside as meta.db.corrupt-<unix time>).
  struct OpenedMeta {
    std::shared_ptr<storage::MetaStore> store;
    storage::MetaSnapshot snap;
    std::string rebuilt;  // empty: meta.db was read as it is
  };
  static Result<OpenedMeta> OpenMeta(const std::string& data_dir, int64_t wall_ms);
  // `rebuilt` (OpenedMeta's): every folder is adopted and one line says so.
  Status Recover(storage::MetaSnapshot snap, const std::string& rebuilt = "");
  void Start();

  // admission.cc
  // Whether this node serves client operations on the queue `name` names ("queue" or
  // "queue+sub") now: OK, InvalidArgument (a bad name), or the Replicator's refusal (NotLeader
  // naming the leader, Unavailable). For the calls that answer at once: where the Replicator
  // does not know yet (Busy), it is asked to find out (WhenAdmitted) and the call is answered
  // Unavailable "queue Q: no leader known yet, retry".
  Status Admit(std::string_view name);
  // True when Admit never refuses a valid name (the single node's LocalReplicator).
  bool ServesEveryQueue() const;

  // put_path.cc
  void Put(std::string_view name, std::vector<PutItem> items, PutDone done);
  void AppendBatch(std::string_view name, storage::BatchPtr batch,
                   std::function<void(Status)> done);
  void Truncate(std::string_view name, uint64_t offset, std::function<void(Status)> done);
  void Commit(uint64_t queue_id, uint64_t commit_end) override;  // CommitSink

  // replica_ops.cc
  QueueManager::ReplicaInfo GetReplicaInfo(std::string_view name) const;
  QueueConfig PublicConfigFor(std::string_view name) const;
  Status EnsureQueue(std::string_view name, uint64_t incarnation);
  void SetEpoch(std::string_view name, uint64_t epoch);
  void ReadLog(std::string_view name, uint64_t offset, size_t max_bytes,
               std::function<void(Result<std::vector<storage::BatchPtr>>)> done);
  void FailPendingPuts(std::string_view name, int64_t before_ms, const Status& st);
  int64_t OldestPendingPut(std::string_view name) const;

  // repair.cc
  void Repair(std::string_view name, std::function<void(Result<RepairReport>)> done);
  void Resume(std::string_view name, std::function<void(Status)> done);

  // delivery.cc
  GetHandle Get(std::string_view name, const GetOptions& options, GetDone done);
  bool CancelGet(GetHandle handle);

  // acks.cc
  size_t Ack(std::span<const uint64_t> ids);
  size_t Abort(std::span<const uint64_t> ids, int64_t delay_ms);
  size_t Extend(std::span<const uint64_t> ids, int64_t lease_ms);
  // Both admit `name` first (the error, and nothing changed, if refused).
  Result<bool> OwnerOldest(uint64_t owner, std::string_view name, bool confirm);
  Result<bool> ConfirmCount(uint64_t owner, std::string_view name, size_t count);
  size_t OwnerLeaseCount(uint64_t owner, std::string_view name) const {
    return leases_.OwnerCount(owner, name);
  }
  size_t ReleaseOwner(uint64_t owner);

  // subscriptions.cc
  Status CreateSubscription(std::string_view queue, std::string_view sub, StartPosition start);
  Status Seek(std::string_view name, StartPosition start);
  Status DeleteSubscription(std::string_view queue, std::string_view sub);
  Result<std::vector<SubscriptionStats>> ListSubscriptions(std::string_view queue);
  Status Flush(std::string_view name);
  Status FlushAll();
  Result<uint64_t> FlushExpired(std::string_view name);
  Result<uint64_t> FlushAllExpired();
  Status DeleteQueue(std::string_view name, DurableDone durable);
  std::vector<std::string> ListQueues() const;
  uint64_t queue_creates() const { return queue_creates_; }
  Status SetQueueConfig(std::string_view name, const QueueConfig& config);
  ServerStatus status() const { return status_; }
  void SetStatus(ServerStatus status);

  // queue_stats.cc
  Result<QueueStats> GetQueueStats(std::string_view name);
  std::vector<QueueStats> AllStats() const;

  // cursor_commit.cc
  // Starts collecting the queues whose cursors the next public call changes (WhenDurable).
  void BeginChange() { changed_.clear(); }
  // Runs `durable` once the cursor changes since BeginChange are durable (or at once if none).
  void WhenDurable(DurableDone durable);
  // Commits a meta.db checkpoint now; `done` runs when it is in meta.db (and retention ran).
  void Checkpoint(std::function<void(Status)> done);
  void Close(std::function<void(Status)> done);

  // deadlines.cc
  void Tick();

  void Drain();

 private:
  QueueConfig ConfigFor(std::string_view name) const {
    return config_.config_for ? config_.config_for(name) : config_.defaults;
  }
  static QueueRef RefOf(const Queue* q) { return {q->id, q->name, q->incarnation}; }
  Status CheckOpen() const;
  Status CheckWrites() const;
  Status CheckReads() const;
  int64_t Now() const { return clock_->NowMonoMs(); }
  int64_t Wall() const { return clock_->NowWallMs(); }
  void Complete(std::function<void()> fn) { completions_.push_back(std::move(fn)); }

  // subscriptions.cc
  // `incarnation` 0: a new random one.
  Result<Queue*> GetOrCreateQueue(std::string_view name, uint64_t incarnation = 0);
  Queue* FindQueue(std::string_view name) const;
  Queue* FindQueue(uint64_t id) const;
  Subscription* FindSubscription(uint64_t uid) const;
  // "queue" or "queue+sub"; creates both on first reference (a new sub at latest).
  Result<Subscription*> Resolve(std::string_view name);
  Subscription* AddSubscription(Queue* q, std::string_view name, uint64_t floor, bool record);
  Result<uint64_t> StartOffset(Queue* q, StartPosition start) const;
  Status FlushSub(Subscription* s);
  uint64_t FlushExpiredSub(Subscription* s);
  // Takes `q` out of service and commits its deletion; its folder goes once that is in meta.db.
  void RemoveQueue(Queue* q, DurableDone durable);
  void FinishDelete(uint64_t queue_id, Status st);
  // The QUEUE file's content for `q`, and the files due to be rewritten (subscriptions or
  // config changed) of the queues whose folders exist, for the next checkpoint to write.
  storage::QueueIdentity IdentityOf(const Queue* q) const;
  void IdentityChanged(Queue* q);
  std::vector<std::pair<std::string, storage::QueueIdentity>> TakeIdentityWrites();
  // Completes every blocked get of `s` with `st` (OK: with what each holds).
  void FinishAll(Subscription* s, const Status& st);

  // put_path.cc
  void OpenLogs();
  storage::LogOptions LogOptionsFor(const Queue* q) const;
  storage::LogOptions CursorLogOptionsFor(const Queue* q) const;
  void PutInto(Queue* q, std::vector<PutItem> items, PutDone done);
  uint64_t MinFloor(const Queue* q) const;
  uint64_t RetainedBytes(const Queue* q, uint64_t floor) const;
  void DropOldest(Queue* q);
  void FlushPuts();
  // Hands `batch` (offsets from q->flushed_end) to the storage thread and the Replicator.
  void Submit(Queue* q, storage::BatchPtr batch, uint64_t payload_bytes);
  void OnAppended(uint64_t queue_id, uint64_t truncations, storage::BatchPtr batch, Status st);
  void FailQueue(Queue* q, const Status& st);
  void CompletePuts(Queue* q);
  // Forgets every record at or above `offset` (next_offset becomes it); appends and cold reads
  // in flight are ignored when they complete.
  void ForgetFrom(Queue* q, uint64_t offset);

  // repair.cc
  // The queue `name` names, if its logs are open (else Unavailable); NotFound, InvalidArgument.
  Result<Queue*> FindWithLogs(std::string_view name) const;
  // One probe a second for the queues a full disk stopped (from FlushPuts).
  void ProbeStopped();
  void StartResume(Queue* q, std::function<void(Status)> done);
  // Ends a stop: the queue's ends and caches follow its logs as reloaded from the files (the
  // cursor log's too when it had failed: `cursors_failed`, read before the reload).
  void Restart(Queue* q, bool cursors_failed);

  // delivery.cc
  storage::BatchPtr FindResident(const Queue* q, uint64_t offset) const;
  void RequestLoad(Queue* q, uint64_t offset);
  void OnLoaded(uint64_t queue_id, uint64_t truncations, uint64_t offset,
                Result<std::vector<storage::BatchPtr>> r);
  // Every subscription skips [from, to), offsets a repair cut (counted as dropped).
  void SkipHole(Queue* q, uint64_t from, uint64_t to);
  bool Expired(const Queue* q, const storage::RecordView& rec) const;
  void ServeWaiters(Subscription* s);
  void ServeQueue(Queue* q);
  void Fill(Subscription* s, Waiter* w);
  void Finish(Subscription* s, std::list<Waiter>::iterator it, Status st);
  void ExpireItem(Subscription* s, uint64_t offset, const storage::RecordView& rec);

  // dead_letter.cc
  // The expiration timer (dead_letter.cc): expires the expired items at every subscription's
  // head, as Fill would, without delivering anything.
  void SweepExpired();
  void MoveOut(Subscription* s, uint64_t offset, const storage::RecordView& rec,
               const std::string& target, bool dead_letter);

  // acks.cc
  uint64_t NewLease(Subscription* s, uint64_t offset, storage::BatchPtr batch);
  void EndLease(uint64_t lease_id);
  void ReleaseLease(uint64_t lease_id, int64_t delay_ms);
  // Ends the leases of `s` on offsets in [from, to).
  void DropLeases(Subscription* s, uint64_t from, uint64_t to);
  void AckOffset(Subscription* s, uint64_t offset);

  // cursor_commit.cc
  // Records that `q`'s cursors changed: they go to its cursor log before the loop sleeps.
  void Touch(Queue* q);
  void Record(Queue* q, storage::CursorOp op);  // an explicit op (create, seek, delete)
  void FlushCursors();
  void OnCursorsDurable(uint64_t queue_id, uint64_t generation, uint64_t end,
                        std::shared_ptr<std::vector<storage::CursorOp>> ops, Status st);
  void FailWaits(Queue* q, const Status& st);
  void CompleteWaits(Queue* q);

  // queue_stats.cc
  // After a restart: the first batch of every backlog is read back (Queue::head), so its age
  // is known before a get.
  void LoadHeads();
  QueueStats StatsOf(const Queue* q) const;
  SubscriptionStats StatsOf(const Subscription* s) const;

  // retention.cc
  struct Retained {
    uint64_t queue_id;
    std::shared_ptr<storage::Log> log;
    uint64_t floor;
  };
  struct DoomedLog {
    std::shared_ptr<storage::Log> log;
    std::shared_ptr<storage::Log> cursor_log;
    std::string dir;
  };
  // The offset below which `q`'s segments may go (0 = keep everything).
  uint64_t RetentionFloor(const Queue* q, int64_t wall) const;
  void RemoveCommitted(std::vector<Retained> retention,
                       std::shared_ptr<std::vector<DoomedLog>> dirs,
                       std::vector<std::function<void(Status)>> waiters);

  EngineConfig config_;
  // Segment descriptors of every log; declared first so that it outlives every Log.
  std::shared_ptr<storage::FdCache> fd_cache_;
  EventLoop* loop_;
  storage::StorageThread* storage_;
  const Clock* clock_;
  std::shared_ptr<storage::MetaStore> meta_;  // used on meta_thread_ only (after Recover)
  // meta.db commits and the opening of new queues' logs (Run only, no appends).
  std::unique_ptr<storage::StorageThread> meta_thread_;
  storage::ReaderPool reader_;  // cold reads, off the loop thread
  std::unique_ptr<Replicator> replicator_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::map<std::string, std::unique_ptr<Queue>, std::less<>> queues_;
  std::unordered_map<uint64_t, Queue*> queues_by_id_;
  std::unordered_map<uint64_t, Subscription*> subs_by_uid_;
  LeaseTable leases_;
  struct WaiterRef {
    Subscription* sub;
    std::list<Waiter>::iterator it;
  };
  std::unordered_map<GetHandle, WaiterRef> waiters_;
  Deadlines deadlines_;
  std::vector<uint64_t> creating_;        // queue ids whose rows and logs are to be created
  std::vector<uint64_t> dirty_;           // queue ids with records to write
  std::vector<uint64_t> cursor_dirty_;    // queue ids with cursor changes to write
  std::vector<uint64_t> checkpoint_due_;  // queue ids with durable state to checkpoint
  std::vector<uint64_t> changed_;         // queue ids whose cursors the current call changed
  std::vector<uint64_t> identity_dirty_;  // queue ids whose QUEUE file is to be rewritten
  // Queues out of service whose deletion is being committed, and the replies waiting for it.
  struct Deleting {
    std::unique_ptr<Queue> queue;
    std::vector<DurableDone> waiters;
  };
  std::map<uint64_t, Deleting> deleting_;
  storage::MetaBatch pending_meta_;  // settings and queue deletions for the next checkpoint
  std::vector<DoomedLog> remove_dirs_;
  bool commit_in_flight_ = false;
  bool commit_again_ = false;
  std::vector<std::function<void(Status)>> commit_waiters_;
  int64_t last_commit_ms_ = 0;
  int64_t last_sweep_ms_ = 0;
  int64_t last_forget_ms_ = 0;
  std::vector<uint64_t> no_space_;  // ids of queues a full disk stopped (ProbeStopped)
  int64_t last_probe_ms_ = 0;

  uint64_t next_queue_id_ = 1;
  uint64_t queue_creates_ = 0;  // since the server started
  uint64_t next_sub_uid_ = 1;
  GetHandle next_handle_ = 1;
  ServerStatus status_ = ServerStatus::kUp;
  bool closed_ = false;

  storage::TailCache tail_;
  ColdCache cold_;

  uv_timer_t* timer_ = nullptr;
  std::vector<std::function<void()>> completions_;
  bool draining_ = false;
};

}  // namespace saker::queue

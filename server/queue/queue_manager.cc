// QueueManager: the facade over the Engine (engine.h). It opens the engine and forwards each call,
// then runs the completions the call produced (Engine::Drain), so no user callback runs while the
// engine's state is half-updated. Calls whose replies wait for durability collect the queues they
// change (BeginChange) and register `durable` with the engine (WhenDurable).
#include "server/queue/queue_manager.h"

#include <filesystem>

#include "server/common/logging.h"
#include "server/queue/engine.h"

namespace saker::queue {
namespace {

// READONLY and QUIESCENT refuse what drops items from a subscription, as the engine refuses
// puts, flush and delete: a seek (it acks what it skips) and a subscription's deletion.
Status CheckRemovals(ServerStatus status) {
  if (status == ServerStatus::kUp) return Status::OK();
  return Status::Unavailable("server is " + std::string(ServerStatusName(status)));
}

}  // namespace

spdlog::logger& EngineLog() {
  static auto& log = logging::Get("queue");
  return log;
}

Engine::Engine(EngineConfig config, EventLoop* loop, storage::StorageThread* storage,
               const Clock* clock, std::shared_ptr<storage::MetaStore> meta,
               std::unique_ptr<Replicator> replicator)
    : config_(std::move(config)),
      fd_cache_(std::make_shared<storage::FdCache>(std::max<size_t>(1, config_.max_open_files))),
      loop_(loop),
      storage_(storage),
      clock_(clock),
      meta_(std::move(meta)),
      meta_thread_(std::make_unique<storage::StorageThread>(loop)),
      reader_(loop, std::max(1, config_.reader_threads)),
      replicator_(replicator ? std::move(replicator) : std::make_unique<LocalReplicator>()),
      tail_(config_.tail_cache_bytes),
      cold_(config_.cold_cache_bytes) {
  replicator_->Attach(this);
}

Engine::~Engine() {
  if (timer_ != nullptr) {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
  *alive_ = false;
}

void Engine::Start() {
  meta_thread_->Start();
  loop_->AddBeforeSleep([this, alive = alive_] {
    if (!*alive) return;
    // Completions made outside any engine call (a replicator's Commit on a follower's ack)
    // have no caller to drain them: their replies go out before the loop sleeps.
    Drain();
    FlushPuts();
  });
  timer_ = new uv_timer_t;
  uv_timer_init(loop_->uv(), timer_);
  timer_->data = this;
  uint64_t tick = static_cast<uint64_t>(std::max<int64_t>(1, config_.tick_ms));
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<Engine*>(t->data)->Tick(); }, tick, tick);
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  last_commit_ms_ = Now();
  last_forget_ms_ = Now();
  LoadHeads();
}

Result<std::unique_ptr<QueueManager>> QueueManager::Open(EngineConfig config, EventLoop* loop,
                                                         storage::StorageThread* storage,
                                                         const Clock* clock,
                                                         std::unique_ptr<Replicator> replicator) {
  if (config.node_id > LeaseTable::kMaxNodeId) {
    return Status::InvalidArgument("node id " + std::to_string(config.node_id) +
                                   " is over the largest, " +
                                   std::to_string(LeaseTable::kMaxNodeId));
  }
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return Status::IOError("create " + config.data_dir + ": " + ec.message());
  const int64_t start_us = MonotonicMicros();
  auto meta = Engine::OpenMeta(config.data_dir, clock->NowWallMs());
  if (!meta.ok()) return meta.status();
  const int64_t loaded_us = MonotonicMicros();
  auto engine = std::make_unique<Engine>(std::move(config), loop, storage, clock, meta->store,
                                         std::move(replicator));
  SAKER_RETURN_IF_ERROR(engine->Recover(std::move(meta->snap), meta->rebuilt));
  EngineLog().info("recovered {} queues in {} ms (meta.db {} ms)", engine->ListQueues().size(),
                   (MonotonicMicros() - start_us) / 1000, (loaded_us - start_us) / 1000);
  engine->Start();
  return std::unique_ptr<QueueManager>(new QueueManager(std::move(engine)));
}

QueueManager::QueueManager(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}
QueueManager::~QueueManager() = default;

void QueueManager::Close(std::function<void(Status)> done) {
  engine_->Close(std::move(done));
  engine_->Drain();
}
void QueueManager::Put(std::string_view queue, std::vector<PutItem> items, PutDone done) {
  engine_->Put(queue, std::move(items), std::move(done));
  engine_->Drain();
}
GetHandle QueueManager::Get(std::string_view name, const GetOptions& options, GetDone done) {
  GetHandle h = engine_->Get(name, options, std::move(done));
  engine_->Drain();
  return h;
}
bool QueueManager::CancelGet(GetHandle handle) {
  bool r = engine_->CancelGet(handle);
  engine_->Drain();
  return r;
}
Status QueueManager::Admit(std::string_view name) { return engine_->Admit(name); }
bool QueueManager::ServesEveryQueue() const { return engine_->ServesEveryQueue(); }
size_t QueueManager::Ack(std::span<const uint64_t> lease_ids, DurableDone durable) {
  engine_->BeginChange();
  size_t n = engine_->Ack(lease_ids);
  engine_->WhenDurable(std::move(durable));
  engine_->Drain();
  return n;
}
size_t QueueManager::Abort(std::span<const uint64_t> lease_ids, int64_t delay_ms,
                           DurableDone durable) {
  engine_->BeginChange();
  size_t n = engine_->Abort(lease_ids, delay_ms);
  engine_->WhenDurable(std::move(durable));
  engine_->Drain();
  return n;
}
size_t QueueManager::Extend(std::span<const uint64_t> lease_ids, int64_t lease_ms) {
  return engine_->Extend(lease_ids, lease_ms);
}
Result<bool> QueueManager::ConfirmOldest(uint64_t owner, std::string_view name,
                                         DurableDone durable) {
  engine_->BeginChange();
  Result<bool> r = engine_->OwnerOldest(owner, name, true);
  if (r.ok()) engine_->WhenDurable(std::move(durable));
  engine_->Drain();
  return r;
}
Result<bool> QueueManager::AbortOldest(uint64_t owner, std::string_view name, DurableDone durable) {
  engine_->BeginChange();
  Result<bool> r = engine_->OwnerOldest(owner, name, false);
  if (r.ok()) engine_->WhenDurable(std::move(durable));
  engine_->Drain();
  return r;
}
Result<bool> QueueManager::ConfirmCount(uint64_t owner, std::string_view name, size_t count,
                                        DurableDone durable) {
  engine_->BeginChange();
  Result<bool> r = engine_->ConfirmCount(owner, name, count);
  if (r.ok()) engine_->WhenDurable(std::move(durable));
  engine_->Drain();
  return r;
}
size_t QueueManager::OwnerLeaseCount(uint64_t owner, std::string_view name) const {
  return engine_->OwnerLeaseCount(owner, name);
}
size_t QueueManager::ReleaseOwner(uint64_t owner) {
  size_t n = engine_->ReleaseOwner(owner);
  engine_->Drain();
  return n;
}
Status QueueManager::CreateSubscription(std::string_view queue, std::string_view sub,
                                        StartPosition start) {
  Status st = engine_->CreateSubscription(queue, sub, start);
  engine_->Drain();
  return st;
}
Status QueueManager::Seek(std::string_view name, StartPosition start) {
  SAKER_RETURN_IF_ERROR(CheckRemovals(engine_->status()));
  Status st = engine_->Seek(name, start);
  engine_->Drain();
  return st;
}
Status QueueManager::DeleteSubscription(std::string_view queue, std::string_view sub) {
  SAKER_RETURN_IF_ERROR(CheckRemovals(engine_->status()));
  Status st = engine_->DeleteSubscription(queue, sub);
  engine_->Drain();
  return st;
}
Result<std::vector<SubscriptionStats>> QueueManager::ListSubscriptions(std::string_view queue) {
  return engine_->ListSubscriptions(queue);
}
Status QueueManager::Flush(std::string_view name, DurableDone durable) {
  engine_->BeginChange();
  Status st = engine_->Flush(name);
  if (st.ok()) engine_->WhenDurable(std::move(durable));
  engine_->Drain();
  return st;
}
Status QueueManager::FlushAll(DurableDone durable) {
  engine_->BeginChange();
  Status st = engine_->FlushAll();
  if (st.ok()) engine_->WhenDurable(std::move(durable));
  engine_->Drain();
  return st;
}
Result<uint64_t> QueueManager::FlushExpired(std::string_view name) {
  auto r = engine_->FlushExpired(name);
  engine_->Drain();
  return r;
}
Result<uint64_t> QueueManager::FlushAllExpired() {
  auto r = engine_->FlushAllExpired();
  engine_->Drain();
  return r;
}
Status QueueManager::DeleteQueue(std::string_view queue, DurableDone durable) {
  Status st = engine_->DeleteQueue(queue, std::move(durable));
  engine_->Drain();
  return st;
}
std::vector<std::string> QueueManager::ListQueues() const { return engine_->ListQueues(); }
uint64_t QueueManager::queue_creates() const { return engine_->queue_creates(); }
Result<QueueStats> QueueManager::GetQueueStats(std::string_view queue) {
  return engine_->GetQueueStats(queue);
}
std::vector<QueueStats> QueueManager::AllStats() const { return engine_->AllStats(); }
Status QueueManager::SetQueueConfig(std::string_view queue, const QueueConfig& config) {
  Status st = engine_->SetQueueConfig(queue, config);
  engine_->Drain();
  return st;
}
ServerStatus QueueManager::status() const { return engine_->status(); }
void QueueManager::SetStatus(ServerStatus status) { engine_->SetStatus(status); }
void QueueManager::AppendBatch(std::string_view queue, storage::BatchPtr batch,
                               std::function<void(Status)> done) {
  engine_->AppendBatch(queue, std::move(batch), std::move(done));
  engine_->Drain();
}
void QueueManager::Truncate(std::string_view queue, uint64_t offset,
                            std::function<void(Status)> done) {
  engine_->Truncate(queue, offset, std::move(done));
  engine_->Drain();
}
QueueManager::ReplicaInfo QueueManager::GetReplicaInfo(std::string_view queue) const {
  return engine_->GetReplicaInfo(queue);
}
QueueConfig QueueManager::ConfigFor(std::string_view queue) const {
  return engine_->PublicConfigFor(queue);
}
Status QueueManager::EnsureQueue(std::string_view queue, uint64_t incarnation) {
  Status st = engine_->EnsureQueue(queue, incarnation);
  engine_->Drain();
  return st;
}
void QueueManager::SetEpoch(std::string_view queue, uint64_t epoch) {
  engine_->SetEpoch(queue, epoch);
}
void QueueManager::ReadLog(std::string_view queue, uint64_t offset, size_t max_bytes,
                           std::function<void(Result<std::vector<storage::BatchPtr>>)> done) {
  engine_->ReadLog(queue, offset, max_bytes, std::move(done));
  engine_->Drain();
}
void QueueManager::FailPendingPuts(std::string_view queue, int64_t before_ms, const Status& st) {
  engine_->FailPendingPuts(queue, before_ms, st);
  engine_->Drain();
}
int64_t QueueManager::OldestPendingPut(std::string_view queue) const {
  return engine_->OldestPendingPut(queue);
}
void QueueManager::RepairQueue(std::string_view queue,
                               std::function<void(Result<RepairReport>)> done) {
  engine_->Repair(queue, std::move(done));
  engine_->Drain();
}
void QueueManager::ResumeQueue(std::string_view queue, std::function<void(Status)> done) {
  engine_->Resume(queue, std::move(done));
  engine_->Drain();
}
void QueueManager::Tick() { engine_->Tick(); }
void QueueManager::CommitCursors(std::function<void(Status)> done) {
  engine_->Checkpoint(std::move(done));
  engine_->Drain();
}

}  // namespace saker::queue

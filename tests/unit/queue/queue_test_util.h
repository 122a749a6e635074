// A QueueManager over a real StorageThread and data dir, driven by EventLoop::RunOnce with a
// FakeClock for every deadline; helpers turn the async API into plain calls for tests. Admissions
// plays a cluster's admission for it: which queues this node leads.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/common/event_loop.h"
#include "server/queue/queue_manager.h"
#include "server/storage/storage_thread.h"
#include "tests/testutil/fake_clock.h"
#include "tests/testutil/testutil.h"

namespace saker::queue::test {

// What a test cluster answers Replicator::Admit: each queue is led here (OK, the default),
// refused (NotLeader naming node 2, or Unavailable), or not known yet (Busy, until Answer).
// Shared by the test and the AdmissionReplicator the engine owns. Loop thread only.
struct Admissions {
  std::map<std::string, Status, std::less<>> answers;  // queues not listed are led here
  std::map<std::string, std::vector<std::function<void(Status)>>, std::less<>> waiting;
  int lookups = 0;  // WhenAdmitted calls

  static std::string LeaderMessage(std::string_view queue) {
    return "queue " + std::string(queue) +
           " is led by node 2: thrift=127.0.0.1:2229 memcache=127.0.0.1:22133 "
           "text=127.0.0.1:2222";
  }
  void LedElsewhere(const std::string& queue) {
    answers[queue] = Status::NotLeader(LeaderMessage(queue));
  }
  void Unknown(const std::string& queue) { answers[queue] = Status::Busy(""); }
  // From now on `queue` is answered `st` (OK: led here), and so are its waiting operations.
  void Answer(const std::string& queue, const Status& st) {
    if (st.ok()) {
      answers.erase(queue);
    } else {
      answers[queue] = st;
    }
    auto it = waiting.find(queue);
    if (it == waiting.end()) return;
    std::vector<std::function<void(Status)>> ready = std::move(it->second);
    waiting.erase(it);
    for (auto& fn : ready) fn(st);
  }
};

// The engine's Replicator in admission tests: commits what is durable here (as the single node)
// and admits as `admissions` says.
class AdmissionReplicator final : public Replicator {
 public:
  explicit AdmissionReplicator(std::shared_ptr<Admissions> admissions)
      : admissions_(std::move(admissions)) {}
  void Attach(CommitSink* sink) override { sink_ = sink; }
  Status Admit(std::string_view queue) override {
    auto it = admissions_->answers.find(queue);
    return it == admissions_->answers.end() ? Status::OK() : it->second;
  }
  void WhenAdmitted(std::string_view queue, std::function<void(Status)> ready) override {
    admissions_->lookups++;
    admissions_->waiting[std::string(queue)].push_back(std::move(ready));
  }
  Status CanDelete(std::string_view) override { return Status::OK(); }
  void OnAppend(const QueueRef&, const storage::BatchPtr&) override {}
  void OnDurable(const QueueRef& queue, uint64_t durable_end) override {
    sink_->Commit(queue.id, durable_end);
  }

 private:
  std::shared_ptr<Admissions> admissions_;
  CommitSink* sink_ = nullptr;
};

class EngineHarness {
 public:
  explicit EngineHarness(const std::string& dir) {
    config_.data_dir = dir;
    config_.defaults.sync = storage::SyncPolicy{storage::SyncPolicy::Mode::kNever, 0};
    config_.defaults.dedupe_window_ms = 60'000;
    config_.tick_ms = 1;
    // Expiry at reads and flush_expired only, unless a test turns the expiration timer on.
    config_.expiry_sweep_ms = 0;
  }
  ~EngineHarness() { Stop(); }

  EngineConfig& config() { return config_; }
  saker::test::FakeClock& clock() { return clock_; }
  QueueManager* engine() { return engine_.get(); }
  QueueManager* operator->() { return engine_.get(); }
  EventLoop& loop() { return *loop_; }
  // Every Start() from now on opens the engine with an AdmissionReplicator over `admissions`.
  void AdmitBy(std::shared_ptr<Admissions> admissions) { admissions_ = std::move(admissions); }

  void Start() {
    loop_ = std::make_unique<EventLoop>();
    storage_ = std::make_unique<storage::StorageThread>(loop_.get());
    storage_->Start();
    std::unique_ptr<Replicator> replicator;
    if (admissions_) replicator = std::make_unique<AdmissionReplicator>(admissions_);
    auto r =
        QueueManager::Open(config_, loop_.get(), storage_.get(), &clock_, std::move(replicator));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    engine_ = std::move(r).value();
  }
  // Clean stop: commits cursors, drains storage.
  void Stop() {
    if (!engine_) return;
    bool closed = false;
    engine_->Close([&](Status st) {
      EXPECT_TRUE(st.ok()) << st.ToString();
      closed = true;
    });
    RunUntil([&] { return closed; });
    storage_->Stop();
    engine_.reset();
    storage_.reset();
    loop_.reset();
  }
  void Restart() {
    Stop();
    Start();
  }
  // Stops without the engine's Close: no last cursor write, no last meta.db checkpoint. What
  // the storage thread was handed is still written (as a process killed after its writes
  // returned); run with a long commit_interval_ms so that only the cursor log holds the acks.
  void Crash() {
    if (!engine_) return;
    storage_->Stop();
    engine_.reset();
    storage_.reset();
    loop_.reset();
  }
  // Ack with a `durable` callback, driven until it ran; returns its Status.
  Status AckDurably(std::vector<uint64_t> ids) {
    std::optional<Status> out;
    engine_->Ack(ids, [&](Status st) { out = st; });
    RunUntil([&] { return out.has_value(); });
    return out.value_or(Status::Timeout("ack"));
  }

  // Drives the loop until `pred` holds (fails the test after a scaled deadline).
  template <typename Pred>
  void RunUntil(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + saker::test::Scaled(timeout);
    while (!pred()) {
      loop_->RunOnce();
      if (pred()) return;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "condition not reached in time";
        return;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  // Lets posted completions and hooks run a few times without waiting for anything.
  void Settle() {
    for (int i = 0; i < 3; i++) loop_->RunOnce();
  }

  Result<PutResult> Put(const std::string& queue, std::vector<PutItem> items) {
    std::optional<Result<PutResult>> out;
    engine_->Put(queue, std::move(items), [&](Result<PutResult> r) { out.emplace(std::move(r)); });
    RunUntil([&] { return out.has_value(); });
    return out.has_value() ? std::move(*out) : Result<PutResult>(Status::Timeout("put"));
  }
  Result<PutResult> Put(const std::string& queue, const std::vector<std::string>& payloads) {
    std::vector<PutItem> items;
    for (const auto& p : payloads) items.push_back(PutItem{p, 0, ""});
    return Put(queue, std::move(items));
  }
  void PutOk(const std::string& queue, const std::vector<std::string>& payloads) {
    auto r = Put(queue, payloads);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->accepted, payloads.size()) << r->refused.ToString();
  }

  struct Got {
    std::vector<std::string> payloads;
    std::vector<uint64_t> leases;
    std::vector<uint64_t> offsets;
    std::vector<uint32_t> counts;
  };
  // A get that must complete without parking (timeout 0) or after `advance` loop turns.
  Result<Got> Get(const std::string& name, GetOptions options = {}) {
    std::optional<Result<std::vector<Delivery>>> out;
    engine_->Get(name, options,
                 [&](Result<std::vector<Delivery>> r) { out.emplace(std::move(r)); });
    RunUntil([&] { return out.has_value(); });
    if (!out.has_value()) return Status::Timeout("get");
    if (!out->ok()) return out->status();
    Got g;
    for (const Delivery& d : out->value()) {
      g.payloads.emplace_back(d.payload);
      g.leases.push_back(d.lease_id);
      g.offsets.push_back(d.offset);
      g.counts.push_back(d.delivery_count);
    }
    return g;
  }
  std::vector<std::string> Take(const std::string& name, uint32_t n = 100) {
    GetOptions o;
    o.max_items = n;
    auto g = Get(name, o);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? g->payloads : std::vector<std::string>{};
  }
  Got Lease(const std::string& name, uint32_t n = 1, int64_t lease_ms = 0, uint64_t owner = 0) {
    GetOptions o;
    o.max_items = n;
    o.reliable = true;
    o.lease_ms = lease_ms;
    o.owner = owner;
    auto g = Get(name, o);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : Got{};
  }
  void Commit() {
    bool done = false;
    engine_->CommitCursors([&](Status st) {
      EXPECT_TRUE(st.ok()) << st.ToString();
      done = true;
    });
    RunUntil([&] { return done; });
  }
  // Advances fake time and runs the deadlines that became due.
  void Advance(int64_t ms) {
    clock_.Advance(ms);
    engine_->Tick();
    Settle();
  }

 private:
  EngineConfig config_;
  std::shared_ptr<Admissions> admissions_;
  saker::test::FakeClock clock_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<storage::StorageThread> storage_;
  std::unique_ptr<QueueManager> engine_;
};

}  // namespace saker::queue::test

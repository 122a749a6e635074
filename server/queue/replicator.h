// Replicator: the seam that decides a queue's commit_end, the end below which items may be
// delivered and puts acknowledged (docs/SEMANTICS.md). The engine tells it what it
// appends and what became durable on this node; the replicator answers through the engine's
// CommitSink. The single-node LocalReplicator commits whatever is durable here; the replicated
// log (a later issue) commits what a quorum of replicas has made durable, streaming the same
// batches to followers.
//
// Loop thread only: every call is made on the engine's loop thread, and CommitSink may be called
// from inside them or later on the same thread (the puts it completes then are answered before
// the loop next waits for I/O).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "server/common/status.h"
#include "server/storage/batch.h"

namespace saker::queue {

class CommitSink {
 public:
  virtual ~CommitSink() = default;
  // Items of queue `queue_id` below `commit_end` may be delivered, and puts below it answered.
  // commit_end never exceeds the queue's durable_end (the engine clamps it) and never goes back.
  virtual void Commit(uint64_t queue_id, uint64_t commit_end) = 0;
};

// The queue a call is about: this node's folder number, its name and its incarnation.
struct QueueRef {
  uint64_t id = 0;
  std::string_view name;
  uint64_t incarnation = 0;
};

class Replicator {
 public:
  virtual ~Replicator() = default;
  // Called once before any other call.
  virtual void Attach(CommitSink* sink) = 0;
  // Whether this node may serve a client's operation on queue `queue` (a bare name) now (a
  // put, a get, a cursor change, its stats): OK (go on), Busy (not known yet: call
  // WhenAdmitted), or the error to answer: NotLeader (its message names the leader,
  // "host:port"), Unavailable (no leader yet).
  virtual Status Admit(std::string_view queue) = 0;
  // After Admit said Busy: `ready` runs later on the loop with OK (run the operation again) or
  // the error to answer (as Admit's, or Timeout).
  virtual void WhenAdmitted(std::string_view queue, std::function<void(Status)> ready) = 0;
  // OK if queue `queue` may be deleted here (the whole queue or one of its subscriptions).
  virtual Status CanDelete(std::string_view queue) = 0;
  // `batch` (items, or cursor records when it carries kBatchFlagCursor) was handed to this
  // node's storage thread for `queue`. Shared: never copied per follower.
  virtual void OnAppend(const QueueRef& queue, const storage::BatchPtr& batch) = 0;
  // Everything of `queue`'s item log below `durable_end` is durable on this node.
  virtual void OnDurable(const QueueRef& queue, uint64_t durable_end) = 0;
};

// The single node: every queue is served here, commit_end = durable_end.
class LocalReplicator final : public Replicator {
 public:
  void Attach(CommitSink* sink) override { sink_ = sink; }
  Status Admit(std::string_view) override { return Status::OK(); }
  void WhenAdmitted(std::string_view, std::function<void(Status)> ready) override {
    ready(Status::OK());
  }
  Status CanDelete(std::string_view) override { return Status::OK(); }
  void OnAppend(const QueueRef&, const storage::BatchPtr&) override {}
  void OnDurable(const QueueRef& queue, uint64_t durable_end) override {
    sink_->Commit(queue.id, durable_end);
  }

 private:
  CommitSink* sink_ = nullptr;
};

}  // namespace saker::queue

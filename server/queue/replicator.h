// Replicator: the seam that decides a queue's commit_end, the end below which items may be
// delivered and puts acknowledged (docs/SEMANTICS.md). The engine tells it what it
// appends and what became durable on this node; the replicator answers through the engine's
// CommitSink. The single-node LocalReplicator commits whatever is durable here; the replicated
// log (a later issue) commits what a quorum of replicas has made durable, streaming the same
// batches to followers.
//
// Loop thread only: every call is made on the engine's loop thread, and CommitSink may be called
// from inside them or later on the same thread.
#pragma once

#include <cstdint>

#include "server/storage/batch.h"

namespace saker::queue {

class CommitSink {
 public:
  virtual ~CommitSink() = default;
  // Items of queue `queue_id` below `commit_end` may be delivered, and puts below it answered.
  // commit_end never exceeds the queue's durable_end (the engine clamps it) and never goes back.
  virtual void Commit(uint64_t queue_id, uint64_t commit_end) = 0;
};

class Replicator {
 public:
  virtual ~Replicator() = default;
  // Called once before any other call.
  virtual void Attach(CommitSink* sink) = 0;
  // `batch` (items, or cursor records when it carries kBatchFlagCursor) was handed to this
  // node's storage thread for `queue_id`. Shared: never copied per follower.
  virtual void OnAppend(uint64_t queue_id, const storage::BatchPtr& batch) = 0;
  // Everything of `queue_id`'s item log below `durable_end` is durable on this node.
  virtual void OnDurable(uint64_t queue_id, uint64_t durable_end) = 0;
};

// The single node: commit_end = durable_end.
class LocalReplicator final : public Replicator {
 public:
  void Attach(CommitSink* sink) override { sink_ = sink; }
  void OnAppend(uint64_t, const storage::BatchPtr&) override {}
  void OnDurable(uint64_t queue_id, uint64_t durable_end) override {
    sink_->Commit(queue_id, durable_end);
  }

 private:
  CommitSink* sink_ = nullptr;
};

}  // namespace saker::queue

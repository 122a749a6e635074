// What ZooKeeper holds for the replicated log (replication/PROTOCOL.md "ZooKeeper layout"):
// each queue's node (incarnation, replica set, quorum, claimed epoch, segments) and each live
// node's address; their text encodings; and the pure rules that take no I/O: where a replica
// cuts its log, which offset a quorum has, where a new queue's replicas go.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"

namespace saker::replication {

// One epoch of a queue's log: opened by `leader` at offset `start`; sealed where the next starts.
struct SegmentInfo {
  uint64_t epoch = 0;
  uint64_t start = 1;
  int leader = 0;
  bool operator==(const SegmentInfo&) const = default;
};

// The data of /queues/<name>. Changed only by compare-and-set on its version.
struct QueueMeta {
  // Segments kept: a replica whose last epoch is older than all of them cuts to the oldest's
  // start, which is still right (everything after it was recovered by a later leader).
  static constexpr size_t kMaxSegments = 64;

  uint64_t incarnation = 0;
  std::vector<int> replicas;  // node ids
  uint32_t ack_quorum = 2;
  uint64_t claimed = 0;  // the highest epoch a would-be leader claimed (each claims a new one)
  std::vector<SegmentInfo> segments;  // oldest first

  uint64_t epoch() const { return segments.empty() ? 0 : segments.back().epoch; }
  bool HasReplica(int node) const;
  bool operator==(const QueueMeta&) const = default;
};

std::string EncodeQueueMeta(const QueueMeta& meta);
Result<QueueMeta> DecodeQueueMeta(std::string_view text);

// The data of /nodes/<id>: where to reach a live node.
struct NodeInfo {
  int id = 0;
  std::string host;
  int replication = 0;
  int memcache = 0;
  int thrift = 0;
  int text = 0;
  int admin = 0;
  bool operator==(const NodeInfo&) const = default;
};

std::string EncodeNodeInfo(const NodeInfo& node);
Result<NodeInfo> DecodeNodeInfo(std::string_view text);

// The truncation rule: a replica whose last batch has epoch `last_epoch` keeps its log only
// below the start of the first segment of a later epoch (what it holds beyond was never
// acknowledged: the later leader recovered the tail without it). UINT64_MAX: nothing to cut.
uint64_t CutPoint(const std::vector<SegmentInfo>& segments, uint64_t last_epoch);

// The end that `quorum` of the replicas have durable: the quorum-th largest of `durable_ends`
// (0 if there are fewer).
uint64_t QuorumEnd(std::vector<uint64_t> durable_ends, uint32_t quorum);

// The ack quorum of a queue with `replicas` copies: `configured`, or a majority for 0.
uint32_t AckQuorum(uint32_t replicas, uint32_t configured);

// Replicas that take over need this many fenced to stop the old leader from reaching its
// quorum: replicas - ack_quorum + 1 (BookKeeper's ensemble coverage).
uint32_t FenceCoverage(uint32_t replicas, uint32_t ack_quorum);

// A new queue's replica set: `self` first (it creates the queue and leads it), then up to
// `replicas` - 1 of `live` (sorted ids), starting at a point chosen by the queue's name so
// queues spread over the nodes.
std::vector<int> Place(std::string_view queue, int self, std::vector<int> live, uint32_t replicas);

}  // namespace saker::replication

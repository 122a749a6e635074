// The replica-to-replica service of the replicated log (replication/PROTOCOL.md is the spec;
// this file is its wire form). Framed transport, binary protocol, on each node's replication
// listener (--replication-port). A leader calls its followers; replies come in request order on
// a connection, so a leader pipelines appends without waiting.
//
// Offsets are item offsets of the queue's log (first item = 1); `*_end` is one past the last.
// Every request names the queue and its incarnation (random at creation, the same on every
// replica): a replica with another incarnation of that name answers INCARNATION.

namespace cpp saker.replica
namespace py saker_replica

enum ReplicaError {
  OK = 0,
  FENCED = 1,        // the request's epoch is below the replica's fence: a newer leader exists
  GAP = 2,           // the append does not start at the replica's end (`log_end` says where it is)
  NO_QUEUE = 3,      // the replica does not have the queue (fetch, truncate)
  INCARNATION = 4,   // another incarnation of the queue is here
  FAILED = 5,        // the replica's copy is stopped (damaged, disk full, I/O error)
  BAD_REQUEST = 6,   // malformed (a batch that does not parse or fails its CRC)
}

// One epoch of the queue's log: opened by `leader` at `start`. The segment after it says where
// it was sealed.
struct Segment {
  1: i64 epoch,
  2: i64 start,
  3: i32 leader,
}

struct FenceRequest {
  1: string queue,
  2: i64 incarnation,
  3: i64 epoch,              // the new leader's epoch; the replica persists it before answering
  4: i32 leader,
  // The queue's segments as ZooKeeper holds them (oldest first): the replica cuts whatever of its
  // log lies beyond the sealed end of its last epoch before it answers.
  5: list<Segment> segments,
  6: i32 replicas,           // the queue's config, for a replica that creates it
  7: i32 ack_quorum,
}

struct FenceReply {
  1: ReplicaError error,
  2: string message,
  3: i64 fenced_epoch,       // the replica's fence after this request
  4: i64 last_epoch,         // the epoch of its last batch (0: empty)
  5: i64 log_end,           // its log's end after the cut
  6: i64 durable_end,
}

struct AppendRequest {
  1: string queue,
  2: i64 incarnation,
  3: i64 epoch,
  4: list<binary> batches,   // whole encoded batches (server/storage/FORMAT.md), in order
  5: i64 commit_end,         // the leader's commit offset
}

struct AppendReply {
  1: ReplicaError error,
  2: string message,
  3: i64 log_end,           // the replica's end (after the append, if it took it)
  4: i64 durable_end,        // answered once this covers the append
  5: i64 fenced_epoch,
}

struct FetchRequest {
  1: string queue,
  2: i64 incarnation,
  3: i64 from_offset,
  4: i32 max_bytes,
}

struct FetchReply {
  1: ReplicaError error,
  2: string message,
  3: list<binary> batches,   // empty with error OK: no such entry (`from_offset` is at or past `log_end`)
  4: i64 log_end,
}

struct TruncateRequest {
  1: string queue,
  2: i64 incarnation,
  3: i64 epoch,
  4: i64 offset,
}

struct TruncateReply {
  1: ReplicaError error,
  2: string message,
  3: i64 log_end,
}

struct QueueCommit {
  1: string queue,
  2: i64 incarnation,
  3: i64 epoch,
  4: i64 commit_end,
}

struct HeartbeatRequest {
  1: i32 leader,
  2: list<QueueCommit> commits,   // queues whose commit offset moved since the last append
}

struct HeartbeatReply {
  1: i32 node,
}

service SakerReplica {
  FenceReply fence(1: FenceRequest request),
  AppendReply append(1: AppendRequest request),
  FetchReply fetch(1: FetchRequest request),
  TruncateReply truncate(1: TruncateRequest request),
  HeartbeatReply heartbeat(1: HeartbeatRequest request),
}

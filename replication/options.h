// ClusterOptions: how a sakerd joins a cluster ([cluster] in the config file, the --zookeeper,
// --replication-port and --advertise flags). Without `zookeeper` the server is the single node
// it has always been. The per-queue keys (replicas, ack_quorum) live in queue::QueueConfig.
// Plain struct, no logic; replication/PROTOCOL.md says what each one bounds.
#pragma once

#include <cstdint>
#include <string>

namespace saker::replication {

struct ClusterOptions {
  // "host:port[,host:port...][/chroot]"; empty = standalone (no replication).
  std::string zookeeper;
  // The replica-to-replica listener (thrift/replication.thrift). 0 = any free port.
  int replication_port = 2224;
  // The host peers and clients are told to reach this node at (NOT_LEADER answers, ZooKeeper).
  // Empty: the listen address, or 127.0.0.1 when that is 0.0.0.0.
  std::string advertise;
  // The port peers are told for the replication listener; 0 = the bound one. Lets a proxy sit in
  // front of it (the fault tests do this).
  int advertise_replication_port = 0;
  // The ZooKeeper session timeout asked for: a dead leader is noticed this long after it died
  // (the server clamps it to its [minSessionTimeout, maxSessionTimeout]).
  int64_t session_timeout_ms = 2000;
  // A put not replicated to its quorum within this is answered "unknown" (Timeout).
  int64_t append_timeout_ms = 5000;
  // A peer that answered nothing for this long is reconnected; idle queues' commit offsets
  // travel in heartbeats this often.
  int64_t heartbeat_ms = 100;
  int64_t peer_timeout_ms = 1000;

  bool enabled() const { return !zookeeper.empty(); }
};

}  // namespace saker::replication

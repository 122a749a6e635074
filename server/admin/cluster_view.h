// ClusterView: what a node of a cluster knows about it (replication/PROTOCOL.md), as the admin
// pages, /metrics, /stats.json and the native `cluster_status` call show it. Plain data, filled
// by replication::Cluster::View(); absent on a single node.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace saker::admin {

struct ClusterNode {
  int id = 0;
  std::string host;
  int replication = 0;
  int memcache = 0;
  int thrift = 0;
  int text = 0;
  int admin = 0;
  int64_t append_rtt_us = 0;  // this node's last append round trip to it (0: none yet)
};

struct ClusterFollower {
  int node = 0;
  uint64_t durable_end = 0;  // what it has acknowledged durable
  uint64_t lag = 0;          // offsets the leader has that it has not acknowledged
  bool synced = false;       // receiving batches as they are appended
};

struct ClusterQueue {
  std::string name;
  int leader = -1;  // -1: none known
  uint64_t epoch = 0;
  std::vector<int> replicas;
  uint32_t ack_quorum = 0;
  std::string role;  // this node's: "leader", "follower", "candidate", "none"
  uint64_t commit_end = 0;
  uint64_t log_end = 0;
  std::vector<ClusterFollower> followers;  // when this node leads it
};

struct ClusterCounters {
  uint64_t takeovers = 0;          // leaderships this node won and opened
  uint64_t takeover_failures = 0;  // takeovers given up (coverage, CAS lost, fenced)
  uint64_t fences_received = 0;
  uint64_t fenced_rejections = 0;  // appends and fences refused for a lower epoch
  uint64_t step_downs = 0;
  uint64_t appends_sent = 0;
  uint64_t appends_received = 0;
  uint64_t unknown_puts = 0;  // puts answered "unknown" (quorum not reached in time)
};

struct ClusterView {
  int node_id = 0;
  bool zk_connected = false;
  std::string zookeeper;           // the --zookeeper string
  std::vector<ClusterNode> nodes;  // live, as ZooKeeper lists them
  std::vector<ClusterQueue> queues;
  ClusterCounters counters;
};

}  // namespace saker::admin

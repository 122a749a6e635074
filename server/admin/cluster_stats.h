// The cluster's part of /metrics, /stats.json and the status page (stats.h calls these when
// Snapshot::cluster is set, so a single node shows none of it). docs/OPERATIONS.md "Cluster
// status" lists every series and field. Loop thread only.
#pragma once

#include <string>

#include "server/admin/cluster_view.h"

namespace saker::admin {

// Appends the saker_cluster_* families (Prometheus text format 0.0.4, HELP and TYPE once each).
void AppendClusterPrometheus(const ClusterView& v, std::string* out);
// The value of /stats.json's "cluster" key: one JSON object.
std::string ClusterJson(const ClusterView& v);
// The status page's cluster section: the live nodes and the queues with their leader, epoch,
// this node's role, commit and log ends and each follower's lag. Every string is HTML-escaped.
std::string ClusterHtml(const ClusterView& v);

}  // namespace saker::admin

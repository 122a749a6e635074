// `saker cluster status [--json]`: the cluster as the server that answers sees it.
#pragma once

#include <saker/client.h>

namespace saker::cli {

// Prints the nodes and, per queue, its leader, epoch, replicas, commit offset and each follower's
// lag (--json: one object, the shape of /stats.json's "cluster"). Returns the exit code: NOT_FOUND
// (3) from a server that is not in a cluster.
int ClusterStatusCommand(client::Client& client, bool json);

}  // namespace saker::cli

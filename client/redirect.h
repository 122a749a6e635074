// How the client reads a cluster's refusals (docs/PROTOCOL.md "Clusters"): where a NOT_LEADER
// answer says the queue's leader is, and which UNAVAILABLE answers are worth waiting out.
// Pure functions, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace saker::client {

// The "host:port" of the leader's Thrift listener in a NOT_LEADER message ("queue q is led by
// node 1: thrift=H:P memcache=H:P text=H:P"); nullopt if it names none (no "thrift=" word, an
// empty host, a port that is not 1-65535).
std::optional<std::string> LeaderAddress(std::string_view not_leader_message);

// Whether an UNAVAILABLE answer may clear by itself within a call's deadline (no leader yet,
// ZooKeeper unreachable, too few nodes): true for all but the server status an operator set
// ("server is READONLY", "server is QUIESCENT"), which only an operator ends.
bool UnavailableMayClear(std::string_view message);

}  // namespace saker::client

#!/usr/bin/env bash
# cluster_test: scripts/cluster end to end, with a real ZooKeeper and three real sakerd. It
# starts the cluster on free ports into a temp dir, checks the ready lines and the refusal of a
# second start, puts an item through node 1's memcache port (node 1 takes the new queue's
# leadership), reads the NOT_LEADER answer of node 2 and the item back from node 1, stops the
# cluster and checks that no process from the pid files survives.
#   tests/scripts/cluster_test.sh SAKERD
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 SAKERD" >&2; exit 2; }
cluster=$(cd "$(dirname "$0")/../../scripts" && pwd)/cluster
export SAKERD=$1
work=$(mktemp -d)
export SAKER_CLUSTER_DIR=$work/cluster
SAKER_CLUSTER_WAIT_SECONDS=$(awk -v m="${SAKER_TEST_TIMEOUT_MULTIPLIER:-1}" 'BEGIN { printf "%d", 30 * m + 0.5 }')
export SAKER_CLUSTER_WAIT_SECONDS
nodes=3
queue=cluster_test

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

finish() {
  local rc=$? f
  if [ $rc -ne 0 ]; then
    for f in "$SAKER_CLUSTER_DIR"/*.log; do
      if [ -e "$f" ]; then echo "--- $f" >&2; tail -n 40 "$f" >&2; fi
    done
  fi
  if compgen -G "$SAKER_CLUSTER_DIR/*.pid" >/dev/null; then "$cluster" stop >&2 || true; fi
  rm -rf "$work"
  exit $rc
}
trap finish EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A base port whose whole range (ZooKeeper, then 5 ports per node) is free, below the
# ephemeral range so that no outgoing connection takes one of them meanwhile.
base=
for _ in $(seq 20); do
  candidate=$((10000 + RANDOM % 220 * 100))
  ok=1
  for ((p = candidate; p <= candidate + 10 * nodes + 4; p++)); do
    port_free "$p" || { ok=0; break; }
  done
  if [ $ok -eq 1 ]; then base=$candidate; break; fi
done
[ -n "$base" ] || fail "no free range of ports found"
export SAKER_CLUSTER_BASE_PORT=$base

# mc PORT REQUEST N: send REQUEST (printf %b escapes) to memcache on PORT, print N reply lines
# without their \r; each line must come within 15 s.
mc() {
  local line i
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf '%b' "$2" >&3
  for ((i = 0; i < $3; i++)); do
    IFS= read -r -t 15 line <&3 || fail "no reply line $((i + 1)) to $2 from port $1"
    echo "${line%$'\r'}"
  done
  exec 3>&-
}

out=$("$cluster" start $nodes) || fail "scripts/cluster start failed: $out"
echo "$out"
grep -qx "zookeeper ready 127.0.0.1:$base pid [0-9]*" <<<"$out" || fail "no zookeeper line"
for ((k = 1; k <= nodes; k++)); do
  b=$((base + 10 * k))
  want="sakerd ready memcache=127.0.0.1:$b thrift=127.0.0.1:$((b + 1)) text=127.0.0.1:$((b + 2))"
  want+=" admin=127.0.0.1:$((b + 3)) replication=127.0.0.1:$((b + 4)) node=$k"
  grep -qxF "$want" <<<"$out" || fail "no ready line \"$want\""
done
for ((k = 1; k <= nodes; k++)); do
  [ -s "$SAKER_CLUSTER_DIR/node$k.pid" ] || fail "no node$k.pid"
done
[ -s "$SAKER_CLUSTER_DIR/zk.pid" ] || fail "no zk.pid"

status=$("$cluster" status) || fail "status failed: $status"
echo "$status"
grep -q "^zk: running .* Mode: standalone$" <<<"$status" || fail "status: ZooKeeper not serving"
[ "$(grep -c '^node[0-9]*: running .* sakerd ready ' <<<"$status")" -eq $nodes ] ||
  fail "status: not every node running"

if again=$("$cluster" start $nodes 2>&1); then fail "a second start succeeded: $again"; fi
grep -q "already running" <<<"$again" || fail "a second start did not say why: $again"

leader=$((base + 10))
follower=$((base + 20))
[ "$(mc $leader "set $queue 0 0 5\r\nhello\r\n" 1)" = STORED ] || fail "put on node 1 not STORED"
reply=$(mc $follower "get $queue\r\n" 1)
echo "node 2: $reply"
[[ $reply == "SERVER_ERROR queue $queue is led by node 1: "* ]] ||
  fail "node 2 answered \"$reply\", not NOT_LEADER naming node 1"
[ "$(mc $leader "get $queue\r\n" 3 | tr '\n' '|')" = "VALUE $queue 0 5|hello|END|" ] ||
  fail "get on node 1 did not return the item"

pids=$(cat "$SAKER_CLUSTER_DIR"/*.pid)
[ "$(wc -w <<<"$pids")" -eq $((nodes + 1)) ] || fail "want $((nodes + 1)) pids, got: $pids"
"$cluster" stop || fail "stop failed"
if compgen -G "$SAKER_CLUSTER_DIR/*.pid" >/dev/null; then fail "pid files left after stop"; fi
for pid in $pids; do
  if [ -r "/proc/$pid/stat" ]; then
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    [ "${stat%% *}" = Z ] || fail "pid $pid survived stop"
  fi
done
echo "PASS"

// ZooKeeper data encodings and the pure replication rules (see the header).
#include "replication/queue_meta.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <functional>

namespace saker::replication {
namespace {

// "key=value" lines; unknown keys are ignored (a newer node may add some).
template <class Fn>
Status ForEachLine(std::string_view text, Fn fn) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Status::Corruption("bad line \"" + std::string(line) + "\" in ZooKeeper data");
    }
    SAKER_RETURN_IF_ERROR(fn(line.substr(0, eq), line.substr(eq + 1)));
  }
  return Status::OK();
}

template <class T>
Status Number(std::string_view key, std::string_view v, T* out, int base = 10) {
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *out, base);
  if (ec != std::errc() || end != v.data() + v.size()) {
    return Status::Corruption("bad " + std::string(key) + " \"" + std::string(v) +
                              "\" in ZooKeeper data");
  }
  return Status::OK();
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (!s.empty()) {
    size_t p = s.find(sep);
    parts.push_back(s.substr(0, p));
    if (p == std::string_view::npos) break;
    s = s.substr(p + 1);
  }
  return parts;
}

}  // namespace

bool QueueMeta::HasReplica(int node) const {
  return std::find(replicas.begin(), replicas.end(), node) != replicas.end();
}

std::string EncodeQueueMeta(const QueueMeta& m) {
  std::string out = fmt::format("incarnation={:016x}\nreplicas=", m.incarnation);
  for (size_t i = 0; i < m.replicas.size(); ++i) {
    out += (i ? "," : "") + std::to_string(m.replicas[i]);
  }
  out += fmt::format("\nack_quorum={}\nclaimed={}\nsegments=", m.ack_quorum, m.claimed);
  for (size_t i = 0; i < m.segments.size(); ++i) {
    const SegmentInfo& s = m.segments[i];
    out += fmt::format("{}{}:{}:{}", i ? "," : "", s.epoch, s.start, s.leader);
  }
  out += "\n";
  return out;
}

Result<QueueMeta> DecodeQueueMeta(std::string_view text) {
  QueueMeta m;
  Status st = ForEachLine(text, [&](std::string_view k, std::string_view v) -> Status {
    if (k == "incarnation") return Number(k, v, &m.incarnation, 16);
    if (k == "ack_quorum") return Number(k, v, &m.ack_quorum);
    if (k == "claimed") return Number(k, v, &m.claimed);
    if (k == "replicas") {
      for (std::string_view p : Split(v, ',')) {
        int id = 0;
        SAKER_RETURN_IF_ERROR(Number(k, p, &id));
        m.replicas.push_back(id);
      }
      return Status::OK();
    }
    if (k == "segments") {
      for (std::string_view p : Split(v, ',')) {
        std::vector<std::string_view> f = Split(p, ':');
        if (f.size() != 3) return Status::Corruption("bad segment \"" + std::string(p) + "\"");
        SegmentInfo s;
        SAKER_RETURN_IF_ERROR(Number(k, f[0], &s.epoch));
        SAKER_RETURN_IF_ERROR(Number(k, f[1], &s.start));
        SAKER_RETURN_IF_ERROR(Number(k, f[2], &s.leader));
        m.segments.push_back(s);
      }
      return Status::OK();
    }
    return Status::OK();
  });
  if (!st.ok()) return st;
  if (m.incarnation == 0 || m.replicas.empty()) {
    return Status::Corruption("queue data in ZooKeeper lacks its incarnation or replicas");
  }
  return m;
}

std::string EncodeNodeInfo(const NodeInfo& n) {
  return fmt::format("id={}\nhost={}\nreplication={}\nmemcache={}\nthrift={}\ntext={}\nadmin={}\n",
                     n.id, n.host, n.replication, n.memcache, n.thrift, n.text, n.admin);
}

Result<NodeInfo> DecodeNodeInfo(std::string_view text) {
  NodeInfo n;
  Status st = ForEachLine(text, [&](std::string_view k, std::string_view v) -> Status {
    if (k == "id") return Number(k, v, &n.id);
    if (k == "host") {
      n.host = std::string(v);
      return Status::OK();
    }
    if (k == "replication") return Number(k, v, &n.replication);
    if (k == "memcache") return Number(k, v, &n.memcache);
    if (k == "thrift") return Number(k, v, &n.thrift);
    if (k == "text") return Number(k, v, &n.text);
    if (k == "admin") return Number(k, v, &n.admin);
    return Status::OK();
  });
  if (!st.ok()) return st;
  if (n.host.empty()) return Status::Corruption("node data in ZooKeeper lacks its host");
  return n;
}

uint64_t CutPoint(const std::vector<SegmentInfo>& segments, uint64_t last_epoch) {
  for (const SegmentInfo& s : segments) {
    if (s.epoch > last_epoch) return s.start;
  }
  return UINT64_MAX;
}

uint64_t QuorumEnd(std::vector<uint64_t> durable_ends, uint32_t quorum) {
  if (quorum == 0 || durable_ends.size() < quorum) return 0;
  std::nth_element(durable_ends.begin(), durable_ends.begin() + (quorum - 1), durable_ends.end(),
                   std::greater<>());
  return durable_ends[quorum - 1];
}

uint32_t AckQuorum(uint32_t replicas, uint32_t configured) {
  if (configured > 0) return std::min(configured, replicas);
  return replicas / 2 + 1;
}

uint32_t FenceCoverage(uint32_t replicas, uint32_t ack_quorum) { return replicas - ack_quorum + 1; }

std::vector<int> Place(std::string_view queue, int self, std::vector<int> live, uint32_t replicas) {
  std::sort(live.begin(), live.end());
  live.erase(std::remove(live.begin(), live.end(), self), live.end());
  std::vector<int> set{self};
  if (live.empty()) return set;
  const size_t start = std::hash<std::string_view>{}(queue) % live.size();
  for (size_t i = 0; i < live.size() && set.size() < replicas; ++i) {
    set.push_back(live[(start + i) % live.size()]);
  }
  return set;
}

}  // namespace saker::replication

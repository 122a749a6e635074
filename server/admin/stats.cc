// Renderings of the server's statistics. Kestrel's names are a contract with monitoring
// scripts (Kestrel's guide, "Server stats"; README.md lists them); the Prometheus names follow its
// naming rules (saker_ prefix, _total counters, seconds).
#include "server/admin/stats.h"

#include <fmt/format.h>

#include <algorithm>

#include "server/admin/cluster_stats.h"
#include "server/admin/escape.h"

namespace saker::admin {
namespace {

// Kestrel showed a fan-out child as its own queue "parent+child".
std::string KestrelName(const queue::QueueStats& q, const queue::SubscriptionStats& sub) {
  return sub.name.empty() ? q.name : q.name + "+" + sub.name;
}

void Stat(std::string* out, std::string_view name, uint64_t value) {
  *out += fmt::format("STAT {} {}\r\n", name, value);
}

// Kestrel's per-queue stats of one subscription (a fan-out child is the queue "parent+child"):
// items and bytes leave out the open (leased) items, which open_transactions counts.
std::vector<std::pair<std::string, uint64_t>> QueueFields(const queue::QueueStats& q,
                                                          const queue::SubscriptionStats& sub) {
  return {{"items", sub.items},
          {"bytes", sub.bytes},
          {"total_items", q.put},
          {"logsize", q.log_bytes},
          {"expired_items", sub.expired},
          {"mem_items", sub.items},
          {"mem_bytes", sub.bytes},
          {"age", static_cast<uint64_t>(std::max<int64_t>(0, sub.oldest_age_ms))},
          {"discarded", sub.dropped},
          {"waiters", sub.waiters},
          {"open_transactions", sub.leased},
          {"transactions", sub.delivered},
          {"canceled_transactions", sub.aborted},
          {"total_flushes", sub.flushes},
          {"journal_rewrites", 0},
          {"journal_rotations", 0}};
}

// Kestrel's curr_items and bytes: the sums over every queue it would list, children included.
uint64_t TotalItems(const Snapshot& s) {
  uint64_t n = 0;
  for (const auto& q : s.queues) {
    for (const auto& sub : q.subscriptions) n += sub.items;
  }
  return n;
}

uint64_t TotalBytes(const Snapshot& s) {
  uint64_t n = 0;
  for (const auto& q : s.queues) {
    for (const auto& sub : q.subscriptions) n += sub.bytes;
  }
  return n;
}

}  // namespace

std::string KestrelStats(const Snapshot& s) {
  const ServerCounters& c = *s.counters;
  std::string out;
  Stat(&out, "uptime", static_cast<uint64_t>((s.now_wall_ms - c.start_wall_ms) / 1000));
  Stat(&out, "time", static_cast<uint64_t>(s.now_wall_ms / 1000));
  out += fmt::format("STAT version {}\r\n", SAKER_VERSION);
  Stat(&out, "curr_items", TotalItems(s));
  Stat(&out, "total_items", c.total_items);
  Stat(&out, "bytes", TotalBytes(s));
  Stat(&out, "reserved_memory_ratio", 0);
  Stat(&out, "curr_connections", c.connections.current);
  Stat(&out, "total_connections", c.connections.total);
  Stat(&out, "cmd_get", c.cmd_get);
  Stat(&out, "cmd_set", c.cmd_set);
  Stat(&out, "cmd_peek", c.cmd_peek);
  Stat(&out, "get_hits", c.get_hits);
  Stat(&out, "get_misses", c.get_misses);
  Stat(&out, "bytes_read", c.connections.bytes_read);
  Stat(&out, "bytes_written", c.connections.bytes_written);
  Stat(&out, "queue_creates", c.queue_creates);
  Stat(&out, "queue_deletes", c.queue_deletes);
  Stat(&out, "queue_expires", 0);
  for (const auto& q : s.queues) {
    for (const auto& sub : q.subscriptions) {
      std::string name = KestrelName(q, sub);
      for (const auto& [field, value] : QueueFields(q, sub)) {
        out += fmt::format("STAT queue_{}_{} {}\r\n", name, field, value);
      }
    }
    if (q.subscriptions.size() > 1) {
      std::string children;
      for (size_t i = 1; i < q.subscriptions.size(); i++) {
        if (!children.empty()) children += ",";
        children += q.name + "+" + q.subscriptions[i].name;
      }
      out += fmt::format("STAT queue_{}_children {}\r\n", q.name, children);
    }
  }
  out += "END\r\n";
  return out;
}

std::string KestrelDumpStats(const Snapshot& s, const std::vector<std::string>& only) {
  std::string out;
  for (const auto& q : s.queues) {
    for (const auto& sub : q.subscriptions) {
      std::string name = KestrelName(q, sub);
      if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
      out += fmt::format("queue '{}' {{\r\n", name);
      for (const auto& [field, value] : QueueFields(q, sub)) {
        out += fmt::format("  {}={}\r\n", field, value);
      }
      out += "}\r\n";
    }
  }
  out += "END\r\n";
  return out;
}

std::string Prometheus(const Snapshot& s) {
  const ServerCounters& c = *s.counters;
  std::string out;
  auto gauge = [&](std::string_view name, std::string_view help, double v) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, v);
  };
  auto counter = [&](std::string_view name, std::string_view help, uint64_t v) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, v);
  };
  gauge("saker_up", "1 while the server serves; status is in saker_status.", 1);
  out += fmt::format(
      "# HELP saker_status Server status (1 for the current one).\n"
      "# TYPE saker_status gauge\nsaker_status{{status=\"{}\"}} 1\n",
      s.status);
  gauge("saker_uptime_seconds", "Seconds since start.",
        static_cast<double>(s.now_wall_ms - c.start_wall_ms) / 1000.0);
  gauge("saker_connections", "Open client connections.",
        static_cast<double>(c.connections.current));
  counter("saker_connections_total", "Accepted client connections.", c.connections.total);
  counter("saker_connections_refused_total", "Connections refused over max_connections.",
          c.connections.refused);
  counter("saker_request_timeouts_total", "Connections closed with a request past its deadline.",
          c.connections.request_timeouts);
  counter("saker_bytes_read_total", "Bytes read from clients.", c.connections.bytes_read);
  counter("saker_bytes_written_total", "Bytes written to clients.", c.connections.bytes_written);
  counter("saker_protocol_errors_total", "Malformed requests on any protocol.", c.protocol_errors);
  counter("saker_get_requests_total", "Get requests on any protocol.", c.cmd_get);
  counter("saker_put_requests_total", "Put requests on any protocol.", c.cmd_set);
  counter("saker_get_hits_total", "Gets that returned items.", c.get_hits);
  counter("saker_get_misses_total", "Gets that returned nothing.", c.get_misses);
  counter("saker_storage_fsyncs_total", "fdatasync calls by the storage thread.", s.storage.syncs);
  counter("saker_storage_bytes_written_total", "Bytes written to segments.", s.storage.bytes);
  gauge("saker_storage_fsync_seconds_avg", "Mean fdatasync time since start.",
        s.storage.syncs ? static_cast<double>(s.storage.sync_ns_total) / 1e9 /
                              static_cast<double>(s.storage.syncs)
                        : 0.0);
  out +=
      "# HELP saker_put_latency_seconds Put request to durable reply.\n"
      "# TYPE saker_put_latency_seconds histogram\n";
  c.put_latency.AppendPrometheus(&out, "saker_put_latency_seconds", "");
  out +=
      "# HELP saker_get_latency_seconds Get request to items handed out (hits).\n"
      "# TYPE saker_get_latency_seconds histogram\n";
  c.get_latency.AppendPrometheus(&out, "saker_get_latency_seconds", "");

  struct Family {
    const char* name;
    const char* type;
    const char* help;
  };
  static constexpr Family kQueueFamilies[] = {
      {"saker_queue_items", "gauge",
       "Kestrel's items: items of the default subscription neither acked nor leased."},
      {"saker_queue_bytes", "gauge", "Payload bytes of saker_queue_items."},
      {"saker_queue_open_transactions", "gauge",
       "Kestrel's open_transactions: items of the default subscription leased, not yet acked."},
      {"saker_queue_depth", "gauge",
       "Items retained for the slowest subscription, leased included (what max_items limits)."},
      {"saker_queue_depth_bytes", "gauge",
       "Payload bytes of saker_queue_depth (what max_bytes limits)."},
      {"saker_queue_put_items_total", "counter", "Items put."},
      {"saker_queue_log_bytes", "gauge", "Bytes of the queue's log segments."},
      {"saker_queue_log_direct_writes_total", "counter",
       "Writes of the queue's log that went out with O_DIRECT (direct_io_min_bytes)."},
      {"saker_queue_next_offset", "gauge", "Offset the next put gets."},
      {"saker_queue_dropped_total", "counter", "Items dropped by when_full = drop_oldest."},
      {"saker_queue_repairs_total", "counter", "Repairs that cut damaged bytes from the queue."},
      {"saker_queue_repair_cut_bytes_total", "counter", "Bytes repairs cut from the queue's logs."},
      {"saker_queue_repair_cut_items_total", "counter",
       "Item offsets repairs cut from the queue's log (holes every subscription skips)."},
      {"saker_queue_resumes_total", "counter",
       "Stops after a write error ended by a probe write or resume_queue."}};
  for (const auto& f : kQueueFamilies) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n", f.name, f.help, f.type);
    for (const auto& q : s.queues) {
      uint64_t v = 0;
      std::string_view n = f.name;
      if (n == "saker_queue_items") v = q.items;
      if (n == "saker_queue_bytes") v = q.bytes;
      if (n == "saker_queue_open_transactions") v = q.open_transactions;
      if (n == "saker_queue_depth") v = q.depth;
      if (n == "saker_queue_depth_bytes") v = q.depth_bytes;
      if (n == "saker_queue_put_items_total") v = q.put;
      if (n == "saker_queue_log_bytes") v = q.log_bytes;
      if (n == "saker_queue_log_direct_writes_total") v = q.log_direct_writes;
      if (n == "saker_queue_next_offset") v = q.next_offset;
      if (n == "saker_queue_dropped_total") v = q.dropped;
      if (n == "saker_queue_repairs_total") v = q.repairs;
      if (n == "saker_queue_repair_cut_bytes_total") v = q.repair_cut_bytes;
      if (n == "saker_queue_repair_cut_items_total") v = q.repair_cut_items;
      if (n == "saker_queue_resumes_total") v = q.resumes;
      out += fmt::format("{}{{queue=\"{}\"}} {}\n", f.name, q.name, v);
    }
  }
  // One series per queue, labelled with why it stopped ("" while it serves).
  out +=
      "# HELP saker_queue_failed 1 if the queue is stopped: reason corruption (repair it), "
      "no_space (resumes by itself) or io_error (resume it).\n# TYPE saker_queue_failed gauge\n";
  for (const auto& q : s.queues) {
    out += fmt::format("saker_queue_failed{{queue=\"{}\",reason=\"{}\"}} {}\n", q.name,
                       q.failure_kind, q.failed ? 1 : 0);
  }
  static constexpr Family kSubFamilies[] = {
      {"saker_subscription_depth", "gauge", "Items not yet acked, leased included (lag)."},
      {"saker_subscription_items", "gauge", "Items neither acked nor leased (Kestrel's items)."},
      {"saker_subscription_bytes", "gauge", "Payload bytes of saker_subscription_items."},
      {"saker_subscription_lag_seconds", "gauge", "Age of the oldest unacked item."},
      {"saker_subscription_leased", "gauge",
       "Items leased to workers, not yet acked (Kestrel's open_transactions)."},
      {"saker_subscription_waiters", "gauge", "Blocked gets."},
      {"saker_subscription_delivered_total", "counter", "Items handed out."},
      {"saker_subscription_redelivered_total", "counter", "Items handed out again."},
      {"saker_subscription_acked_total", "counter", "Items acked."},
      {"saker_subscription_aborted_total", "counter",
       "Leases aborted or expired (the items are deliverable again)."},
      {"saker_subscription_dropped_total", "counter",
       "Items skipped by when_full = drop_oldest before this subscription read them."},
      {"saker_subscription_expired_total", "counter", "Items skipped as expired."},
      {"saker_subscription_dead_lettered_total", "counter", "Items sent to the DLQ."}};
  for (const auto& f : kSubFamilies) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n", f.name, f.help, f.type);
    for (const auto& q : s.queues) {
      for (const auto& sub : q.subscriptions) {
        double v = 0;
        std::string_view n = f.name;
        if (n == "saker_subscription_depth") v = static_cast<double>(sub.depth);
        if (n == "saker_subscription_items") v = static_cast<double>(sub.items);
        if (n == "saker_subscription_bytes") v = static_cast<double>(sub.bytes);
        if (n == "saker_subscription_lag_seconds") v = static_cast<double>(sub.oldest_age_ms) / 1e3;
        if (n == "saker_subscription_leased") v = static_cast<double>(sub.leased);
        if (n == "saker_subscription_waiters") v = static_cast<double>(sub.waiters);
        if (n == "saker_subscription_delivered_total") v = static_cast<double>(sub.delivered);
        if (n == "saker_subscription_redelivered_total") v = static_cast<double>(sub.redelivered);
        if (n == "saker_subscription_acked_total") v = static_cast<double>(sub.acked);
        if (n == "saker_subscription_aborted_total") v = static_cast<double>(sub.aborted);
        if (n == "saker_subscription_dropped_total") v = static_cast<double>(sub.dropped);
        if (n == "saker_subscription_expired_total") v = static_cast<double>(sub.expired);
        if (n == "saker_subscription_dead_lettered_total")
          v = static_cast<double>(sub.dead_lettered);
        out +=
            fmt::format("{}{{queue=\"{}\",subscription=\"{}\"}} {}\n", f.name, q.name, sub.name, v);
      }
    }
  }
  if (s.cluster) AppendClusterPrometheus(*s.cluster, &out);
  return out;
}

std::string Json(const Snapshot& s) {
  const ServerCounters& c = *s.counters;
  std::string out = "{";
  out += fmt::format(
      "\"version\":\"{}\",\"status\":\"{}\",\"uptime_s\":{},\"connections\":{},"
      "\"total_connections\":{},\"cmd_get\":{},\"cmd_set\":{},\"get_hits\":{},\"get_misses\":{},"
      "\"total_items\":{},\"protocol_errors\":{},\"fsyncs\":{},"
      "\"put_latency_p99_us\":{},\"get_latency_p99_us\":{},\"queues\":[",
      SAKER_VERSION, s.status, (s.now_wall_ms - c.start_wall_ms) / 1000, c.connections.current,
      c.connections.total, c.cmd_get, c.cmd_set, c.get_hits, c.get_misses, c.total_items,
      c.protocol_errors, s.storage.syncs, c.put_latency.QuantileUs(0.99),
      c.get_latency.QuantileUs(0.99));
  for (size_t i = 0; i < s.queues.size(); i++) {
    const auto& q = s.queues[i];
    if (i) out += ",";
    out += fmt::format(
        "{{\"name\":\"{}\",\"items\":{},\"bytes\":{},\"open_transactions\":{},\"depth\":{},"
        "\"depth_bytes\":{},\"log_bytes\":{},\"first_offset\":{},\"next_offset\":{},"
        "\"durable_end\":{},\"commit_end\":{},\"epoch\":{},\"put\":{},\"dropped\":{},"
        "\"failed\":{},\"failure_kind\":\"{}\",\"failure\":\"{}\",\"repairs\":{},"
        "\"repair_cut_bytes\":{},\"repair_cut_items\":{},\"resumes\":{},\"subscriptions\":[",
        JsonEscape(q.name), q.items, q.bytes, q.open_transactions, q.depth, q.depth_bytes,
        q.log_bytes, q.first_offset, q.next_offset, q.durable_end, q.commit_end, q.epoch, q.put,
        q.dropped, q.failed ? "true" : "false", q.failure_kind, JsonEscape(q.failure), q.repairs,
        q.repair_cut_bytes, q.repair_cut_items, q.resumes);
    for (size_t k = 0; k < q.subscriptions.size(); k++) {
      const auto& sub = q.subscriptions[k];
      if (k) out += ",";
      out += fmt::format(
          "{{\"name\":\"{}\",\"depth\":{},\"items\":{},\"bytes\":{},\"ack_floor\":{},"
          "\"leased\":{},\"waiters\":{},\"oldest_age_ms\":{},\"delivered\":{},"
          "\"redelivered\":{},\"acked\":{},\"aborted\":{},\"expired\":{},\"dropped\":{},"
          "\"dead_lettered\":{}}}",
          JsonEscape(sub.name), sub.depth, sub.items, sub.bytes, sub.ack_floor, sub.leased,
          sub.waiters, sub.oldest_age_ms, sub.delivered, sub.redelivered, sub.acked, sub.aborted,
          sub.expired, sub.dropped, sub.dead_lettered);
    }
    out += "]}";
  }
  out += "]";
  if (s.cluster) out += ",\"cluster\":" + ClusterJson(*s.cluster);
  out += "}\n";
  return out;
}

std::string Degraded(const Snapshot& s) {
  std::string failed;
  for (const auto& q : s.queues) {
    if (!q.failed) continue;
    failed += fmt::format("{}{} ({})", failed.empty() ? "" : ", ", q.name, q.failure_kind);
  }
  return failed.empty() ? "" : "degraded: failed queues " + failed + "\n";
}

std::string StatusPage(const Snapshot& s, const History& history) {
  const ServerCounters& c = *s.counters;
  std::string out =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>saker</title>"
      "<meta http-equiv=\"refresh\" content=\"5\"><style>body{font-family:sans-serif;margin:2em}"
      "table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;"
      "text-align:right}th:first-child,td:first-child{text-align:left}svg{vertical-align:middle}"
      "</style></head><body>";
  out += fmt::format(
      "<h1>saker {}</h1><p>status <b>{}</b> &middot; up {} s &middot; {} connections &middot; "
      "{} puts &middot; {} gets &middot; put p99 &le; {} &micro;s</p>",
      SAKER_VERSION, s.status, (s.now_wall_ms - c.start_wall_ms) / 1000, c.connections.current,
      c.cmd_set, c.cmd_get, c.put_latency.QuantileUs(0.99));
  out +=
      "<table><tr><th>queue</th><th>subscription</th><th>depth</th><th>depth trend</th>"
      "<th>put/s</th><th>get/s</th><th>lag (s)</th><th>leased</th><th>waiters</th>"
      "<th>delivered</th><th>acked</th><th>put</th><th>log bytes</th></tr>";
  for (const auto& q : s.queues) {
    // The trend and the rates are the queue's (every subscription's gets together): shown once,
    // on its first row.
    History::Rates rates = history.RatesOf(q.name);
    std::string trend = DepthSparkline(history.Samples(q.name));
    bool first = true;
    for (const auto& sub : q.subscriptions) {
      out += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td>"
          "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
          HtmlEscape(q.name) + (q.failed ? " <b>FAILED (" + q.failure_kind + ")</b>" : ""),
          sub.name.empty() ? "(default)" : HtmlEscape(sub.name), sub.depth, first ? trend : "",
          first ? fmt::format("{:.1f}", rates.put_per_s) : "",
          first ? fmt::format("{:.1f}", rates.get_per_s) : "",
          static_cast<double>(sub.oldest_age_ms) / 1e3, sub.leased, sub.waiters, sub.delivered,
          sub.acked, q.put, q.log_bytes);
      first = false;
    }
  }
  out +=
      "</table><p>put/s and get/s: items per second over the last 6 samples; depth trend: the "
      "last 60 samples (a minute and 10 minutes at the default status_sample_ms).</p>";
  if (s.cluster) out += ClusterHtml(*s.cluster);
  out +=
      "<p><a href=\"/metrics\">/metrics</a> &middot; "
      "<a href=\"/stats.json\">/stats.json</a></p></body></html>\n";
  return out;
}

}  // namespace saker::admin

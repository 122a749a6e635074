// saker: the command-line client and admin tool (native Saker API over Thrift).
//
// Exit codes: 0 ok; 1 server or connection error; 2 usage error; 3 not found, nothing to get,
// or no lease matched.
#include <saker/client.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

using saker::client::Client;
using saker::client::Code;
using saker::client::Status;
using std::chrono::milliseconds;

constexpr int kExitOk = 0;
constexpr int kExitServer = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotFound = 3;

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

template <typename T>
std::string JsonList(const std::vector<T>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    if constexpr (std::is_same_v<T, std::string>) {
      out += Json(values[i]);
    } else {
      out += std::to_string(values[i]);
    }
  }
  return out + "]";
}

int Fail(const Status& s) {
  std::fprintf(stderr, "saker: %s\n", s.ToString().c_str());
  return s.code() == Code::kNotFound ? kExitNotFound : kExitServer;
}

// "earliest", "latest", "offset:N" or "time:UNIX_MS".
bool ParseStart(const std::string& text, saker::client::StartPosition* out) {
  using Kind = saker::client::StartPosition::Kind;
  auto number = [](const std::string& digits, int64_t* value) {
    char* end = nullptr;
    *value = std::strtoll(digits.c_str(), &end, 10);
    return !digits.empty() && *end == '\0';
  };
  int64_t value = 0;
  if (text == "earliest") {
    *out = {Kind::kEarliest, 0};
  } else if (text == "latest") {
    *out = {Kind::kLatest, 0};
  } else if (text.starts_with("offset:") && number(text.substr(7), &value)) {
    *out = {Kind::kOffset, value};
  } else if (text.starts_with("time:") && number(text.substr(5), &value)) {
    *out = {Kind::kTimestamp, value};
  } else {
    return false;
  }
  return true;
}

std::string SubscriptionJson(const saker::client::SubscriptionInfo& s) {
  return "{\"name\":" + Json(s.name) + ",\"ack_floor\":" + std::to_string(s.ack_floor) +
         ",\"lag\":" + std::to_string(s.lag) + ",\"lag_ms\":" + std::to_string(s.lag_ms) +
         ",\"leased\":" + std::to_string(s.leased) + ",\"waiters\":" + std::to_string(s.waiters) +
         ",\"delivered\":" + std::to_string(s.delivered) +
         ",\"redelivered\":" + std::to_string(s.redelivered) +
         ",\"acked\":" + std::to_string(s.acked) + ",\"expired\":" + std::to_string(s.expired) +
         ",\"dead_lettered\":" + std::to_string(s.dead_lettered) + "}";
}

void PrintSubscription(const saker::client::SubscriptionInfo& s) {
  std::printf(
      "  %-20s lag %lld (%lld ms)  ack_floor %lld  leased %lld  waiters %d  "
      "delivered %lld  redelivered %lld  acked %lld  expired %lld  dead_lettered %lld\n",
      s.name.empty() ? "(default)" : s.name.c_str(), static_cast<long long>(s.lag),
      static_cast<long long>(s.lag_ms), static_cast<long long>(s.ack_floor),
      static_cast<long long>(s.leased), s.waiters, static_cast<long long>(s.delivered),
      static_cast<long long>(s.redelivered), static_cast<long long>(s.acked),
      static_cast<long long>(s.expired), static_cast<long long>(s.dead_lettered));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"saker: command-line client for sakerd (Thrift, native Saker API)"};
  app.footer(
      "Exit codes: 0 ok, 1 server or connection error, 2 usage error, 3 not found / nothing to "
      "get / no lease matched.");
  app.require_subcommand(1);
  std::string server = "127.0.0.1:2229";
  bool json = false;
  int timeout_ms = 5000;
  app.add_option("-s,--server", server, "host:port of sakerd's thrift listener")
      ->capture_default_str();
  app.add_flag("--json", json, "one JSON object per result, for scripts");
  app.add_option("--timeout", timeout_ms, "request timeout in ms")->capture_default_str();

  std::string queue, subscription, start_text = "latest";
  std::vector<std::string> items;
  std::vector<int64_t> lease_ids;
  std::string file;
  int64_t ttl_ms = 0;
  int max_items = 1, wait_ms = 0, lease_ms = 0, delay_ms = -1;
  bool ack = false, open = false;

  auto* put = app.add_subcommand("put", "put items (arguments, or one per line of --file / stdin)");
  put->add_option("queue", queue)->required();
  put->add_option("items", items, "item data; none: read lines");
  put->add_option("-f,--file", file, "read items, one per line, from this file");
  put->add_option("--ttl", ttl_ms, "expire after this many ms (0 = never)");

  auto* get = app.add_subcommand("get", "take items (leased; --ack to remove them at once)");
  get->add_option("queue", queue)->required();
  get->add_option("--sub", subscription, "subscription (default: the queue's own)");
  get->add_option("-n,--max", max_items, "at most this many items")->capture_default_str();
  get->add_option("-w,--wait", wait_ms, "wait up to MS for the first item")->capture_default_str();
  get->add_option("--lease", lease_ms, "lease for MS (0 = the queue's lease_timeout)");
  auto* ack_flag = get->add_flag("--ack", ack, "acknowledge at once (remove)");
  get->add_flag("--open", open, "keep the lease and print lease ids (the default)")
      ->excludes(ack_flag);

  bool follow = false;
  auto* tail = app.add_subcommand("tail", "print and acknowledge items until the queue is empty");
  tail->add_option("queue", queue)->required();
  tail->add_option("--sub", subscription, "subscription (default: the queue's own)");
  tail->add_flag("-f,--follow", follow, "keep waiting for new items (until interrupted)");

  auto* ack_cmd = app.add_subcommand("ack", "acknowledge leases");
  ack_cmd->add_option("queue", queue)->required();
  ack_cmd->add_option("lease_ids", lease_ids)->required();

  auto* nack_cmd = app.add_subcommand("nack", "release leases for redelivery");
  nack_cmd->add_option("queue", queue)->required();
  nack_cmd->add_option("lease_ids", lease_ids)->required();
  nack_cmd->add_option("--delay", delay_ms, "redeliver after MS (default: the queue's delay)");

  auto* peek = app.add_subcommand("peek", "show the head item without taking it");
  peek->add_option("queue", queue)->required();

  auto* queues = app.add_subcommand("queues", "list queues with depth and lag");
  auto* stats = app.add_subcommand("stats", "details of one queue and its subscriptions");
  stats->add_option("queue", queue)->required();
  auto* create = app.add_subcommand("create", "create a queue (by first reference, as Kestrel)");
  create->add_option("queue", queue)->required();
  auto* del = app.add_subcommand("delete", "delete a queue and its items");
  del->add_option("queue", queue)->required();
  auto* flush = app.add_subcommand("flush", "drop every item of a queue (Kestrel flush_queue)");
  flush->add_option("queue", queue)->required();

  auto* sub = app.add_subcommand("sub", "subscriptions: create, seek, list, delete");
  sub->require_subcommand(1);
  auto* sub_create = sub->add_subcommand("create", "create a subscription");
  auto* sub_seek = sub->add_subcommand("seek", "move a subscription");
  for (auto* c : {sub_create, sub_seek}) {
    c->add_option("queue", queue)->required();
    c->add_option("subscription", subscription)->required();
    c->add_option("--start,--to", start_text, "earliest | latest | offset:N | time:UNIX_MS")
        ->capture_default_str();
  }
  auto* sub_list = sub->add_subcommand("list", "list a queue's subscriptions");
  sub_list->add_option("queue", queue)->required();
  auto* sub_delete = sub->add_subcommand("delete", "delete a subscription");
  sub_delete->add_option("queue", queue)->required();
  sub_delete->add_option("subscription", subscription)->required();

  auto* status = app.add_subcommand("status", "server status (Kestrel): get | set STATUS");
  status->require_subcommand(1);
  auto* status_get = status->add_subcommand("get", "print the status");
  std::string status_text;
  auto* status_set = status->add_subcommand("set", "set the status");
  status_set->add_option("status", status_text, "up | readonly | quiescent")
      ->required()
      ->check(CLI::IsMember({"up", "readonly", "quiescent"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  saker::client::Options options;
  options.servers = {server};
  options.request_timeout = milliseconds(timeout_ms);
  Client client(options);

  if (*put) {
    if (items.empty()) {
      std::ifstream in;
      if (!file.empty()) {
        in.open(file);
        if (!in) {
          std::fprintf(stderr, "saker: cannot read %s\n", file.c_str());
          return kExitUsage;
        }
      }
      std::istream& src = file.empty() ? std::cin : in;
      for (std::string line; std::getline(src, line);) items.push_back(line);
    }
    std::vector<int64_t> offsets;
    constexpr size_t kBatch = 1000;
    for (size_t i = 0; i < items.size(); i += kBatch) {
      std::vector<saker::client::PutItem> batch;
      for (size_t j = i; j < std::min(items.size(), i + kBatch); ++j) {
        batch.push_back({items[j], "", milliseconds(ttl_ms)});
      }
      auto r = client.Put(queue, batch);
      if (!r.ok()) return Fail(r.status());
      offsets.insert(offsets.end(), r->offsets.begin(), r->offsets.end());
      if (!r->refused.ok()) {
        std::fprintf(stderr, "saker: put %zu of %zu items: %s\n", offsets.size(), items.size(),
                     r->refused.ToString().c_str());
        return kExitServer;
      }
    }
    if (json) {
      std::printf("{\"accepted\":%zu,\"offsets\":%s}\n", offsets.size(), JsonList(offsets).c_str());
    } else if (offsets.empty()) {
      std::printf("put 0 items\n");
    } else {
      std::printf("put %zu items, offsets %lld..%lld\n", offsets.size(),
                  static_cast<long long>(offsets.front()), static_cast<long long>(offsets.back()));
    }
    return kExitOk;
  }

  if (*get) {
    auto r =
        client.Get(queue, subscription, max_items, milliseconds(wait_ms), milliseconds(lease_ms));
    if (!r.ok()) return Fail(r.status());
    if (ack && !r->empty()) {
      std::vector<int64_t> ids;
      for (const auto& item : r.value()) ids.push_back(item.lease_id);
      auto acked = client.Ack(queue, ids);
      if (!acked.ok()) return Fail(acked.status());
    }
    for (const auto& item : r.value()) {
      if (json) {
        std::printf(
            "{\"lease_id\":%lld,\"offset\":%lld,\"delivery_count\":%d,\"put_at_ms\":%lld,"
            "\"expires_at_ms\":%lld,\"acked\":%s,\"data\":%s}\n",
            ack ? 0LL : static_cast<long long>(item.lease_id), static_cast<long long>(item.offset),
            item.delivery_count, static_cast<long long>(item.put_at_ms),
            static_cast<long long>(item.expires_at_ms), ack ? "true" : "false",
            Json(item.data).c_str());
      } else if (ack) {
        std::printf("%s\n", item.data.c_str());
      } else {
        std::printf("%lld\t%s\n", static_cast<long long>(item.lease_id), item.data.c_str());
      }
    }
    if (r->empty()) {
      std::fprintf(stderr, "saker: %s: nothing to get\n", queue.c_str());
      return kExitNotFound;
    }
    return kExitOk;
  }

  if (*tail) {
    for (;;) {
      auto r = client.Get(queue, subscription, 100, milliseconds(follow ? 1000 : 0));
      if (!r.ok()) return Fail(r.status());
      if (r->empty()) {
        if (follow) continue;
        return kExitOk;
      }
      std::vector<int64_t> ids;
      for (const auto& item : r.value()) {
        ids.push_back(item.lease_id);
        if (json) {
          std::printf("{\"offset\":%lld,\"data\":%s}\n", static_cast<long long>(item.offset),
                      Json(item.data).c_str());
        } else {
          std::printf("%s\n", item.data.c_str());
        }
      }
      std::fflush(stdout);
      auto acked = client.Ack(queue, ids);
      if (!acked.ok()) return Fail(acked.status());
    }
  }

  if (*ack_cmd || *nack_cmd) {
    auto r = *ack_cmd ? client.Ack(queue, lease_ids)
                      : client.Nack(queue, lease_ids, milliseconds(delay_ms));
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::printf("{\"matched\":%d}\n", r.value());
    } else {
      std::printf("%s %d of %zu leases\n", *ack_cmd ? "acked" : "nacked", r.value(),
                  lease_ids.size());
    }
    return r.value() == 0 ? kExitNotFound : kExitOk;
  }

  if (*peek || *create) {
    auto r = client.Peek(queue);
    if (!r.ok()) return Fail(r.status());
    if (*create) {
      if (json) {
        std::printf("{\"queue\":%s,\"items\":%lld}\n", Json(queue).c_str(),
                    static_cast<long long>(r->items));
      } else {
        std::printf("queue %s: %lld items\n", queue.c_str(), static_cast<long long>(r->items));
      }
      return kExitOk;
    }
    if (json) {
      std::printf(
          "{\"items\":%lld,\"bytes\":%lld,\"age_ms\":%lld,\"waiters\":%d,\"open\":%d,\"head\":%s}"
          "\n",
          static_cast<long long>(r->items), static_cast<long long>(r->bytes),
          static_cast<long long>(r->age_ms), r->waiters, r->open_transactions,
          r->head_item ? Json(*r->head_item).c_str() : "null");
    } else if (r->head_item) {
      std::printf("%s\n", r->head_item->c_str());
    }
    if (!r->head_item) {
      if (!json) std::fprintf(stderr, "saker: %s: empty\n", queue.c_str());
      return kExitNotFound;
    }
    return kExitOk;
  }

  if (*queues) {
    auto names = client.ListQueues();
    if (!names.ok()) return Fail(names.status());
    if (!json)
      std::printf("%-32s %12s %12s %6s %12s %10s\n", "QUEUE", "ITEMS", "BYTES", "SUBS", "MAX_LAG",
                  "LAG_MS");
    for (const std::string& name : names.value()) {
      auto info = client.GetQueueInfo(name);
      if (!info.ok()) {
        if (info.status().code() == Code::kNotFound) continue;
        return Fail(info.status());
      }
      int64_t max_lag = 0, max_lag_ms = 0;
      for (const auto& s : info->subscriptions) {
        max_lag = std::max(max_lag, s.lag);
        max_lag_ms = std::max(max_lag_ms, s.lag_ms);
      }
      if (json) {
        std::printf(
            "{\"queue\":%s,\"items\":%lld,\"bytes\":%lld,\"subscriptions\":%zu,\"lag\":%lld,"
            "\"lag_ms\":%lld}\n",
            Json(name).c_str(), static_cast<long long>(info->items),
            static_cast<long long>(info->bytes), info->subscriptions.size(),
            static_cast<long long>(max_lag), static_cast<long long>(max_lag_ms));
      } else {
        std::printf("%-32s %12lld %12lld %6zu %12lld %10lld\n", name.c_str(),
                    static_cast<long long>(info->items), static_cast<long long>(info->bytes),
                    info->subscriptions.size(), static_cast<long long>(max_lag),
                    static_cast<long long>(max_lag_ms));
      }
    }
    return kExitOk;
  }

  if (*stats) {
    auto r = client.GetQueueInfo(queue);
    if (!r.ok()) return Fail(r.status());
    const auto& q = r.value();
    if (json) {
      std::string subs_json = "[";
      for (size_t i = 0; i < q.subscriptions.size(); ++i) {
        subs_json += (i ? "," : "") + SubscriptionJson(q.subscriptions[i]);
      }
      subs_json += "]";
      std::printf(
          "{\"queue\":%s,\"first_offset\":%lld,\"next_offset\":%lld,\"items\":%lld,\"bytes\":%lld,"
          "\"log_bytes\":%lld,\"put_items\":%lld,\"put_refused\":%lld,\"deduplicated\":%lld,"
          "\"dropped\":%lld,\"failed\":%s,\"subscriptions\":%s}\n",
          Json(q.name).c_str(), static_cast<long long>(q.first_offset),
          static_cast<long long>(q.next_offset), static_cast<long long>(q.items),
          static_cast<long long>(q.bytes), static_cast<long long>(q.log_bytes),
          static_cast<long long>(q.put_items), static_cast<long long>(q.put_refused),
          static_cast<long long>(q.deduplicated), static_cast<long long>(q.dropped),
          q.failed ? "true" : "false", subs_json.c_str());
    } else {
      std::printf(
          "queue %s%s\n  offsets %lld..%lld  items %lld  bytes %lld  log_bytes %lld\n  put %lld  "
          "refused %lld  deduplicated %lld  dropped %lld\nsubscriptions:\n",
          q.name.c_str(), q.failed ? " (FAILED)" : "", static_cast<long long>(q.first_offset),
          static_cast<long long>(q.next_offset), static_cast<long long>(q.items),
          static_cast<long long>(q.bytes), static_cast<long long>(q.log_bytes),
          static_cast<long long>(q.put_items), static_cast<long long>(q.put_refused),
          static_cast<long long>(q.deduplicated), static_cast<long long>(q.dropped));
      for (const auto& s : q.subscriptions) PrintSubscription(s);
    }
    return kExitOk;
  }

  if (*del || *flush) {
    Status s = *del ? client.DeleteQueue(queue) : client.FlushQueue(queue);
    if (!s.ok()) return Fail(s);
    if (json) {
      std::printf("{\"ok\":true}\n");
    } else {
      std::printf("%s %s\n", *del ? "deleted" : "flushed", queue.c_str());
    }
    return kExitOk;
  }

  if (*sub_create || *sub_seek) {
    saker::client::StartPosition start;
    if (!ParseStart(start_text, &start)) {
      std::fprintf(stderr, "saker: bad position '%s' (earliest, latest, offset:N, time:MS)\n",
                   start_text.c_str());
      return kExitUsage;
    }
    Status s = *sub_create ? client.CreateSubscription(queue, subscription, start)
                           : client.SeekSubscription(queue, subscription, start);
    if (!s.ok()) return Fail(s);
    if (json) {
      std::printf("{\"ok\":true}\n");
    } else {
      std::printf("%s %s+%s at %s\n", *sub_create ? "created" : "moved", queue.c_str(),
                  subscription.c_str(), start_text.c_str());
    }
    return kExitOk;
  }
  if (*sub_list) {
    auto r = client.ListSubscriptions(queue);
    if (!r.ok()) return Fail(r.status());
    for (const auto& s : r.value()) {
      if (json) {
        std::printf("%s\n", SubscriptionJson(s).c_str());
      } else {
        PrintSubscription(s);
      }
    }
    return kExitOk;
  }
  if (*sub_delete) {
    Status s = client.DeleteSubscription(queue, subscription);
    if (!s.ok()) return Fail(s);
    if (json) {
      std::printf("{\"ok\":true}\n");
    } else {
      std::printf("deleted %s+%s\n", queue.c_str(), subscription.c_str());
    }
    return kExitOk;
  }

  using saker::client::ServerStatus;
  if (*status_get) {
    auto r = client.GetServerStatus();
    if (!r.ok()) return Fail(r.status());
    const char* names[] = {"not_configured", "quiescent", "readonly", "up"};
    const char* name = names[static_cast<int>(r.value())];
    if (json) {
      std::printf("{\"status\":%s}\n", Json(name).c_str());
    } else {
      std::printf("%s\n", name);
    }
    return kExitOk;
  }
  if (*status_set) {
    ServerStatus target = status_text == "up"         ? ServerStatus::kUp
                          : status_text == "readonly" ? ServerStatus::kReadOnly
                                                      : ServerStatus::kQuiescent;
    Status s = client.SetServerStatus(target);
    if (!s.ok()) return Fail(s);
    if (json) {
      std::printf("{\"ok\":true}\n");
    } else {
      std::printf("status %s\n", status_text.c_str());
    }
    return kExitOk;
  }
  return kExitUsage;
}

// saker: the command-line client and admin tool (native Saker API over Thrift).
//
// Exit codes (cli/output.h; README.md, "Client library and CLI", has the same table): 0 ok; 1
// server, connection or output-file error; 2 usage error (bad flag or argument, unreadable input
// file, a request the server refused as invalid); 3 not found, nothing to get, no lease matched,
// or `cluster status` of a server that is not in a cluster. Every non-zero exit writes one line to
// stderr.
#include <saker/client.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "client/cli/cluster.h"
#include "client/cli/output.h"
#include "client/cli/progress.h"

namespace {

using saker::cli::ExitCode;
using saker::cli::Fail;
using saker::cli::Json;
using saker::cli::JsonList;
using saker::cli::kExitNotFound;
using saker::cli::kExitOk;
using saker::cli::kExitServer;
using saker::cli::kExitUsage;
using saker::client::Client;
using saker::client::Code;
using saker::client::Status;
using std::chrono::milliseconds;

// Millisecond and count arguments travel as Thrift i32.
constexpr int kMaxI32 = std::numeric_limits<int32_t>::max();

// A lease that outlives a crashed or killed CLI would hold its items until acked; the server's
// own default (lease_timeout_ms = 0) never expires.
constexpr int kDefaultLeaseMs = 30'000;

// "1 item", "2 items".
std::string Count(size_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// Put batches stay well under the Thrift frame limit (16,384,000 bytes on both sides).
constexpr size_t kBatchItems = 1000;
constexpr int64_t kBatchBytes = 4 << 20;
// The largest item one request can carry: the frame less room for the call's other fields.
constexpr int64_t kMaxItemBytes = 16'384'000 - 1024;
// Items per get when the queue's mean item size is unknown.
constexpr int kBatchItemsUnsized = 100;

// The regular files `paths` name, a directory standing for its regular files sorted by name
// (not recursive), with their sizes. False (after printing why) if a path cannot be read.
bool ListItemFiles(const std::vector<std::string>& paths,
                   std::vector<std::pair<std::string, int64_t>>* out) {
  namespace fs = std::filesystem;
  for (const std::string& path : paths) {
    auto fail = [&path](const std::string& why) {
      std::fprintf(stderr, "saker: cannot read %s: %s\n", path.c_str(), why.c_str());
      return false;
    };
    std::error_code ec;
    fs::file_status status = fs::status(path, ec);
    if (ec) return fail(ec.message());
    std::vector<fs::path> files;
    if (fs::is_directory(status)) {
      for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec)) files.push_back(it->path());
      }
      if (ec) return fail(ec.message());
      std::sort(files.begin(), files.end());
    } else if (fs::is_regular_file(status)) {
      files.push_back(path);
    } else {
      return fail(fs::exists(status)
                      ? "not a regular file or directory"
                      : std::make_error_code(std::errc::no_such_file_or_directory).message());
    }
    for (const fs::path& file : files) {
      auto size = fs::file_size(file, ec);
      if (ec) return fail(ec.message());
      if (static_cast<int64_t>(size) > kMaxItemBytes) {
        std::fprintf(stderr, "saker: %s: %llu bytes; an item can be at most %lld\n", file.c_str(),
                     static_cast<unsigned long long>(size), static_cast<long long>(kMaxItemBytes));
        return false;
      }
      out->emplace_back(file.string(), static_cast<int64_t>(size));
    }
  }
  return true;
}

// Each returns "" on success, else why it failed ("cannot read PATH: reason").
std::string ReadFile(const std::string& path, std::string* data) {
  std::ifstream in(path, std::ios::binary);
  if (in.is_open()) {
    data->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (!in.is_open() || in.bad()) return "cannot read " + path + ": " + std::strerror(errno);
  return "";
}

std::string WriteFile(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  bool ok = f != nullptr && std::fwrite(data.data(), 1, data.size(), f) == data.size();
  int error = errno;
  if (f != nullptr && std::fclose(f) != 0 && ok) {
    ok = false;
    error = errno;
  }
  return ok ? "" : "cannot write " + path + ": " + std::strerror(error);
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
      "Global flags (--server, --json, --timeout, --quiet, --progress) go before or after the\n"
      "command. Exit codes: 0 ok; 1 server, connection or output-file error; 2 usage error (bad\n"
      "flag or argument, unreadable input file, request refused as invalid); 3 not found, nothing\n"
      "to get, no lease matched, or not a cluster. Errors are one line on stderr:\n"
      "'saker: CODE: message'. In a cluster, commands follow NOT_LEADER to the queue's leader.");
  app.require_subcommand(1);
  // Subcommands hand the flags they do not know to their parent, so global flags work anywhere.
  app.fallthrough();
  app.set_version_flag("--version", "saker " SAKER_VERSION);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "saker: " + std::string(e.what()) + " (see saker --help)\n";
  });
  std::string server = "127.0.0.1:2229";
  bool json = false;
  int timeout_ms = 5000;
  app.add_option("-s,--server", server, "host:port of sakerd's thrift listener")
      ->capture_default_str();
  app.add_flag("--json", json, "one JSON object per result, for scripts");
  app.add_option("--timeout", timeout_ms, "request timeout in ms")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxI32));
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "no progress display and no confirmation lines");
  int progress_flag = 0;
  app.add_flag("--progress,!--no-progress", progress_flag,
               "force the progress display of put / get --out on stderr on or off (default: on "
               "when stderr is a terminal, unless --json or --quiet)");

  std::string queue, subscription, start_text = "latest";
  std::vector<std::string> items, keys;
  std::vector<int64_t> lease_ids;
  std::string file, out_dir;
  std::vector<std::string> item_files;
  int64_t ttl_ms = 0;
  int max_items = 1, wait_ms = 0, lease_ms = kDefaultLeaseMs, delay_ms = -1;
  bool ack = false, open = false;

  auto* put = app.add_subcommand(
      "put", "put items: arguments, lines of --file or stdin, or whole files (--files)");
  put->add_option("queue", queue)->required();
  auto* items_opt = put->add_option("items", items, "item data; none: read lines");
  auto* file_opt = put->add_option("-f,--file", file, "read items, one per line, from this file");
  auto* files_opt = put->add_option("--files", item_files,
                                    "each file is one item, byte for byte; a directory stands for "
                                    "its regular files, sorted by name (not recursive); at most "
                                    "16,382,976 bytes each");
  items_opt->excludes(file_opt)->excludes(files_opt);
  file_opt->excludes(files_opt);
  put->add_option("--ttl", ttl_ms, "expire after this many ms (0 = never)")
      ->check(CLI::Range(int64_t{0}, std::numeric_limits<int64_t>::max()));
  put->add_option("--key", keys,
                  "idempotency key, once per item in order: a repeat within the queue's "
                  "dedupe_window_ms stores nothing and answers the first put's offset")
      ->allow_extra_args(false);

  auto* get = app.add_subcommand(
      "get", "take items: leased (lease id and data), or --ack to remove them; --out to files");
  get->add_option("queue", queue)->required();
  get->add_option("--sub", subscription, "subscription (default: the queue's own)");
  get->add_option("-n,--max", max_items, "at most this many items")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxI32));
  get->add_option("-w,--wait", wait_ms, "wait up to MS for the first item")
      ->capture_default_str()
      ->check(CLI::Range(0, kMaxI32));
  get->add_option("--lease-ms", lease_ms,
                  "leased items come back to the queue after MS unless acked (0 = the queue's "
                  "lease_timeout_ms, which by default never expires)")
      ->capture_default_str()
      ->check(CLI::Range(0, kMaxI32));
  get->add_option("-o,--out", out_dir,
                  "write each item, byte for byte, to DIR/<offset> (20 digits, so names sort in "
                  "queue order; created if missing) and print the path instead of the data");
  auto* ack_flag = get->add_flag("--ack", ack, "acknowledge at once (remove)");
  get->add_flag("--open", open, "keep the lease and print lease ids (the default)")
      ->excludes(ack_flag);

  bool follow = false;
  auto* tail = app.add_subcommand(
      "tail", "print and acknowledge items until the queue is empty (leased 30 s until acked)");
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

  auto* queue_cmd = app.add_subcommand("queue", "a stopped queue: repair | resume");
  queue_cmd->require_subcommand(1);
  auto* repair = queue_cmd->add_subcommand(
      "repair", "salvage a damaged queue: keep every intact batch, cut and report the damage");
  repair->add_option("queue", queue)->required();
  auto* resume = queue_cmd->add_subcommand(
      "resume", "restart a queue stopped by a disk error once the cause is fixed");
  resume->add_option("queue", queue)->required();

  auto* status = app.add_subcommand("status", "server status (Kestrel): get | set STATUS");
  status->require_subcommand(1);
  auto* status_get = status->add_subcommand("get", "print the status");
  std::string status_text;
  auto* status_set = status->add_subcommand("set", "set the status");
  status_set->add_option("status", status_text, "up | readonly | quiescent")
      ->required()
      ->check(CLI::IsMember({"up", "readonly", "quiescent"}));

  auto* cluster = app.add_subcommand("cluster", "a cluster of sakerd nodes: status");
  cluster->require_subcommand(1);
  auto* cluster_status = cluster->add_subcommand(
      "status", "nodes, and per queue its leader, epoch, replicas, commit offset, followers' lag");

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

  using saker::cli::Progress;
  using saker::cli::ProgressMode;
  ProgressMode progress_mode = progress_flag > 0   ? ProgressMode::kOn
                               : progress_flag < 0 ? ProgressMode::kOff
                                                   : ProgressMode::kAuto;

  if (*put) {
    // Items come from `items` (arguments, lines) or, with --files, one per file read as needed.
    std::vector<std::pair<std::string, int64_t>> files;
    if (!item_files.empty()) {
      if (!ListItemFiles(item_files, &files)) return kExitUsage;
    } else if (items.empty()) {
      std::ifstream in;
      if (!file.empty()) {
        in.open(file);
        if (!in) {
          std::fprintf(stderr, "saker: cannot read %s: %s\n", file.c_str(), std::strerror(errno));
          return kExitUsage;
        }
      }
      std::istream& src = file.empty() ? std::cin : in;
      for (std::string line; std::getline(src, line);) items.push_back(line);
    }
    size_t total_items = files.empty() ? items.size() : files.size();
    if (!keys.empty() && keys.size() != total_items) {
      std::fprintf(stderr, "saker: --key: %s for %s (one key per item)\n",
                   Count(keys.size(), "key").c_str(), Count(total_items, "item").c_str());
      return kExitUsage;
    }
    int64_t total_bytes = 0;
    for (const auto& item : items) total_bytes += static_cast<int64_t>(item.size());
    for (const auto& [path, size] : files) total_bytes += size;

    Progress progress(progress_mode, json, quiet, "put", static_cast<int64_t>(total_items),
                      total_bytes);
    std::vector<int64_t> offsets;
    for (size_t next = 0; next < total_items;) {
      std::vector<saker::client::PutItem> batch;
      int64_t batch_bytes = 0;
      while (next < total_items && batch.size() < kBatchItems &&
             (batch.empty() || batch_bytes < kBatchBytes)) {
        std::string data;
        if (files.empty()) {
          data = std::move(items[next]);
        } else if (std::string error = ReadFile(files[next].first, &data); !error.empty()) {
          progress.Finish();
          std::fprintf(stderr, "saker: %s (after putting %zu of %zu items)\n", error.c_str(),
                       offsets.size(), total_items);
          return kExitUsage;
        }
        batch_bytes += static_cast<int64_t>(data.size());
        batch.push_back({std::move(data), keys.empty() ? "" : keys[next], milliseconds(ttl_ms)});
        ++next;
      }
      auto r = client.Put(queue, batch);
      if (!r.ok()) {
        progress.Finish();
        return Fail(r.status());
      }
      offsets.insert(offsets.end(), r->offsets.begin(), r->offsets.end());
      int64_t accepted_bytes = 0;
      for (size_t i = 0; i < r->offsets.size(); ++i) {
        accepted_bytes += static_cast<int64_t>(batch[i].data.size());
      }
      progress.Add(static_cast<int64_t>(r->offsets.size()), accepted_bytes);
      if (!r->refused.ok()) {
        progress.Finish();
        std::fprintf(stderr, "saker: %s (after putting %zu of %zu items)\n",
                     r->refused.ToString().c_str(), offsets.size(), total_items);
        return ExitCode(r->refused);
      }
    }
    progress.Finish();
    if (json) {
      std::printf("{\"accepted\":%zu,\"bytes\":%lld,\"offsets\":%s}\n", offsets.size(),
                  static_cast<long long>(total_bytes), JsonList(offsets).c_str());
    } else if (!quiet) {
      if (offsets.empty()) {
        std::printf("put 0 items\n");
      } else if (offsets.size() == 1) {
        std::printf("put 1 item, offset %lld\n", static_cast<long long>(offsets.front()));
      } else {
        std::printf("put %zu items, offsets %lld..%lld\n", offsets.size(),
                    static_cast<long long>(offsets.front()),
                    static_cast<long long>(offsets.back()));
      }
    }
    return kExitOk;
  }

  if (*get) {
    // Batches of at most kBatchItems and, by the queue's mean item size, about kBatchBytes: a
    // reply must fit one Thrift frame. The totals (for progress) are what the subscription holds.
    int64_t total_items = max_items, total_bytes = -1;
    int per_call = std::min<int>(max_items, kBatchItemsUnsized);
    if (max_items > 1 || !out_dir.empty()) {
      auto info = client.GetQueueInfo(queue);
      if (info.ok()) {
        for (const auto& sub_info : info->subscriptions) {
          if (sub_info.name != subscription) continue;
          total_items = std::min<int64_t>(max_items, sub_info.lag);
          if (sub_info.lag == info->items && total_items == info->items) total_bytes = info->bytes;
        }
        int64_t mean_bytes = info->items > 0 ? std::max<int64_t>(1, info->bytes / info->items) : 1;
        per_call = static_cast<int>(std::clamp<int64_t>(kBatchBytes / mean_bytes, 1,
                                                        std::min<int64_t>(max_items, kBatchItems)));
      }
    }
    if (!out_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(out_dir, ec);
      if (ec) {
        std::fprintf(stderr, "saker: cannot create %s: %s\n", out_dir.c_str(),
                     ec.message().c_str());
        return kExitServer;
      }
    }

    Progress progress(out_dir.empty() ? ProgressMode::kOff : progress_mode, json, quiet, "get",
                      total_items, total_bytes);
    int got = 0;
    while (got < max_items) {
      int want = std::min(per_call, max_items - got);
      auto r = client.Get(queue, subscription, want, milliseconds(got == 0 ? wait_ms : 0),
                          milliseconds(lease_ms));
      if (!r.ok()) {
        progress.Finish();
        return Fail(r.status());
      }
      int64_t batch_bytes = 0;
      std::vector<int64_t> ids;
      progress.Clear();
      for (const auto& item : r.value()) {
        std::string path;
        if (!out_dir.empty()) {
          char name[32];
          std::snprintf(name, sizeof(name), "%020lld", static_cast<long long>(item.offset));
          path = (std::filesystem::path(out_dir) / name).string();
          if (std::string error = WriteFile(path, item.data); !error.empty()) {
            progress.Finish();
            std::fprintf(stderr, "saker: %s\n", error.c_str());
            return kExitServer;
          }
        }
        const std::string& shown = out_dir.empty() ? item.data : path;
        if (json) {
          std::printf(
              "{\"lease_id\":%lld,\"offset\":%lld,\"delivery_count\":%d,\"put_at_ms\":%lld,"
              "\"expires_at_ms\":%lld,\"acked\":%s,\"%s\":%s}\n",
              ack ? 0LL : static_cast<long long>(item.lease_id),
              static_cast<long long>(item.offset), item.delivery_count,
              static_cast<long long>(item.put_at_ms), static_cast<long long>(item.expires_at_ms),
              ack ? "true" : "false", out_dir.empty() ? "data" : "file", Json(shown).c_str());
        } else if (ack) {
          std::printf("%s\n", shown.c_str());
        } else {
          std::printf("%lld\t%s\n", static_cast<long long>(item.lease_id), shown.c_str());
        }
        ids.push_back(item.lease_id);
        batch_bytes += static_cast<int64_t>(item.data.size());
      }
      // Acknowledge only what is already printed or written: a failure before this point leaves
      // the items leased, to be delivered again.
      if (ack && !ids.empty()) {
        std::fflush(stdout);
        auto acked = client.Ack(queue, ids);
        if (!acked.ok()) {
          progress.Finish();
          return Fail(acked.status());
        }
      }
      got += static_cast<int>(r->size());
      progress.Add(static_cast<int64_t>(r->size()), batch_bytes);
      if (static_cast<int>(r->size()) < want) break;
    }
    progress.Finish();
    if (got == 0) return Fail(Status(Code::kNotFound, queue + ": nothing to get"));
    return kExitOk;
  }

  if (*tail) {
    for (;;) {
      auto r = client.Get(queue, subscription, 100, milliseconds(follow ? 1000 : 0),
                          milliseconds(kDefaultLeaseMs));
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
    } else if (!quiet) {
      std::printf("%s %d of %zu leases\n", *ack_cmd ? "acked" : "nacked", r.value(),
                  lease_ids.size());
    }
    if (r.value() == 0) return Fail(Status(Code::kNotFound, queue + ": no lease matched"));
    return kExitOk;
  }

  if (*peek || *create) {
    auto r = client.Peek(queue);
    if (!r.ok()) return Fail(r.status());
    if (*create) {
      if (json) {
        std::printf("{\"queue\":%s,\"items\":%lld}\n", Json(queue).c_str(),
                    static_cast<long long>(r->items));
      } else if (!quiet) {
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
    if (!r->head_item) return Fail(Status(Code::kNotFound, queue + ": empty"));
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
    } else if (!quiet) {
      std::printf("%s %s\n", *del ? "deleted" : "flushed", queue.c_str());
    }
    return kExitOk;
  }

  if (*repair) {
    auto r = client.RepairQueue(queue);
    if (!r.ok()) return Fail(r.status());
    if (json) {
      std::string cuts;
      for (const auto& c : r->cut) {
        cuts += std::string(cuts.empty() ? "" : ",") + "{\"log\":" + Json(c.log) +
                ",\"first_offset\":" + std::to_string(c.first_offset) +
                ",\"end_offset\":" + std::to_string(c.end_offset) +
                ",\"bytes\":" + std::to_string(c.bytes) + ",\"segment\":" + Json(c.segment) +
                ",\"position\":" + std::to_string(c.position) + "}";
      }
      std::printf("{\"batches_kept\":%lld,\"cut\":[%s]}\n", static_cast<long long>(r->batches_kept),
                  cuts.c_str());
    } else if (!quiet) {
      std::printf("kept %lld batch%s\n", static_cast<long long>(r->batches_kept),
                  r->batches_kept == 1 ? "" : "es");
      for (const auto& c : r->cut) {
        std::printf("cut %s offsets [%lld, %lld): %lld bytes at %s position %lld\n", c.log.c_str(),
                    static_cast<long long>(c.first_offset), static_cast<long long>(c.end_offset),
                    static_cast<long long>(c.bytes), c.segment.c_str(),
                    static_cast<long long>(c.position));
      }
      if (r->cut.empty()) std::printf("nothing damaged\n");
    }
    return kExitOk;
  }
  if (*resume) {
    Status s = client.ResumeQueue(queue);
    if (!s.ok()) return Fail(s);
    if (json) {
      std::printf("{\"ok\":true}\n");
    } else if (!quiet) {
      std::printf("resumed %s\n", queue.c_str());
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
    } else if (!quiet) {
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
    } else if (!quiet) {
      std::printf("deleted %s+%s\n", queue.c_str(), subscription.c_str());
    }
    return kExitOk;
  }

  if (*cluster_status) return saker::cli::ClusterStatusCommand(client, json);

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
    } else if (!quiet) {
      std::printf("status %s\n", status_text.c_str());
    }
    return kExitOk;
  }
  return kExitUsage;
}

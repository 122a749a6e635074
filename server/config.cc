// Configuration: TOML (toml11) and flags into ServerConfig and the per-queue QueueConfigSet.
// toml11 throws; every exception is caught here and becomes an InvalidArgument that names the
// file, the line and the key.
#include "server/config.h"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <toml.hpp>
#include <utility>

#include "server/queue/queue_manager.h"

namespace saker {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// Node ids are 12 bits of every lease id (EngineConfig::node_id).
constexpr int64_t kMaxNodeId = 4095;

// Reads typed values out of one TOML document; errors say "<file>:<line>: <key>: <what>".
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  Status Error(const toml::value& v, std::string_view key, std::string_view what) const {
    std::string msg = file_;
    const toml::source_location loc = v.location();
    if (loc.line() > 0) msg += ":" + std::to_string(loc.line());
    msg += ": ";
    msg += key;
    msg += ": ";
    msg += what;
    return Status::InvalidArgument(msg);
  }

  Status Int(const toml::value& v, std::string_view key, int64_t lo, int64_t hi,
             int64_t* out) const {
    if (!v.is_integer()) return Error(v, key, "want an integer");
    const int64_t x = v.as_integer();
    if (x < lo || x > hi) {
      return Error(v, key, "out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    *out = x;
    return Status::OK();
  }

  template <typename T>
  Status Unsigned(const toml::value& v, std::string_view key, T* out, int64_t lo = 0) const {
    int64_t x = 0;
    constexpr int64_t hi = std::numeric_limits<T>::max() > static_cast<uint64_t>(kInt64Max)
                               ? kInt64Max
                               : static_cast<int64_t>(std::numeric_limits<T>::max());
    SAKER_RETURN_IF_ERROR(Int(v, key, lo, hi, &x));
    *out = static_cast<T>(x);
    return Status::OK();
  }

  // A byte count: an integer, or a string "<n>[B|KiB|MiB|GiB|TiB]".
  Status Bytes(const toml::value& v, std::string_view key, uint64_t* out) const {
    if (v.is_integer()) return Unsigned(v, key, out);
    if (!v.is_string()) return Error(v, key, "want a byte count (64MiB or an integer)");
    const std::string& s = v.as_string().str;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    std::string_view unit(end, static_cast<size_t>(s.data() + s.size() - end));
    if (ec != std::errc() || end == s.data()) return Error(v, key, "bad byte count \"" + s + "\"");
    int shift = -1;
    if (unit.empty() || unit == "B") shift = 0;
    if (unit == "KiB") shift = 10;
    if (unit == "MiB") shift = 20;
    if (unit == "GiB") shift = 30;
    if (unit == "TiB") shift = 40;
    if (shift < 0) return Error(v, key, "bad unit in \"" + s + "\": want B, KiB, MiB, GiB or TiB");
    if (n > (static_cast<uint64_t>(kInt64Max) >> shift)) return Error(v, key, "too large");
    *out = n << shift;
    return Status::OK();
  }

  Status String(const toml::value& v, std::string_view key, std::string* out) const {
    if (!v.is_string()) return Error(v, key, "want a string");
    *out = v.as_string().str;
    return Status::OK();
  }

  Status Sync(const toml::value& v, std::string_view key, storage::SyncPolicy* out) const {
    if (!v.is_string()) return Error(v, key, "want \"always\", \"never\" or \"interval:<ms>\"");
    Result<storage::SyncPolicy> p = storage::SyncPolicy::Parse(v.as_string().str);
    if (!p.ok()) return Error(v, key, p.status().message());
    *out = *p;
    return Status::OK();
  }

  Status Port(const toml::value& v, std::string_view key, int* out) const {
    if (v.is_string() && v.as_string().str == "off") {
      *out = kPortOff;
      return Status::OK();
    }
    if (!v.is_integer()) return Error(v, key, "want a port number (0 = any free port) or \"off\"");
    int64_t x = 0;
    SAKER_RETURN_IF_ERROR(Int(v, key, 0, 65535, &x));
    *out = static_cast<int>(x);
    return Status::OK();
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

bool ValidLogLevel(std::string_view level) {
  for (std::string_view l : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (level == l) return true;
  }
  return false;
}

Status ApplyServerKey(const Reader& r, const std::string& key, const toml::value& v,
                      ServerConfig* c) {
  if (key == "listen") return r.String(v, key, &c->listen);
  if (key == "memcache_port") return r.Port(v, key, &c->memcache_port);
  if (key == "thrift_port") return r.Port(v, key, &c->thrift_port);
  if (key == "text_port") return r.Port(v, key, &c->text_port);
  if (key == "admin_port") return r.Port(v, key, &c->admin_port);
  if (key == "data_dir") return r.String(v, key, &c->engine.data_dir);
  if (key == "node_id") {
    if (!v.is_integer() || v.as_integer() < 0 || v.as_integer() > kMaxNodeId) {
      return r.Error(v, key, "want a node id 0-4095 (unique within a cluster)");
    }
    return r.Unsigned(v, key, &c->engine.node_id);
  }
  if (key == "sync") return r.Sync(v, key, &c->engine.defaults.sync);
  if (key == "log_level") {
    SAKER_RETURN_IF_ERROR(r.String(v, key, &c->log_level));
    if (!ValidLogLevel(c->log_level)) {
      return r.Error(v, key, "want trace, debug, info, warn, error, critical or off");
    }
    return Status::OK();
  }
  if (key == "status_sample_ms") return r.Int(v, key, 10, 600'000, &c->status_sample_ms);
  if (key == "max_connections") return r.Unsigned(v, key, &c->max_connections, 1);
  if (key == "max_request_bytes") return r.Bytes(v, key, &c->limits.max_request_bytes);
  if (key == "max_item_size") return r.Bytes(v, key, &c->limits.max_item_size);
  if (key == "max_open_reads") return r.Unsigned(v, key, &c->limits.max_open_reads, 1);
  if (key == "client_timeout_ms") return r.Int(v, key, 0, kInt64Max, &c->client_timeout_ms);
  if (key == "request_timeout_ms") {
    return r.Int(v, key, 0, kInt64Max, &c->limits.request_timeout_ms);
  }
  queue::EngineConfig& e = c->engine;
  if (key == "tail_cache_bytes") return r.Bytes(v, key, &e.tail_cache_bytes);
  if (key == "syncfs_min_queues") return r.Unsigned(v, key, &e.syncfs_min_queues, 0);
  if (key == "direct_io_min_bytes") return r.Bytes(v, key, &e.direct_io_min_bytes);
  if (key == "commit_interval_ms") return r.Int(v, key, 1, 60'000, &e.commit_interval_ms);
  if (key == "tick_ms") return r.Int(v, key, 1, 10'000, &e.tick_ms);
  if (key == "expiry_sweep_ms") return r.Int(v, key, 0, 3'600'000, &e.expiry_sweep_ms);
  if (key == "read_bytes") return r.Bytes(v, key, &e.read_bytes);
  return r.Error(v, key, "unknown key in [server]");
}

Status ApplyClusterKey(const Reader& r, const std::string& key, const toml::value& v,
                       replication::ClusterOptions* c) {
  if (key == "zookeeper") return r.String(v, key, &c->zookeeper);
  if (key == "replication_port") return r.Port(v, key, &c->replication_port);
  if (key == "advertise") return r.String(v, key, &c->advertise);
  if (key == "advertise_replication_port") {
    return r.Port(v, key, &c->advertise_replication_port);
  }
  if (key == "session_timeout_ms") return r.Int(v, key, 100, 600'000, &c->session_timeout_ms);
  if (key == "append_timeout_ms") return r.Int(v, key, 10, 600'000, &c->append_timeout_ms);
  if (key == "heartbeat_ms") return r.Int(v, key, 10, 60'000, &c->heartbeat_ms);
  if (key == "peer_timeout_ms") return r.Int(v, key, 50, 600'000, &c->peer_timeout_ms);
  return r.Error(v, key, "unknown key in [cluster]");
}

Status ApplyQueueKey(const Reader& r, const std::string& key, const toml::value& v,
                     std::string_view section, queue::QueueConfig* c) {
  if (key == "max_items") return r.Unsigned(v, key, &c->max_items);
  if (key == "max_bytes") return r.Bytes(v, key, &c->max_bytes);
  if (key == "max_age_ms") return r.Int(v, key, 0, kInt64Max, &c->max_age_ms);
  if (key == "max_item_size") return r.Bytes(v, key, &c->max_item_size);
  if (key == "when_full") {
    std::string s;
    SAKER_RETURN_IF_ERROR(r.String(v, key, &s));
    if (s == "reject") {
      c->when_full = queue::WhenFull::kReject;
    } else if (s == "drop_oldest") {
      c->when_full = queue::WhenFull::kDropOldest;
    } else {
      return r.Error(v, key, "want \"reject\" or \"drop_oldest\"");
    }
    return Status::OK();
  }
  if (key == "sync") return r.Sync(v, key, &c->sync);
  if (key == "segment_bytes") {
    SAKER_RETURN_IF_ERROR(r.Bytes(v, key, &c->segment_bytes));
    if (c->segment_bytes < 4096) return r.Error(v, key, "must be at least 4KiB");
    return Status::OK();
  }
  if (key == "segment_age_ms") return r.Int(v, key, 0, kInt64Max, &c->segment_age_ms);
  if (key == "lease_timeout_ms") return r.Int(v, key, 0, kInt64Max, &c->lease_timeout_ms);
  if (key == "redelivery_delay_ms") return r.Int(v, key, 0, kInt64Max, &c->redelivery_delay_ms);
  if (key == "redelivery_backoff_ms") {
    if (!v.is_array()) return r.Error(v, key, "want an array of milliseconds");
    std::vector<int64_t> steps;
    for (const toml::value& step : v.as_array()) {
      int64_t ms = 0;
      SAKER_RETURN_IF_ERROR(r.Int(step, key, 0, kInt64Max, &ms));
      steps.push_back(ms);
    }
    c->redelivery_backoff_ms = std::move(steps);
    return Status::OK();
  }
  if (key == "max_deliveries") return r.Unsigned(v, key, &c->max_deliveries);
  if (key == "dlq" || key == "expire_to") {
    std::string* target = key == "dlq" ? &c->dlq : &c->expire_to;
    SAKER_RETURN_IF_ERROR(r.String(v, key, target));
    if (!target->empty() && !queue::IsValidName(*target)) {
      return r.Error(v, key, "not a valid queue name: 1-200 bytes of [A-Za-z0-9_.:-]");
    }
    return Status::OK();
  }
  if (key == "dedupe_window_ms") return r.Int(v, key, 0, kInt64Max, &c->dedupe_window_ms);
  if (key == "max_unacked") return r.Unsigned(v, key, &c->max_unacked);
  if (key == "retain_age_ms") return r.Int(v, key, 0, kInt64Max, &c->retain_age_ms);
  if (key == "retain_bytes") return r.Bytes(v, key, &c->retain_bytes);
  if (key == "replicas") {
    SAKER_RETURN_IF_ERROR(r.Unsigned(v, key, &c->replicas, 1));
    if (c->replicas > 5) return r.Error(v, key, "want 1-5 copies");
    return Status::OK();
  }
  if (key == "ack_quorum") return r.Unsigned(v, key, &c->ack_quorum);
  return r.Error(v, key, "unknown key in " + std::string(section));
}

Status ApplyQueueTable(const Reader& r, const toml::value& table, std::string_view section,
                       queue::QueueConfig* c) {
  for (const auto& [key, v] : table.as_table()) {
    SAKER_RETURN_IF_ERROR(ApplyQueueKey(r, key, v, section, c));
  }
  return Status::OK();
}

bool IsGlob(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

Status Validate(const ServerConfig& c) {
  const net::ConnectionLimits& l = c.limits;
  if (c.listen.empty()) return Status::InvalidArgument("listen: empty address");
  if (c.engine.data_dir.empty()) return Status::InvalidArgument("data_dir: empty path");
  auto quorum_ok = [](const queue::QueueConfig& q) { return q.ack_quorum <= q.replicas; };
  if (!quorum_ok(c.queues.defaults())) {
    return Status::InvalidArgument("[defaults] ack_quorum must not exceed replicas");
  }
  for (const QueueConfigSet::Entry& e : c.queues.entries()) {
    if (!quorum_ok(e.config)) {
      return Status::InvalidArgument("[queues.\"" + e.pattern +
                                     "\"] ack_quorum must not exceed replicas");
    }
  }
  if (l.max_item_size == 0) return Status::InvalidArgument("max_item_size: must be at least 1");
  // A memcache set needs its request line and the 2-byte trailer besides the item.
  if (l.max_request_bytes < l.max_item_size + 1024) {
    return Status::InvalidArgument("max_request_bytes (" + std::to_string(l.max_request_bytes) +
                                   ") must exceed max_item_size (" +
                                   std::to_string(l.max_item_size) + ") by 1KiB or more");
  }
  return Status::OK();
}

Result<ServerConfig> ParseToml(const toml::value& doc, const std::string& file) {
  Reader r(file);
  ServerConfig c;
  c.config_file = file;
  if (!doc.is_table()) return Status::InvalidArgument(file + ": not a TOML table");
  const toml::table& top = doc.as_table();
  for (const auto& [key, v] : top) {
    if (key != "server" && key != "cluster" && key != "defaults" && key != "queues") {
      return r.Error(v, key,
                     "unknown section (want [server], [cluster], [defaults], [queues.\"NAME\"])");
    }
    if (!v.is_table()) return r.Error(v, key, "want a table");
  }
  if (auto it = top.find("server"); it != top.end()) {
    for (const auto& [key, v] : it->second.as_table()) {
      SAKER_RETURN_IF_ERROR(ApplyServerKey(r, key, v, &c));
    }
  }
  if (auto it = top.find("cluster"); it != top.end()) {
    for (const auto& [key, v] : it->second.as_table()) {
      SAKER_RETURN_IF_ERROR(ApplyClusterKey(r, key, v, &c.cluster));
    }
  }
  queue::QueueConfig defaults = c.engine.defaults;  // [server] sync is in it
  if (auto it = top.find("defaults"); it != top.end()) {
    SAKER_RETURN_IF_ERROR(ApplyQueueTable(r, it->second, "[defaults]", &defaults));
  }
  std::vector<std::pair<const toml::value*, QueueConfigSet::Entry>> entries;
  if (auto it = top.find("queues"); it != top.end()) {
    for (const auto& [pattern, v] : it->second.as_table()) {
      if (!v.is_table()) return r.Error(v, pattern, "want a table of queue options");
      QueueConfigSet::Entry e;
      e.pattern = pattern;
      e.exact = !IsGlob(pattern);
      if (e.exact && !queue::IsValidName(pattern)) {
        return r.Error(v, pattern,
                       "not a queue name (1-200 bytes of [A-Za-z0-9_.:-]) nor a glob (*?[)");
      }
      e.config = defaults;
      SAKER_RETURN_IF_ERROR(ApplyQueueTable(r, v, "[queues.\"" + pattern + "\"]", &e.config));
      entries.emplace_back(&v, std::move(e));
    }
  }
  // toml11 keeps tables unordered: restore file order (it decides which glob is first).
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const toml::source_location la = a.first->location(), lb = b.first->location();
    return std::pair(la.line(), la.column()) < std::pair(lb.line(), lb.column());
  });
  std::vector<QueueConfigSet::Entry> ordered;
  ordered.reserve(entries.size());
  for (auto& [v, e] : entries) ordered.push_back(std::move(e));
  c.SetQueues(QueueConfigSet(std::move(defaults), std::move(ordered)));
  SAKER_RETURN_IF_ERROR(Validate(c));
  return c;
}

// The value of a flag: "--name=value" or "--name value".
struct FlagValue {
  std::string_view name;
  std::string_view value;
  bool has_value = false;
};

Result<int> ParsePortFlag(std::string_view flag, std::string_view value) {
  if (value == "off") return kPortOff;
  int port = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
  if (ec != std::errc() || end != value.data() + value.size() || port < 0 || port > 65535) {
    return Status::InvalidArgument("--" + std::string(flag) +
                                   ": want a port 0-65535 (0 = any free port) or \"off\", got \"" +
                                   std::string(value) + "\"");
  }
  return port;
}

}  // namespace

QueueConfigSet::QueueConfigSet(queue::QueueConfig defaults, std::vector<Entry> entries)
    : defaults_(std::move(defaults)) {
  for (Entry& e : entries) {
    if (e.exact) entries_.push_back(std::move(e));
  }
  for (Entry& e : entries) {
    if (!e.exact && !e.pattern.empty()) entries_.push_back(std::move(e));
  }
}

const queue::QueueConfig& QueueConfigSet::Resolve(std::string_view queue) const {
  for (const Entry& e : entries_) {
    if (e.exact) {
      if (e.pattern == queue) return e.config;
      continue;
    }
    if (fnmatch(e.pattern.c_str(), std::string(queue).c_str(), 0) == 0) return e.config;
  }
  return defaults_;
}

std::function<queue::QueueConfig(std::string_view)> QueueConfigSet::Resolver() const {
  auto set = std::make_shared<const QueueConfigSet>(*this);
  return [set](std::string_view queue) { return set->Resolve(queue); };
}

void ServerConfig::SetQueues(QueueConfigSet set) {
  queues = std::move(set);
  engine.defaults = queues.defaults();
  engine.config_for = queues.Resolver();
}

Result<ServerConfig> ParseConfig(std::string_view toml_text, std::string_view file_name) {
  const std::string file(file_name);
  try {
    std::istringstream in{std::string(toml_text)};
    const toml::value doc = toml::parse(in, file);
    return ParseToml(doc, file);
  } catch (const std::exception& e) {
    // toml11's syntax errors already name the file and show the line.
    return Status::InvalidArgument(e.what());
  }
}

Result<ServerConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read config file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IOError("cannot read config file " + path);
  return ParseConfig(text.str(), path);
}

Result<CommandLine> ParseCommandLine(int argc, const char* const* argv) {
  static constexpr std::string_view kWithValue[] = {"config",      "data-dir",
                                                    "listen",      "memcache-port",
                                                    "thrift-port", "text-port",
                                                    "admin-port",  "sync",
                                                    "log-level",   "node-id",
                                                    "zookeeper",   "replication-port",
                                                    "advertise",   "advertise-replication-port"};
  CommandLine cl;
  std::vector<FlagValue> flags;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--")) {
      return Status::InvalidArgument("unexpected argument \"" + std::string(arg) +
                                     "\" (see --help)");
    }
    FlagValue f;
    f.name = arg.substr(2);
    if (size_t eq = f.name.find('='); eq != std::string_view::npos) {
      f.value = f.name.substr(eq + 1);
      f.name = f.name.substr(0, eq);
      f.has_value = true;
    }
    if (f.name == "help" || f.name == "version") {
      if (f.has_value)
        return Status::InvalidArgument("--" + std::string(f.name) + " takes no value");
      (f.name == "help" ? cl.help : cl.version) = true;
      continue;
    }
    bool known = false;
    for (std::string_view k : kWithValue) known = known || k == f.name;
    if (!known) {
      return Status::InvalidArgument("unknown flag --" + std::string(f.name) + " (see --help)");
    }
    if (!f.has_value) {
      if (i + 1 >= argc)
        return Status::InvalidArgument("--" + std::string(f.name) + " needs a value");
      f.value = argv[++i];
      f.has_value = true;
    }
    flags.push_back(f);
  }
  if (cl.help || cl.version) return cl;

  // The file first, whatever the flag order: flags override it.
  for (const FlagValue& f : flags) {
    if (f.name != "config") continue;
    Result<ServerConfig> file = LoadConfigFile(std::string(f.value));
    if (!file.ok()) return file.status();
    cl.config = std::move(file).value();
  }
  ServerConfig& c = cl.config;
  for (const FlagValue& f : flags) {
    const std::string value(f.value);
    if (f.name == "data-dir") {
      if (value.empty()) return Status::InvalidArgument("--data-dir: empty path");
      c.engine.data_dir = value;
    } else if (f.name == "listen") {
      if (value.empty()) return Status::InvalidArgument("--listen: empty address");
      c.listen = value;
    } else if (f.name.ends_with("-port")) {
      Result<int> port = ParsePortFlag(f.name, f.value);
      if (!port.ok()) return port.status();
      int* target = f.name == "memcache-port"                ? &c.memcache_port
                    : f.name == "thrift-port"                ? &c.thrift_port
                    : f.name == "text-port"                  ? &c.text_port
                    : f.name == "replication-port"           ? &c.cluster.replication_port
                    : f.name == "advertise-replication-port" ? &c.cluster.advertise_replication_port
                                                             : &c.admin_port;
      *target = *port;
    } else if (f.name == "sync") {
      Result<storage::SyncPolicy> sync = storage::SyncPolicy::Parse(f.value);
      if (!sync.ok())
        return Status::InvalidArgument("--sync: " + std::string(sync.status().message()));
      // The flag is the operator's word for every queue, whatever the file says.
      queue::QueueConfig defaults = c.queues.defaults();
      defaults.sync = *sync;
      std::vector<QueueConfigSet::Entry> entries = c.queues.entries();
      for (QueueConfigSet::Entry& e : entries) e.config.sync = *sync;
      c.SetQueues(QueueConfigSet(std::move(defaults), std::move(entries)));
    } else if (f.name == "node-id") {
      uint32_t id = 0;  // from_chars refuses a sign
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), id);
      if (ec != std::errc() || end != value.data() + value.size() || value.empty() ||
          id > kMaxNodeId) {
        return Status::InvalidArgument("--node-id: want a node id 0-" + std::to_string(kMaxNodeId) +
                                       ", got \"" + value + "\"");
      }
      c.engine.node_id = id;
    } else if (f.name == "zookeeper") {
      if (value.empty()) return Status::InvalidArgument("--zookeeper: empty host list");
      c.cluster.zookeeper = value;
    } else if (f.name == "advertise") {
      if (value.empty()) return Status::InvalidArgument("--advertise: empty host");
      c.cluster.advertise = value;
    } else if (f.name == "log-level") {
      if (!ValidLogLevel(value)) {
        return Status::InvalidArgument(
            "--log-level: want trace, debug, info, warn, error, "
            "critical or off");
      }
      c.log_level = value;
    }
  }
  return cl;
}

std::string Usage() {
  return "usage: sakerd [--config FILE] [--data-dir DIR] [--listen ADDR] [--memcache-port N]\n"
         "              [--thrift-port N] [--text-port N] [--admin-port N]\n"
         "              [--sync always|interval:MS|never] [--log-level LEVEL] [--node-id N]\n"
         "              [--zookeeper HOSTS] [--replication-port N] [--advertise HOST]\n"
         "              [--help] [--version]\n"
         "\n"
         "  --config FILE        TOML configuration (packaging/saker.toml documents every key);\n"
         "                       the flags below override it\n"
         "  --data-dir DIR       data directory (default ./data)\n"
         "  --listen ADDR        address every listener binds (default 0.0.0.0)\n"
         "  --memcache-port N    Kestrel memcache protocol (default 22133)\n"
         "  --thrift-port N      Kestrel thrift + native Saker API (default 2229)\n"
         "  --text-port N        Kestrel text protocol (default 2222)\n"
         "  --admin-port N       admin HTTP: /metrics, /stats.json, /healthz (default 2223)\n"
         "                       a port of 0 picks a free port; \"off\" disables the listener\n"
         "  --sync POLICY        when puts are durable, for every queue: always (fsync before\n"
         "                       the reply, default), interval:MS, never\n"
         "  --log-level LEVEL    trace, debug, info (default), warn, error, critical, off\n"
         "  --node-id N          this node's id, 0-4095 (default 0): lease ids carry it;\n"
         "                       unique within a cluster\n"
         "  --zookeeper HOSTS    join a cluster: host:port[,host:port...][/chroot]; without it\n"
         "                       sakerd is a single node (replication/PROTOCOL.md)\n"
         "  --replication-port N replica-to-replica listener in a cluster (default 2224)\n"
         "  --advertise HOST     the host peers and clients reach this node at (default: the\n"
         "                       listen address, 127.0.0.1 for 0.0.0.0)\n"
         "  --advertise-replication-port N  the replication port peers are told (default:\n"
         "                       the bound one; a proxy in front of it)\n"
         "  --help               print this and exit\n"
         "  --version            print the version and exit\n";
}

}  // namespace saker

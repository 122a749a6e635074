// sakerd's configuration: the [server] options, the per-queue options ([defaults] and
// [queues."GLOB"]) and the command line. A TOML file (packaging/saker.toml documents every
// key) is read first, then flags override it. Pure parsing and validation: no globals, no I/O
// beyond reading the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "replication/options.h"
#include "server/common/status.h"
#include "server/net/limits.h"
#include "server/queue/queue_config.h"

namespace saker {

// Port values: a number, 0 = any free port, kPortOff = listener disabled ("off").
inline constexpr int kPortOff = -1;

// Per-queue configuration: built-in defaults, then [defaults], then the one [queues."NAME"]
// entry that matches a queue name. An entry whose name has no glob characters (`*?[`)
// matches that name exactly and wins over globs; otherwise the first glob in file order that
// matches (fnmatch) applies. Entries replace [defaults] key by key; they do not stack.
class QueueConfigSet {
 public:
  struct Entry {
    std::string pattern;
    bool exact = false;
    queue::QueueConfig config;  // [defaults] with this entry's keys applied
  };

  QueueConfigSet() = default;
  QueueConfigSet(queue::QueueConfig defaults, std::vector<Entry> entries);

  const queue::QueueConfig& defaults() const { return defaults_; }
  const std::vector<Entry>& entries() const { return entries_; }

  // The resolved configuration of `queue` (a bare queue name, no "+subscription").
  const queue::QueueConfig& Resolve(std::string_view queue) const;

  // A copyable resolver sharing this set, for EngineConfig::config_for.
  std::function<queue::QueueConfig(std::string_view)> Resolver() const;

 private:
  queue::QueueConfig defaults_;
  std::vector<Entry> entries_;  // exact names first, then globs in file order
};

// Everything sakerd is configured with. Each option has one home, the struct that uses it, and
// its default there: the server's own options below, the per-connection limits in
// net::ConnectionLimits, the queue engine's in queue::EngineConfig, the per-queue ones in
// queue::QueueConfig. Parsed once (file, then flags); the Server reads it as it is.
struct ServerConfig {
  // The file this came from ("" = none: built-in defaults and flags only). Reload re-reads it.
  std::string config_file;

  // [server]: listeners and logging.
  std::string listen = "0.0.0.0";
  int memcache_port = 22133;
  int thrift_port = 2229;
  int text_port = 2222;
  int admin_port = 2223;
  std::string log_level = "info";  // trace, debug, info, warn, error, critical, off
  // How often the status page's per-queue rates and depth trend are sampled.
  int64_t status_sample_ms = 10'000;
  uint32_t max_connections = 10000;
  // Connections that sent nothing for this long, with no reply pending, are closed (Kestrel
  // clientTimeout); 0 = never.
  int64_t client_timeout_ms = 0;
  // [server] max_request_bytes, max_item_size, max_open_reads, request_timeout_ms.
  net::ConnectionLimits limits;
  // [server] data_dir, node_id, tail_cache_bytes, syncfs_min_queues, direct_io_min_bytes,
  // commit_interval_ms, tick_ms, read_bytes. Its `defaults` and `config_for` come from
  // `queues` (SetQueues); [server] sync is the sync of `defaults` before [defaults] applies.
  queue::EngineConfig engine;

  // [cluster]: ZooKeeper, the replication listener, failure detection.
  replication::ClusterOptions cluster;

  // [defaults] and [queues."NAME"]. Set through SetQueues, which keeps engine.defaults and
  // engine.config_for in step.
  QueueConfigSet queues;
  void SetQueues(QueueConfigSet set);
};

// Parses TOML text (`file_name` is used in messages). Errors (InvalidArgument) name the file,
// the line and the key: unknown keys, wrong types, values out of range, TOML syntax.
Result<ServerConfig> ParseConfig(std::string_view toml_text, std::string_view file_name);

// Reads and parses a file (IOError if it cannot be read).
Result<ServerConfig> LoadConfigFile(const std::string& path);

// What the command line asks for.
struct CommandLine {
  ServerConfig config;
  bool help = false;     // print Usage() and exit 0
  bool version = false;  // print the version and exit 0
};

// `sakerd [--config FILE] [--data-dir DIR] [--listen ADDR] [--memcache-port N] [--thrift-port N]
// [--text-port N] [--admin-port N] [--sync always|interval:MS|never] [--log-level LEVEL]
// [--node-id N] [--zookeeper HOSTS] [--replication-port N] [--advertise HOST] [--help]
// [--version]`; `--flag=value` works too. The file (if any) is read first; flags
// override it. Ports take a number or "off". InvalidArgument names the bad flag.
Result<CommandLine> ParseCommandLine(int argc, const char* const* argv);

// The --help text.
std::string Usage();

}  // namespace saker

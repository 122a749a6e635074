// Configuration: TOML keys, glob resolution, errors that name key and line, flags over file,
// and packaging/saker.toml (the reference) parses to the built-in defaults.
#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace saker {
namespace {

Result<ServerConfig> Parse(std::string_view text) { return ParseConfig(text, "test.toml"); }

Result<CommandLine> Flags(std::vector<const char*> args) {
  args.insert(args.begin(), "sakerd");
  return ParseCommandLine(static_cast<int>(args.size()), args.data());
}

std::string RepoPath(const std::string& rel) {
  std::filesystem::path here(__FILE__);
  return (here.parent_path().parent_path().parent_path().parent_path() / rel).string();
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    path_ = (std::filesystem::temp_directory_path() /
             ("saker_config_test_" + std::to_string(::getpid()) + ".toml"))
                .string();
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ConfigTest, EmptyFileGivesDefaults) {
  Result<ServerConfig> c = Parse("");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "0.0.0.0");
  EXPECT_EQ(c->memcache_port, 22133);
  EXPECT_EQ(c->thrift_port, 2229);
  EXPECT_EQ(c->text_port, 2222);
  EXPECT_EQ(c->admin_port, 2223);
  EXPECT_EQ(c->engine.data_dir, "./data");
  EXPECT_EQ(c->engine.defaults.sync.ToString(), "always");
  EXPECT_EQ(c->limits.max_open_reads, 100u);
  EXPECT_EQ(c->limits.request_timeout_ms, 30000);
  EXPECT_EQ(c->queues.Resolve("anything"), queue::QueueConfig{});
}

TEST(ConfigTest, PackagedReferenceParsesToTheDefaults) {
  Result<ServerConfig> file = LoadConfigFile(RepoPath("packaging/saker.toml"));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  Result<ServerConfig> builtin = Parse("");
  ASSERT_TRUE(builtin.ok());
  EXPECT_EQ(file->listen, builtin->listen);
  EXPECT_EQ(file->memcache_port, builtin->memcache_port);
  EXPECT_EQ(file->thrift_port, builtin->thrift_port);
  EXPECT_EQ(file->text_port, builtin->text_port);
  EXPECT_EQ(file->admin_port, builtin->admin_port);
  EXPECT_EQ(file->engine.data_dir, builtin->engine.data_dir);
  EXPECT_EQ(file->engine.node_id, builtin->engine.node_id);
  EXPECT_EQ(file->engine.defaults.sync, builtin->engine.defaults.sync);
  EXPECT_EQ(file->log_level, builtin->log_level);
  EXPECT_EQ(file->status_sample_ms, builtin->status_sample_ms);
  EXPECT_EQ(file->max_connections, builtin->max_connections);
  EXPECT_EQ(file->limits.max_request_bytes, builtin->limits.max_request_bytes);
  EXPECT_EQ(file->limits.max_item_size, builtin->limits.max_item_size);
  EXPECT_EQ(file->limits.max_open_reads, builtin->limits.max_open_reads);
  EXPECT_EQ(file->client_timeout_ms, builtin->client_timeout_ms);
  EXPECT_EQ(file->limits.request_timeout_ms, builtin->limits.request_timeout_ms);
  EXPECT_EQ(file->engine.tail_cache_bytes, builtin->engine.tail_cache_bytes);
  EXPECT_EQ(file->engine.syncfs_min_queues, builtin->engine.syncfs_min_queues);
  EXPECT_EQ(file->engine.direct_io_min_bytes, builtin->engine.direct_io_min_bytes);
  EXPECT_EQ(file->engine.commit_interval_ms, builtin->engine.commit_interval_ms);
  EXPECT_EQ(file->engine.tick_ms, builtin->engine.tick_ms);
  EXPECT_EQ(file->engine.read_bytes, builtin->engine.read_bytes);
  EXPECT_EQ(file->queues.defaults(), queue::QueueConfig{});
  EXPECT_TRUE(file->queues.entries().empty());
}

TEST(ConfigTest, ServerKeys) {
  Result<ServerConfig> c = Parse(R"(
[server]
listen = "127.0.0.1"
memcache_port = 0
thrift_port = "off"
text_port = 4000
admin_port = 4001
data_dir = "/var/lib/saker"
sync = "interval:50"
log_level = "debug"
max_connections = 50
max_request_bytes = "2MiB"
max_item_size = 1048576
max_open_reads = 1
client_timeout_ms = 30000
request_timeout_ms = 2500
tail_cache_bytes = "1GiB"
syncfs_min_queues = 0
direct_io_min_bytes = "64KiB"
commit_interval_ms = 20
tick_ms = 5
read_bytes = "256KiB"
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "127.0.0.1");
  EXPECT_EQ(c->memcache_port, 0);
  EXPECT_EQ(c->thrift_port, kPortOff);
  EXPECT_EQ(c->text_port, 4000);
  EXPECT_EQ(c->admin_port, 4001);
  EXPECT_EQ(c->engine.data_dir, "/var/lib/saker");
  EXPECT_EQ(c->engine.defaults.sync.ToString(), "interval:50");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->max_connections, 50u);
  EXPECT_EQ(c->limits.max_request_bytes, 2u << 20);
  EXPECT_EQ(c->limits.max_item_size, 1u << 20);
  EXPECT_EQ(c->limits.max_open_reads, 1u);
  EXPECT_EQ(c->client_timeout_ms, 30000);
  EXPECT_EQ(c->limits.request_timeout_ms, 2500);
  EXPECT_EQ(c->engine.tail_cache_bytes, 1ull << 30);
  EXPECT_EQ(c->engine.syncfs_min_queues, 0u);
  EXPECT_EQ(c->engine.syncfs_min_queues, 0u);
  EXPECT_EQ(c->engine.direct_io_min_bytes, 64u << 10);
  EXPECT_EQ(c->engine.commit_interval_ms, 20);
  EXPECT_EQ(c->engine.tick_ms, 5);
  EXPECT_EQ(c->engine.read_bytes, 256u << 10);
  // [server] sync is every queue's default.
  EXPECT_EQ(c->queues.Resolve("q").sync.ToString(), "interval:50");
}

TEST(ConfigTest, QueueKeysAndMerge) {
  Result<ServerConfig> c = Parse(R"(
[defaults]
max_items = 100
lease_timeout_ms = 30000

[queues."jobs_pending"]
max_age_ms = 30000
expire_to = "jobs_ready"
when_full = "drop_oldest"
sync = "never"
redelivery_backoff_ms = [100, 1000, 10000]
max_deliveries = 5
dlq = "jobs.dead"
max_bytes = "1MiB"
max_item_size = 4096
segment_bytes = "8MiB"
redelivery_delay_ms = 10
dedupe_window_ms = 0
max_unacked = 7
retain_age_ms = 60000
retain_bytes = "1GiB"
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const queue::QueueConfig& q = c->queues.Resolve("jobs_pending");
  EXPECT_EQ(q.max_items, 100u);  // from [defaults]
  EXPECT_EQ(q.lease_timeout_ms, 30000);
  EXPECT_EQ(q.max_age_ms, 30000);
  EXPECT_EQ(q.expire_to, "jobs_ready");
  EXPECT_EQ(q.when_full, queue::WhenFull::kDropOldest);
  EXPECT_EQ(q.sync.ToString(), "never");
  EXPECT_EQ(q.redelivery_backoff_ms, (std::vector<int64_t>{100, 1000, 10000}));
  EXPECT_EQ(q.max_deliveries, 5u);
  EXPECT_EQ(q.dlq, "jobs.dead");
  EXPECT_EQ(q.max_bytes, 1u << 20);
  EXPECT_EQ(q.max_item_size, 4096u);
  EXPECT_EQ(q.segment_bytes, 8u << 20);
  EXPECT_EQ(q.redelivery_delay_ms, 10);
  EXPECT_EQ(q.dedupe_window_ms, 0);
  EXPECT_EQ(q.max_unacked, 7u);
  EXPECT_EQ(q.retain_age_ms, 60000);
  EXPECT_EQ(q.retain_bytes, 1ull << 30);
  const queue::QueueConfig& other = c->queues.Resolve("other");
  EXPECT_EQ(other.max_items, 100u);
  EXPECT_EQ(other.max_age_ms, 0);
  EXPECT_EQ(other.sync.ToString(), "always");
}

TEST(ConfigTest, ExactNameWinsThenFirstGlobInFileOrder) {
  Result<ServerConfig> c = Parse(R"(
[queues."m*"]
max_items = 1
[queues."metrics_*"]
max_items = 2
[queues."metrics_cpu"]
max_items = 3
[queues."z?"]
max_items = 4
[queues."[ab]x"]
max_items = 5
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->queues.Resolve("metrics_cpu").max_items, 3u);
  EXPECT_EQ(c->queues.Resolve("metrics_mem").max_items, 1u);  // "m*" comes first
  EXPECT_EQ(c->queues.Resolve("mail").max_items, 1u);
  EXPECT_EQ(c->queues.Resolve("zz").max_items, 4u);
  EXPECT_EQ(c->queues.Resolve("zzz").max_items, 0u);
  EXPECT_EQ(c->queues.Resolve("bx").max_items, 5u);
  EXPECT_EQ(c->queues.Resolve("cx").max_items, 0u);
  auto resolve = c->queues.Resolver();
  EXPECT_EQ(resolve("metrics_cpu").max_items, 3u);
}

TEST(ConfigTest, NodeIdAndSegmentAge) {
  Result<ServerConfig> c = Parse(R"(
[server]
node_id = 4095
[defaults]
segment_age_ms = 60000
[queues."slow"]
segment_age_ms = 0
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->engine.node_id, 4095u);
  EXPECT_EQ(c->engine.defaults.segment_age_ms, 60000);
  EXPECT_EQ(c->queues.Resolve("q").segment_age_ms, 60000);
  EXPECT_EQ(c->queues.Resolve("slow").segment_age_ms, 0);
  Result<ServerConfig> builtin = Parse("");
  ASSERT_TRUE(builtin.ok());
  EXPECT_EQ(builtin->engine.node_id, 0u);
  EXPECT_EQ(builtin->queues.defaults().segment_age_ms, 0);
}

TEST(ConfigTest, EngineConfig) {
  Result<ServerConfig> c = Parse(R"(
[server]
data_dir = "/d"
tail_cache_bytes = 1000
[defaults]
max_items = 9
[queues."a*"]
max_items = 1
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const queue::EngineConfig& e = c->engine;
  EXPECT_EQ(e.data_dir, "/d");
  EXPECT_EQ(e.tail_cache_bytes, 1000u);
  EXPECT_EQ(e.defaults.max_items, 9u);
  ASSERT_TRUE(e.config_for);
  EXPECT_EQ(e.config_for("abc").max_items, 1u);
  EXPECT_EQ(e.config_for("b").max_items, 9u);
}

// Errors name the file, the line and the key.
void ExpectError(std::string_view text, std::string_view want) {
  Result<ServerConfig> c = Parse(text);
  ASSERT_FALSE(c.ok()) << text;
  EXPECT_TRUE(c.status().IsInvalidArgument());
  EXPECT_NE(c.status().message().find(want), std::string_view::npos)
      << "message: " << c.status().message() << "\nwant: " << want;
}

TEST(ConfigTest, UnknownKeysNameKeyAndLine) {
  ExpectError("[server]\nlisten = \"x\"\nmemcache_prot = 1\n",
              "test.toml:3: memcache_prot: unknown key in [server]");
  ExpectError("[defaults]\n\nmax_itemz = 1\n", "test.toml:3: max_itemz: unknown key in [defaults]");
  ExpectError("[queues.\"a*\"]\nbogus = true\n",
              "test.toml:2: bogus: unknown key in [queues.\"a*\"]");
  ExpectError("[serverr]\nx = 1\n", "serverr: unknown section");
  ExpectError("top = 1\n", "test.toml:1: top: unknown section");
}

TEST(ConfigTest, BadValues) {
  ExpectError("[server]\nmemcache_port = 70000\n", "test.toml:2: memcache_port: out of range");
  ExpectError("[server]\nthrift_port = \"on\"\n", "thrift_port: want a port number");
  ExpectError("[server]\nsync = \"sometimes\"\n", "sync: bad sync policy");
  ExpectError("[server]\nlog_level = \"loud\"\n", "log_level: want trace");
  ExpectError("[server]\nmax_open_reads = 0\n", "max_open_reads: out of range");
  ExpectError("[server]\nrequest_timeout_ms = -1\n", "request_timeout_ms: out of range");
  ExpectError("[server]\nmax_item_size = \"16XB\"\n", "max_item_size: bad unit");
  ExpectError("[server]\nmax_item_size = \"big\"\n", "max_item_size: bad byte count");
  ExpectError("[server]\nmax_item_size = -1\n", "max_item_size: out of range");
  ExpectError("[server]\nmax_item_size = \"17MiB\"\n",
              "max_request_bytes (17825792) must exceed max_item_size");
  ExpectError("[server]\nlisten = 5\n", "listen: want a string");
  ExpectError("[server]\nnode_id = 4096\n", "test.toml:2: node_id: want a node id 0-4095");
  ExpectError("[server]\nnode_id = -1\n", "node_id: want a node id 0-4095");
  ExpectError("[server]\nnode_id = \"a\"\n", "node_id: want a node id 0-4095");
  ExpectError("[defaults]\nsegment_age_ms = -5\n", "segment_age_ms: out of range");
  ExpectError("[defaults]\nwhen_full = \"explode\"\n", "when_full: want \"reject\"");
  ExpectError("[defaults]\nredelivery_backoff_ms = [1, \"x\"]\n", "redelivery_backoff_ms");
  ExpectError("[defaults]\nredelivery_backoff_ms = 5\n", "want an array");
  ExpectError("[defaults]\ndlq = \"bad/name\"\n", "dlq: not a valid queue name");
  ExpectError("[defaults]\nsegment_bytes = 10\n", "segment_bytes: must be at least 4KiB");
  ExpectError("[queues.\"bad/name\"]\nmax_items = 1\n", "bad/name: not a queue name");
  ExpectError("[queues]\nq = 5\n", "q: want a table");
  ExpectError("[server]\nlisten = \n", "test.toml");  // TOML syntax error
}

TEST(ConfigTest, MissingFileIsIOError) {
  Result<ServerConfig> c = LoadConfigFile("/nonexistent/saker.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsIOError());
}

TEST(CommandLineTest, DefaultsWithoutArguments) {
  Result<CommandLine> cl = Flags({});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_FALSE(cl->help);
  EXPECT_FALSE(cl->version);
  EXPECT_EQ(cl->config.engine.data_dir, "./data");
  EXPECT_EQ(cl->config.memcache_port, 22133);
  EXPECT_EQ(cl->config.config_file, "");
}

TEST(CommandLineTest, EveryFlag) {
  Result<CommandLine> cl =
      Flags({"--data-dir", "/tmp/d", "--listen=127.0.0.1", "--memcache-port", "0", "--thrift-port",
             "off", "--text-port=5000", "--admin-port", "0", "--sync", "interval:10", "--log-level",
             "warn", "--node-id", "17"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  const ServerConfig& c = cl->config;
  EXPECT_EQ(c.engine.data_dir, "/tmp/d");
  EXPECT_EQ(c.listen, "127.0.0.1");
  EXPECT_EQ(c.memcache_port, 0);
  EXPECT_EQ(c.thrift_port, kPortOff);
  EXPECT_EQ(c.text_port, 5000);
  EXPECT_EQ(c.admin_port, 0);
  EXPECT_EQ(c.engine.defaults.sync.ToString(), "interval:10");
  EXPECT_EQ(c.queues.Resolve("q").sync.ToString(), "interval:10");
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.engine.node_id, 17u);
}

TEST(CommandLineTest, HelpAndVersion) {
  EXPECT_TRUE(Flags({"--help"})->help);
  EXPECT_TRUE(Flags({"--version"})->version);
  EXPECT_NE(Usage().find("--memcache-port"), std::string::npos);
}

TEST(CommandLineTest, FlagsOverrideTheFileWhateverTheOrder) {
  TempFile file(R"(
[server]
data_dir = "/from/file"
memcache_port = 1111
thrift_port = 2222
sync = "never"
[queues."a*"]
sync = "interval:5"
max_items = 3
)");
  Result<CommandLine> cl =
      Flags({"--memcache-port", "0", "--config", file.path().c_str(), "--sync", "always"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  const ServerConfig& c = cl->config;
  EXPECT_EQ(c.config_file, file.path());
  EXPECT_EQ(c.engine.data_dir, "/from/file");
  EXPECT_EQ(c.memcache_port, 0);
  EXPECT_EQ(c.thrift_port, 2222);
  EXPECT_EQ(c.engine.defaults.sync.ToString(), "always");
  // --sync applies to every queue, entries included; other keys stay.
  EXPECT_EQ(c.queues.Resolve("abc").sync.ToString(), "always");
  EXPECT_EQ(c.queues.Resolve("abc").max_items, 3u);
  EXPECT_EQ(c.queues.Resolve("b").sync.ToString(), "always");
}

TEST(CommandLineTest, Errors) {
  for (std::vector<const char*> args :
       std::vector<std::vector<const char*>>{{"--bogus"},
                                             {"positional"},
                                             {"--memcache-port"},
                                             {"--memcache-port", "x"},
                                             {"--memcache-port", "65536"},
                                             {"--thrift-port=-1"},
                                             {"--sync", "sometimes"},
                                             {"--log-level", "loud"},
                                             {"--node-id", "4096"},
                                             {"--node-id", "-1"},
                                             {"--node-id", "x"},
                                             {"--node-id="},
                                             {"--data-dir="},
                                             {"--help=1"},
                                             {"--config", "/nonexistent/saker.toml"}}) {
    Result<CommandLine> cl = Flags(args);
    EXPECT_FALSE(cl.ok()) << args[0];
  }
  Result<CommandLine> cl = Flags({"--memcache-prot", "1"});
  ASSERT_FALSE(cl.ok());
  EXPECT_NE(cl.status().message().find("--memcache-prot"), std::string_view::npos);
}

TEST(CommandLineTest, BadConfigFileIsReported) {
  TempFile file("[server]\nbogus = 1\n");
  Result<CommandLine> cl = Flags({"--config", file.path().c_str()});
  ASSERT_FALSE(cl.ok());
  EXPECT_NE(cl.status().message().find(file.path() + ":2: bogus"), std::string_view::npos)
      << cl.status().message();
}

}  // namespace
}  // namespace saker

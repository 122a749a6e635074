// The `saker` CLI against a real sakerd: every subcommand, --json, exit codes and messages (as
// README.md states them), --version, --key, global flags anywhere, the default lease.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

struct Output {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class CliTest : public ::testing::Test {
 protected:
  // Queue "small" takes items of at most 8 bytes, for the server's INVALID_ARGUMENT refusals.
  void SetUp() override {
    WriteAll(config_, "[queues.\"small\"]\nmax_item_size = 8\n");
    ASSERT_TRUE(server_.Start());
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "sakerd log:\n%s\n", server_.Log().c_str());
  }

  std::string Server() const { return "127.0.0.1:" + std::to_string(server_.port("thrift")); }

  // Runs `saker --server SERVER ARGS` (no --server if SERVER is "") through the shell (stdin
  // from `input`), capturing stdout and stderr; `timeout` ends it if it hangs.
  // Runs the CLI, killed after `limit` (scaled on a slow machine).
  Output SakerAt(const std::string& server, const std::string& args, const std::string& input = "",
                 std::chrono::seconds limit_unscaled = std::chrono::seconds(30)) {
    std::string in_path = dir_.Join("stdin"), err_path = dir_.Join("stderr");
    WriteAll(in_path, input);
    auto limit = std::chrono::duration_cast<std::chrono::seconds>(Scaled(limit_unscaled));
    std::string command = "timeout -k 5 " + std::to_string(limit.count()) + " " +
                          std::string(SAKER_BIN_DIR) + "/saker " +
                          (server.empty() ? "" : "--server " + server + " ") + args + " < " +
                          in_path + " 2> " + err_path;
    Output result;
    FILE* p = popen(command.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) result.out.append(buf, n);
    int status = pclose(p);
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.err = ReadAll(err_path);
    return result;
  }
  Output Saker(const std::string& args, const std::string& input = "") {
    return SakerAt(Server(), args, input);
  }

  // Starts `saker --server ... ARGS` in the background with stdout to `out_path`; -1 on failure.
  pid_t Spawn(const std::vector<std::string>& args, const std::string& out_path) {
    std::vector<std::string> argv_strings = {std::string(SAKER_BIN_DIR) + "/saker", "--server",
                                             Server()};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid = -1;
    if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&actions);
    return pid;
  }

  TempDir dir_;
  std::string config_ = dir_.Join("saker.toml");
  ServerProcess server_{dir_.Join("data"), {"--config", config_}};
};

TEST_F(CliTest, PutGetAckNack) {
  Output put = Saker("put jobs one two");
  EXPECT_EQ(put.code, 0);
  EXPECT_EQ(put.out, "put 2 items, offsets 1..2\n");
  EXPECT_EQ(Saker("put jobs", "three\nfour\n").out, "put 2 items, offsets 3..4\n");
  EXPECT_EQ(Saker("--json put jobs five").out, "{\"accepted\":1,\"bytes\":4,\"offsets\":[5]}\n");

  EXPECT_EQ(Saker("peek jobs").out, "one\n");
  Output taken = Saker("get jobs --ack");
  EXPECT_EQ(taken.code, 0);
  EXPECT_EQ(taken.out, "one\n");

  Output leased = Saker("get jobs --open --max 2");
  ASSERT_EQ(leased.code, 0);
  size_t tab = leased.out.find('\t');
  ASSERT_NE(tab, std::string::npos) << leased.out;
  std::string first_lease = leased.out.substr(0, tab);
  size_t line2 = leased.out.find('\n') + 1;
  std::string second_lease = leased.out.substr(line2, leased.out.find('\t', line2) - line2);
  EXPECT_EQ(Saker("ack jobs " + first_lease).out, "acked 1 of 1 leases\n");
  EXPECT_EQ(Saker("ack jobs " + first_lease).code, 3);
  EXPECT_EQ(Saker("nack jobs --delay 0 " + second_lease).code, 0);

  Output json = Saker("--json get jobs --ack --max 10");
  EXPECT_EQ(json.code, 0);
  EXPECT_NE(json.out.find("\"data\":\"three\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"delivery_count\":2"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"data\":\"five\""), std::string::npos) << json.out;

  EXPECT_EQ(Saker("get jobs --wait 50").code, 3);
  EXPECT_EQ(Saker("peek jobs").code, 3);
}

TEST_F(CliTest, QueuesStatsFlushDelete) {
  ASSERT_EQ(Saker("create made").code, 0);
  ASSERT_EQ(Saker("put q1 a b c").code, 0);
  Output queues = Saker("queues");
  EXPECT_EQ(queues.code, 0);
  EXPECT_NE(queues.out.find("QUEUE"), std::string::npos);
  EXPECT_NE(queues.out.find("made"), std::string::npos) << queues.out;
  EXPECT_NE(Saker("--json queues").out.find("{\"queue\":\"q1\",\"items\":3,"), std::string::npos);

  Output stats = Saker("--json stats q1");
  EXPECT_EQ(stats.code, 0);
  EXPECT_NE(stats.out.find("\"next_offset\":4"), std::string::npos) << stats.out;
  EXPECT_NE(Saker("stats q1").out.find("queue q1"), std::string::npos);

  EXPECT_EQ(Saker("flush q1").out, "flushed q1\n");
  EXPECT_NE(Saker("--json stats q1").out.find("\"items\":0"), std::string::npos);
  EXPECT_EQ(Saker("delete q1").code, 0);
  EXPECT_EQ(Saker("--json queues").out.find("\"q1\""), std::string::npos);
}

TEST_F(CliTest, Subscriptions) {
  ASSERT_EQ(Saker("put ev a b").code, 0);
  EXPECT_EQ(Saker("sub create ev audit --start earliest").code, 0);
  Output again = Saker("sub create ev audit");
  EXPECT_EQ(again.code, 2);
  EXPECT_TRUE(again.err.starts_with("saker: INVALID_ARGUMENT: ")) << again.err;
  Output list = Saker("--json sub list ev");
  EXPECT_NE(list.out.find("{\"name\":\"audit\",\"ack_floor\":1,\"lag\":2,"), std::string::npos)
      << list.out;
  EXPECT_EQ(Saker("get ev --sub audit --ack").out, "a\n");
  EXPECT_EQ(Saker("sub seek ev audit --to offset:1").code, 0);
  EXPECT_EQ(Saker("get ev --sub audit --ack").out, "a\n");
  EXPECT_EQ(Saker("sub seek ev audit --to bogus").code, 2);
  Output tail = Saker("tail ev --sub audit");
  EXPECT_EQ(tail.code, 0);
  EXPECT_EQ(tail.out, "b\n");
  ASSERT_EQ(Saker("put ev c").code, 0);
  std::string follow_path = dir_.Join("follow");
  pid_t follow = Spawn({"--json", "tail", "ev", "--sub", "audit", "--follow"}, follow_path);
  ASSERT_GT(follow, 0);
  auto lines = [&] {
    std::string text = ReadAll(follow_path);
    return std::count(text.begin(), text.end(), '\n');
  };
  EXPECT_TRUE(WaitFor([&] { return lines() == 1; }, std::chrono::seconds(10)));
  ASSERT_EQ(Saker("put ev d").code, 0);
  EXPECT_TRUE(WaitFor([&] { return lines() == 2; }, std::chrono::seconds(10)));
  kill(follow, SIGTERM);
  int status = 0;
  waitpid(follow, &status, 0);
  EXPECT_EQ(ReadAll(follow_path), "{\"offset\":3,\"data\":\"c\"}\n{\"offset\":4,\"data\":\"d\"}\n");
  Output acked = Saker("--json sub list ev");
  EXPECT_TRUE(Contains(acked.out, "{\"name\":\"audit\",\"ack_floor\":5,\"lag\":0,"))
      << "tail acks what it prints: " << acked.out;
  EXPECT_EQ(Saker("sub delete ev audit").code, 0);
  EXPECT_EQ(Saker("sub delete ev audit").code, 3);
}

// A node started without --zookeeper is no cluster: one clear line and the "not found" exit,
// with or without --json; `cluster` alone is a usage error.
TEST_F(CliTest, ClusterStatusOfASingleNodeSaysNotACluster) {
  for (const char* args : {"cluster status", "--json cluster status", "cluster status --json"}) {
    Output r = Saker(args);
    EXPECT_EQ(r.code, 3) << args;
    EXPECT_EQ(r.out, "") << args;
    EXPECT_EQ(r.err, "saker: NOT_FOUND: not a cluster: sakerd runs without --zookeeper\n") << args;
  }
  EXPECT_EQ(Saker("cluster").code, 2);
  EXPECT_TRUE(Contains(Saker("cluster --help").out, "status"));
}

TEST_F(CliTest, StatusAndUsage) {
  EXPECT_EQ(Saker("status get").out, "up\n");
  EXPECT_EQ(Saker("status set readonly").code, 0);
  EXPECT_EQ(Saker("--json status get").out, "{\"status\":\"readonly\"}\n");
  EXPECT_EQ(Saker("status set up").code, 0);
  EXPECT_EQ(Saker("status set sideways").code, 2);
  EXPECT_EQ(Saker("").code, 2);
  EXPECT_EQ(Saker("frobnicate").code, 2);
  EXPECT_EQ(Saker("get").code, 2);
  EXPECT_EQ(Saker("--help").code, 0);
  Output down = SakerAt("127.0.0.1:1", "queues");
  EXPECT_EQ(down.code, 1);
  EXPECT_TRUE(down.err.starts_with("saker: UNAVAILABLE: 127.0.0.1:1: connect")) << down.err;
  EXPECT_EQ(std::count(down.err.begin(), down.err.end(), '\n'), 1) << down.err;
}

TEST_F(CliTest, HelpListsCommandsAndExitCodes) {
  Output help = Saker("--help");
  EXPECT_EQ(help.code, 0);
  for (const char* word : {"put", "get", "tail", "ack", "nack", "peek", "queues", "stats", "create",
                           "delete", "flush", "sub", "status", "cluster", "--json", "--quiet",
                           "--progress", "Exit codes", "not a cluster"}) {
    EXPECT_TRUE(Contains(help.out, word)) << word << " missing from:\n" << help.out;
  }
  EXPECT_TRUE(Contains(Saker("put --help").out, "--files"));
  EXPECT_TRUE(Contains(Saker("get --help").out, "--out"));
  EXPECT_TRUE(Contains(Saker("sub --help").out, "seek"));
}

TEST_F(CliTest, FilesRoundTripBinaryWithProgress) {
  std::string in_dir = dir_.Join("in");
  std::filesystem::create_directory(in_dir);
  std::string every_byte;
  for (int i = 0; i < 256; ++i) every_byte.push_back(static_cast<char>(i));
  // Sorted by name: a, b, c, d. Two payloads are larger than one put batch (4 MiB) together.
  std::vector<std::string> contents = {every_byte, MakePayload(7, 3 << 20),
                                       std::string("\0\n\r\n", 4), MakePayload(8, 5 << 20)};
  for (size_t i = 0; i < contents.size(); ++i) {
    WriteAll(in_dir + "/" + std::string(1, static_cast<char>('a' + i)), contents[i]);
  }

  Output put = Saker("--progress put blobs --files " + in_dir);
  EXPECT_EQ(put.code, 0) << put.err;
  EXPECT_EQ(put.out, "put 4 items, offsets 1..4\n");
  EXPECT_TRUE(Contains(put.err, "put 4/4 items, 8.0 MiB / 8.0 MiB  [####################] 100%"))
      << put.err;
  EXPECT_TRUE(Contains(put.err, "/s  in 0:")) << put.err;

  std::string out_dir = dir_.Join("out");
  Output get = Saker("--progress get blobs --ack --max 10 --out " + out_dir);
  EXPECT_EQ(get.code, 0) << get.err;
  std::string expected_paths;
  for (int offset = 1; offset <= 4; ++offset) {
    expected_paths += out_dir + "/0000000000000000000" + std::to_string(offset) + "\n";
  }
  EXPECT_EQ(get.out, expected_paths);
  EXPECT_TRUE(Contains(get.err, "get 4/4 items, 8.0 MiB / 8.0 MiB")) << get.err;
  for (size_t i = 0; i < contents.size(); ++i) {
    std::string path = out_dir + "/0000000000000000000" + std::to_string(i + 1);
    EXPECT_TRUE(ReadAll(path) == contents[i]) << path << " differs from item " << i;
  }
  EXPECT_EQ(Saker("peek blobs").code, 3) << "--ack removed them";

  // The directory get wrote puts back in queue order (names sort by offset).
  EXPECT_EQ(Saker("--json put copy --files " + out_dir).out,
            "{\"accepted\":4,\"bytes\":8388868,\"offsets\":[1,2,3,4]}\n");
  Output copied = Saker("--json get copy --ack --max 4");
  EXPECT_TRUE(Contains(copied.out, "\"offset\":3,") &&
              Contains(copied.out, "\"data\":\"\\u0000\\n\\r\\n\""))
      << copied.out;
}

TEST_F(CliTest, ProgressOnlyOnATerminalOrWhenForced) {
  WriteAll(dir_.Join("item"), "payload");
  // The test's stderr is a file, not a terminal: no progress unless forced.
  Output plain = Saker("put q --files " + dir_.Join("item"));
  EXPECT_EQ(plain.code, 0);
  EXPECT_EQ(plain.err, "");
  Output forced = Saker("--json --progress put q --files " + dir_.Join("item"));
  EXPECT_TRUE(Contains(forced.err, "put 1/1 items, 7 B / 7 B")) << forced.err;
  EXPECT_EQ(forced.out, "{\"accepted\":1,\"bytes\":7,\"offsets\":[2]}\n");
  EXPECT_EQ(Saker("--progress --quiet put q x").err.find("put 1/1"), 0u) << "forced wins";
  EXPECT_EQ(Saker("--no-progress put q x").err, "");

  // get: progress with --out only; leased items written to files print lease ids.
  Output leased = Saker("--progress get q --max 10 --out " + dir_.Join("got"));
  EXPECT_EQ(leased.code, 0);
  EXPECT_TRUE(Contains(leased.err, "get 4/4 items")) << leased.err;
  size_t tab = leased.out.find('\t');
  ASSERT_NE(tab, std::string::npos) << leased.out;
  EXPECT_EQ(Saker("ack q " + leased.out.substr(0, tab)).out, "acked 1 of 1 leases\n");
  ASSERT_EQ(Saker("put q last").code, 0);
  Output to_stdout = Saker("--progress get q --ack");
  EXPECT_EQ(to_stdout.out, "last\n");
  EXPECT_EQ(to_stdout.err, "") << "no progress when items go to stdout";
}

TEST_F(CliTest, PutLinesFromFileAndBadInputs) {
  WriteAll(dir_.Join("lines"), "l1\nl2\nl3\n");
  EXPECT_EQ(Saker("put q -f " + dir_.Join("lines")).out, "put 3 items, offsets 1..3\n");
  EXPECT_EQ(Saker("get q --ack --max 5").out, "l1\nl2\nl3\n");

  Output missing = Saker("put q --files " + dir_.Join("nope"));
  EXPECT_EQ(missing.code, 2);
  EXPECT_EQ(missing.err,
            "saker: cannot read " + dir_.Join("nope") + ": No such file or directory\n");
  EXPECT_EQ(Saker("put q -f " + dir_.Join("nope")).code, 2);
  EXPECT_EQ(Saker("put q inline --files " + dir_.Join("lines")).code, 2);
  EXPECT_EQ(Saker("put q -f " + dir_.Join("lines") + " --files " + dir_.Join("lines")).code, 2);
  std::filesystem::resize_file(dir_.Join("lines"), 17'000'000);
  Output huge = Saker("put q --files " + dir_.Join("lines"));
  EXPECT_EQ(huge.code, 2);
  EXPECT_EQ(huge.err,
            "saker: " + dir_.Join("lines") + ": 17000000 bytes; an item can be at most 16382976\n");
  EXPECT_EQ(Saker("peek q").code, 3) << "nothing was put by the refused commands";
}

TEST_F(CliTest, ReadableErrors) {
  // Most commands create a queue by reference (Kestrel); deleting a subscription does not.
  Output unknown = Saker("sub delete nosuch audit");
  EXPECT_EQ(unknown.code, 3);
  EXPECT_EQ(unknown.err, "saker: NOT_FOUND: no queue nosuch\n");

  Output zero = Saker("get q --max 0");
  EXPECT_EQ(zero.code, 2);
  EXPECT_TRUE(Contains(zero.err, "--max: Value 0 not in range 1 to 2147483647")) << zero.err;
  EXPECT_EQ(Saker("--timeout 0 queues").code, 2);
  Output flag = Saker("queues --bogus");
  EXPECT_EQ(flag.code, 2);
  EXPECT_TRUE(Contains(flag.err, "--bogus")) << flag.err;

  Output bad_name = Saker("put 'no spaces' x");
  EXPECT_EQ(bad_name.code, 2);
  EXPECT_TRUE(bad_name.err.starts_with("saker: INVALID_ARGUMENT: ")) << bad_name.err;
}

TEST_F(CliTest, JsonOnEveryCommand) {
  std::vector<std::string> commands = {"create j",
                                       "put j a b c",
                                       "peek j",
                                       "queues",
                                       "stats j",
                                       "sub create j s",
                                       "sub seek j s --to earliest",
                                       "sub list j",
                                       "get j --sub s --ack",
                                       "tail j --sub s",
                                       "sub delete j s",
                                       "flush j",
                                       "status get",
                                       "status set up",
                                       "delete j"};
  for (const std::string& command : commands) {
    Output r = Saker("--json " + command);
    EXPECT_EQ(r.code, 0) << command << ": " << r.err;
    EXPECT_FALSE(r.out.empty()) << command;
    size_t start = 0;
    while (start < r.out.size()) {
      size_t end = r.out.find('\n', start);
      ASSERT_NE(end, std::string::npos) << command << ": " << r.out;
      std::string line = r.out.substr(start, end - start);
      EXPECT_TRUE(line.starts_with("{") && line.ends_with("}")) << command << ": " << line;
      start = end + 1;
    }
  }
  ASSERT_EQ(Saker("put k x").code, 0);
  Output leased = Saker("--json get k");
  size_t id = leased.out.find("\"lease_id\":") + 11;
  std::string lease = leased.out.substr(id, leased.out.find(',', id) - id);
  EXPECT_EQ(Saker("--json nack k --delay 0 " + lease).out, "{\"matched\":1}\n");
  EXPECT_EQ(Saker("--json ack k " + lease).out, "{\"matched\":0}\n") << "a nack ends the lease";
}

TEST_F(CliTest, QuietDropsConfirmations) {
  EXPECT_EQ(Saker("-q create z").out, "");
  EXPECT_EQ(Saker("-q put z a b").out, "");
  EXPECT_EQ(Saker("-q get z --ack").out, "a\n") << "data is not a confirmation";
  EXPECT_EQ(Saker("-q flush z").out, "");
  EXPECT_EQ(Saker("-q delete z").out, "");
}

TEST_F(CliTest, VersionPrintsTheBuildsVersion) {
  Output version = SakerAt("", "--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out, "saker " SAKER_VERSION "\n");
  EXPECT_TRUE(Contains(Saker("--help").out, "--version"));
}

TEST_F(CliTest, GlobalFlagsGoAfterTheCommandToo) {
  const std::string server = " --server " + Server();
  Output put = SakerAt("", "put g a b --json" + server);
  EXPECT_EQ(put.code, 0) << put.err;
  EXPECT_EQ(put.out, "{\"accepted\":2,\"bytes\":2,\"offsets\":[1,2]}\n");
  EXPECT_EQ(SakerAt("", "put g c -q" + server).out, "");
  EXPECT_EQ(Saker("sub create g s --start earliest --json").out, "{\"ok\":true}\n")
      << "a nested command takes them too";
  EXPECT_EQ(Saker("status get --json").out, "{\"status\":\"up\"}\n");
  EXPECT_EQ(Saker("get g --ack --timeout 2000 --max 3 --json").out.find("{\"lease_id\":0,"), 0u);
  EXPECT_EQ(SakerAt("", "queues --server 127.0.0.1:1").code, 1);
  EXPECT_EQ(Saker("queues --timeout 0").code, 2) << "checked wherever they stand";
}

TEST_F(CliTest, PutKeyDeduplicates) {
  EXPECT_EQ(Saker("put d --key order-17 first").out, "put 1 item, offset 1\n");
  Output again = Saker("put d --key order-17 retried");
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.out, "put 1 item, offset 1\n") << "the repeat answers the first put's offset";
  EXPECT_EQ(Saker("put d --key a --key b x y").out, "put 2 items, offsets 2..3\n");
  Output stats = Saker("--json stats d");
  EXPECT_TRUE(Contains(stats.out, "\"next_offset\":4,") && Contains(stats.out, "\"items\":3,") &&
              Contains(stats.out, "\"deduplicated\":1,"))
      << stats.out;
  EXPECT_EQ(Saker("get d --ack --max 5").out, "first\nx\ny\n");

  Output mismatch = Saker("put d --key only-one x y");
  EXPECT_EQ(mismatch.code, 2);
  EXPECT_EQ(mismatch.err, "saker: --key: 1 key for 2 items (one key per item)\n");
  EXPECT_EQ(Saker("peek d").code, 3) << "nothing was put";
}

TEST_F(CliTest, MessagesAndExitCodesAsTheReadmeSays) {
  EXPECT_EQ(Saker("put m one").out, "put 1 item, offset 1\n");
  EXPECT_EQ(Saker("put m two three").out, "put 2 items, offsets 2..3\n");
  EXPECT_EQ(Saker("put m", "").out, "put 0 items\n");
  ASSERT_EQ(Saker("flush m").code, 0);

  Output nothing = Saker("get m");
  EXPECT_EQ(nothing.code, 3);
  EXPECT_EQ(nothing.out, "");
  EXPECT_EQ(nothing.err, "saker: NOT_FOUND: m: nothing to get\n");
  Output empty = Saker("--json peek m");
  EXPECT_EQ(empty.code, 3);
  EXPECT_EQ(empty.err, "saker: NOT_FOUND: m: empty\n");
  Output unmatched = Saker("ack m 12345");
  EXPECT_EQ(unmatched.code, 3);
  EXPECT_EQ(unmatched.out, "acked 0 of 1 leases\n");
  EXPECT_EQ(unmatched.err, "saker: NOT_FOUND: m: no lease matched\n");
  EXPECT_EQ(Saker("nack m 12345").code, 3);

  // A put the server refuses as invalid (item 2 is over the queue's max_item_size) is a usage
  // error, 2, like every INVALID_ARGUMENT; what went in before it stays.
  Output refused = Saker("put small ok far-too-long");
  EXPECT_EQ(refused.code, 2);
  EXPECT_TRUE(refused.err.starts_with("saker: INVALID_ARGUMENT: ")) << refused.err;
  EXPECT_TRUE(refused.err.ends_with(" (after putting 1 of 2 items)\n")) << refused.err;
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;
  EXPECT_EQ(Saker("get small --ack --max 5").out, "ok\n");

  // Usage errors are one line too.
  Output usage = Saker("get m --max 0");
  EXPECT_EQ(usage.code, 2);
  EXPECT_EQ(std::count(usage.err.begin(), usage.err.end(), '\n'), 1) << usage.err;
  EXPECT_TRUE(usage.err.starts_with("saker: --max: ")) << usage.err;
}

TEST_F(CliTest, LeasedGetComesBackAfterItsLease) {
  ASSERT_EQ(Saker("put l short").code, 0);
  Output leased = Saker("get l --lease-ms 3000");
  ASSERT_EQ(leased.code, 0) << leased.err;
  EXPECT_TRUE(leased.out.ends_with("\tshort\n")) << leased.out;
  EXPECT_EQ(Saker("get l --ack").code, 3) << "leased, so not deliverable";
  Output back = Saker("get l --ack --wait 10000");
  EXPECT_EQ(back.out, "short\n") << back.err;
}

TEST_F(CliTest, LeasedGetHasAFiniteDefaultLease) {
  EXPECT_TRUE(Contains(Saker("get --help").out, "--lease-ms INT:INT in [0 - 2147483647]=30000"))
      << Saker("get --help").out;
  ASSERT_EQ(Saker("put l forgotten").code, 0);
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(Saker("get l").code, 0) << "taken with the default lease, never acked";
  // A blocking get is woken when the lease runs out and the item is deliverable again.
  // The CLI's own limit must outlast the 30 s lease.
  Output back =
      SakerAt(Server(), "--timeout 60000 get l --ack --wait 60000", "", std::chrono::seconds(90));
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(back.out, "forgotten\n") << back.err;
  EXPECT_GE(waited, std::chrono::seconds(29));
}

}  // namespace
}  // namespace saker::test

// The fault matrix of issue 11 against a real sakerd: a damaged segment (a flipped byte or a cut
// in a sealed segment, a flipped byte in the tail) stops only its queue, which answers memcache
// and Thrift with an error (never like an empty queue) and shows in /healthz until repair_queue
// salvages it: then every item not in the reported cut is delivered. Garbage after the tail is
// cut silently. A full disk (a small tmpfs as the data dir) refuses puts with "no space left on
// device" while gets go on, and once space is back the queue resumes by itself, losing nothing.
#include <gtest/gtest.h>
#include <saker/client.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <utility>

#include "tests/integration/server_process.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

namespace fs = std::filesystem;

constexpr int kItems = 40;

std::string Item(int i, size_t size = 500) {
  return "item-" + std::to_string(i) + "-" + MakePayload(i, size);
}

// "STORED", "SERVER_ERROR ..." and so on: the first reply line to a memcache set.
std::string Set(RawClient& c, const std::string& queue, const std::string& item) {
  c.Send("set " + queue + " 0 0 " + std::to_string(item.size()) + "\r\n" + item + "\r\n");
  return c.ReadUntil("\r\n");
}

// The reply to a memcache get: the item, "" for END, or the error line.
std::string Get(RawClient& c, const std::string& queue, bool* error) {
  c.Send("get " + queue + "\r\n");
  std::string line = c.ReadUntil("\r\n");
  *error = !line.starts_with("VALUE") && line != "END\r\n";
  if (!line.starts_with("VALUE")) return *error ? line : "";
  size_t bytes = std::stoul(line.substr(line.rfind(' ') + 1));
  std::string item = c.ReadN(bytes + 2).substr(0, bytes);
  c.ReadUntil("END\r\n");
  return item;
}

// The status line and body of an admin GET.
std::string Http(int port, const std::string& path) {
  RawClient c(port);
  c.Send("GET " + path + " HTTP/1.0\r\nHost: x\r\n\r\n");
  std::string out;
  for (std::string part; !(part = c.ReadN(1 << 16, std::chrono::milliseconds(500))).empty();) {
    out += part;
  }
  return out;
}

// The folder of queue `name` under `data` (its QUEUE file names it) and its segments, in order.
std::vector<std::string> Segments(const std::string& data, const std::string& name) {
  for (const auto& e : fs::directory_iterator(data)) {
    std::ifstream in(e.path() / "QUEUE");
    std::string line;
    if (!std::getline(in, line) || line != "name=" + name) continue;
    std::vector<std::string> out;
    for (const auto& f : fs::directory_iterator(e.path())) {
      if (f.path().extension() == ".log") out.push_back(f.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  return {};
}

void Poke(const std::string& path, uint64_t position, char xor_with) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(position));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(position));
  f.put(static_cast<char>(c ^ xor_with));
}

class DamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.Join("saker.toml");
    std::ofstream(config_) << "[defaults]\nsegment_bytes = 4096\n";
    data_ = dir_.Join("data");
    fs::create_directories(data_);
  }
  std::vector<std::string> Args() { return {"--config", config_, "--sync", "always"}; }

  // Puts kItems items (one batch each) to "dmg" and 5 to "other", then stops the server.
  void Fill() {
    ServerProcess server(data_, Args());
    ASSERT_TRUE(server.Start());
    RawClient c(server.port("memcache"));
    for (int i = 1; i <= kItems; i++) ASSERT_EQ(Set(c, "dmg", Item(i)), "STORED\r\n");
    for (int i = 1; i <= 5; i++) ASSERT_EQ(Set(c, "other", Item(i)), "STORED\r\n");
    ASSERT_EQ(server.Stop(), 0);
  }

  // Restarts on the damaged data: what clients see, /healthz, the other queue, then a repair and
  // what survives. `damaged` says whether the queue must stop.
  void CheckDamage(bool damaged) {
    ServerProcess server(data_, Args());
    ASSERT_TRUE(server.Start());
    const int memcache = server.port("memcache");
    client::Options options;
    options.servers = {"127.0.0.1:" + std::to_string(server.port("thrift"))};
    client::Client client(options);
    std::set<std::string> delivered;
    std::string error;
    {
      RawClient c(memcache);
      for (int i = 0; i <= kItems; i++) {
        bool failed = false;
        std::string item = Get(c, "dmg", &failed);
        if (failed) {
          error = item;
          break;
        }
        if (item.empty()) break;
        delivered.insert(item);
      }
    }
    if (!damaged) {
      EXPECT_EQ(error, "") << server.Log();
      EXPECT_EQ(delivered.size(), static_cast<size_t>(kItems));
      EXPECT_NE(Http(server.port("admin"), "/healthz").find("200"), std::string::npos);
      return;
    }
    // Never like an empty queue: the memcache get that meets the damage is an error naming it.
    ASSERT_TRUE(error.starts_with("SERVER_ERROR")) << error << server.Log();
    EXPECT_NE(error.find("dmg"), std::string::npos) << error;
    auto got = client.Get("dmg", "", 1);
    EXPECT_EQ(got.status().code(), client::Code::kCorruption) << got.status().message();
    {
      RawClient c(memcache);
      EXPECT_TRUE(Set(c, "dmg", "new").starts_with("SERVER_ERROR"));
    }
    std::string health = Http(server.port("admin"), "/healthz");
    EXPECT_NE(health.find("503"), std::string::npos) << health;
    EXPECT_NE(health.find("dmg (corruption)"), std::string::npos) << health;
    EXPECT_NE(Http(server.port("admin"), "/metrics")
                  .find("saker_queue_failed{queue=\"dmg\",reason=\"corruption\"} 1"),
              std::string::npos);
    {
      RawClient c(memcache);
      for (int i = 1; i <= 5; i++) {
        bool failed = false;
        EXPECT_EQ(Get(c, "other", &failed), Item(i));
      }
    }
    auto report = client.RepairQueue("dmg");
    ASSERT_TRUE(report.ok()) << report.status().message() << server.Log();
    ASSERT_FALSE(report->cut.empty());
    std::set<int64_t> cut;
    for (const auto& c : report->cut) {
      EXPECT_EQ(c.log, "items");
      for (int64_t o = c.first_offset; o < c.end_offset; o++) cut.insert(o);
    }
    EXPECT_LT(cut.size(), static_cast<size_t>(kItems / 2));
    // The log is written by an async sink: wait for the line.
    EXPECT_TRUE(WaitFor([&] { return server.Log().find("repaired") != std::string::npos; },
                        std::chrono::seconds(5)));
    EXPECT_NE(Http(server.port("admin"), "/healthz").find("200"), std::string::npos);
    RawClient c(memcache);
    for (int i = 0; i <= kItems; i++) {
      bool failed = false;
      std::string item = Get(c, "dmg", &failed);
      ASSERT_FALSE(failed) << item << server.Log();
      if (item.empty()) break;
      delivered.insert(item);
    }
    // Item i is at offset i: every one the repair did not report cut is delivered.
    for (int i = 1; i <= kItems; i++) {
      if (cut.count(i) == 0) {
        EXPECT_EQ(delivered.count(Item(i)), 1u) << i;
      }
    }
    EXPECT_EQ(Set(c, "dmg", "after"), "STORED\r\n");
    bool failed = false;
    EXPECT_EQ(Get(c, "dmg", &failed), "after");
  }

  TempDir dir_;
  std::string config_;
  std::string data_;
};

TEST_F(DamageTest, FlippedByteInASealedSegment) {
  Fill();
  auto segs = Segments(data_, "dmg");
  ASSERT_GE(segs.size(), 3u);
  Poke(segs[1], 300, 0x55);
  CheckDamage(true);
}

TEST_F(DamageTest, CutInTheMiddleOfABatchInASealedSegment) {
  Fill();
  auto segs = Segments(data_, "dmg");
  ASSERT_GE(segs.size(), 3u);
  fs::resize_file(segs[1], fs::file_size(segs[1]) - 100);
  CheckDamage(true);
}

TEST_F(DamageTest, FlippedByteInTheTail) {
  Fill();
  auto segs = Segments(data_, "dmg");
  ASSERT_GE(segs.size(), 2u);
  Poke(segs.back(), 100, 0x55);  // in the tail's first batch; intact batches follow
  CheckDamage(true);
}

// The saker CLI on `server`: its exit code and stdout+stderr.
std::pair<int, std::string> Saker(const ServerProcess& server, const std::string& args) {
  std::string cmd = std::string(SAKER_BIN_DIR) +
                    "/saker --server 127.0.0.1:" + std::to_string(server.port("thrift")) + " " +
                    args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  return {WEXITSTATUS(pclose(p)), out};
}

TEST_F(DamageTest, TheCliSaysSoAndRepairsIt) {
  Fill();
  auto segs = Segments(data_, "dmg");
  ASSERT_GE(segs.size(), 3u);
  Poke(segs[1], 300, 0x55);
  ServerProcess server(data_, Args());
  ASSERT_TRUE(server.Start());
  // Read until the damage: the get that meets it fails loudly, never "nothing to get".
  std::pair<int, std::string> got;
  for (int i = 0; i <= kItems; i++) {
    got = Saker(server, "get dmg --ack");
    if (got.first != 0) break;
  }
  EXPECT_EQ(got.first, 1) << got.second;
  EXPECT_TRUE(got.second.starts_with("saker: CORRUPTION: ")) << got.second;
  auto resume = Saker(server, "queue resume dmg");
  EXPECT_EQ(resume.first, 1) << resume.second;  // a damaged queue is repaired, not resumed
  auto repaired = Saker(server, "queue repair dmg");
  EXPECT_EQ(repaired.first, 0) << repaired.second;
  EXPECT_TRUE(repaired.second.starts_with("kept ")) << repaired.second;
  EXPECT_NE(repaired.second.find("\ncut items offsets ["), std::string::npos) << repaired.second;
  auto again = Saker(server, "queue repair dmg");
  EXPECT_EQ(again.first, 0) << again.second;
  EXPECT_NE(again.second.find("nothing damaged\n"), std::string::npos) << again.second;
  EXPECT_EQ(Saker(server, "get dmg --ack").first, 0);
  EXPECT_EQ(Saker(server, "queue resume dmg").first, 0);  // serving: nothing to do
}

TEST_F(DamageTest, GarbageAfterTheTailIsCutSilently) {
  Fill();
  auto segs = Segments(data_, "dmg");
  ASSERT_FALSE(segs.empty());
  std::ofstream(segs.back(), std::ios::app | std::ios::binary) << std::string(300, 'g');
  CheckDamage(false);
}

// A full disk: a tmpfs of 8 MiB as the data dir, 3 MiB of it taken by a filler file.
class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mount_ = dir_.Join("mnt");
    fs::create_directories(mount_);
    ASSERT_EQ(::mount("tmpfs", mount_.c_str(), "tmpfs", 0, "size=8m"), 0)
        << "mounting a tmpfs needs root (CAP_SYS_ADMIN): " << std::strerror(errno);
    mounted_ = true;
    std::ofstream(mount_ + "/filler", std::ios::binary) << std::string(3 << 20, 'f');
  }
  void TearDown() override {
    if (mounted_) ::umount2(mount_.c_str(), MNT_DETACH);
  }
  TempDir dir_;
  std::string mount_;
  bool mounted_ = false;
};

TEST_F(DiskFullTest, PutsFailClearlyReadsGoOnAndTheQueueResumes) {
  ServerProcess server(mount_ + "/data", {"--sync", "always"});
  ASSERT_TRUE(server.Start());
  RawClient c(server.port("memcache"));
  std::vector<int> stored;
  std::string refused;
  for (int i = 0; i < 400 && refused.empty(); i++) {
    std::string reply = Set(c, "full", Item(i, 64 << 10));
    if (reply == "STORED\r\n") {
      stored.push_back(i);
    } else {
      refused = reply;
    }
  }
  ASSERT_FALSE(refused.empty()) << "the disk never filled";
  EXPECT_NE(refused.find("no space left on device"), std::string::npos) << refused;
  EXPECT_NE(refused.find("full"), std::string::npos) << refused;
  ASSERT_GE(stored.size(), 2u);
  RawClient reader(server.port("memcache"));
  bool failed = false;
  EXPECT_EQ(Get(reader, "full", &failed), Item(stored[0], 64 << 10)) << server.Log();
  std::string health = Http(server.port("admin"), "/healthz");
  EXPECT_NE(health.find("full (no_space)"), std::string::npos) << health;

  fs::remove(mount_ + "/filler");
  std::string reply;
  ASSERT_TRUE(WaitFor(
      [&] {
        RawClient writer(server.port("memcache"));  // a refused set closes its connection
        reply = Set(writer, "full", Item(1000, 64 << 10));
        return reply == "STORED\r\n";
      },
      std::chrono::seconds(20)))
      << reply << server.Log();
  EXPECT_TRUE(WaitFor([&] { return server.Log().find("resumed") != std::string::npos; },
                      std::chrono::seconds(5)));
  std::set<std::string> delivered;
  for (size_t i = 0; i < stored.size() + 10; i++) {
    std::string item = Get(reader, "full", &failed);
    ASSERT_FALSE(failed) << item;
    if (item.empty()) break;
    delivered.insert(item);
  }
  // Nothing acknowledged is lost (the first was read before the disk filled).
  for (size_t k = 1; k < stored.size(); k++) {
    EXPECT_EQ(delivered.count(Item(stored[k], 64 << 10)), 1u) << stored[k];
  }
  EXPECT_EQ(delivered.count(Item(1000, 64 << 10)), 1u);
  server.Stop();
}

}  // namespace
}  // namespace saker::test

// Crash test of the log (issue 2): a forked child appends with sync=always through the
// StorageThread and EventLoop and writes each acknowledged offset to a pipe; the parent
// SIGKILLs it at a random moment, reopens the log and checks that every acknowledged item is
// there with its payload, that offsets are dense, and that appends continue. The child is
// forked before the parent starts any thread, and never returns into the test framework.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>

#include "server/common/event_loop.h"
#include "server/storage/log.h"
#include "server/storage/storage_thread.h"
#include "tests/testutil/testutil.h"

namespace saker::storage {
namespace {

size_t PayloadSize(uint64_t offset) { return 20 + offset % 300; }

LogOptions CrashOptions() {
  LogOptions o;
  o.segment_bytes = 256 << 10;      // rolls happen while the child is being killed
  o.preallocate_bytes = 256 << 10;  // and zero-fills (from 16 KiB of data in a segment)
  o.direct_min_bytes = 4 << 10;     // most rounds in the zero-filled space go O_DIRECT
  o.index_interval_bytes = 1024;
  o.name = "queue=crash";
  return o;
}

// The child: appends forever, 64 appends in flight, 1-4 records each; reports the last
// offset of each acknowledged batch as 8 bytes on `fd`.
[[noreturn]] void RunChild(const std::string& dir, int fd, uint64_t seed) {
  auto opened = Log::Open(dir, CrashOptions());
  if (!opened.ok()) _exit(3);
  std::shared_ptr<Log> log(std::move(opened).value());
  EventLoop loop;
  StorageThread storage(&loop);
  storage.Start();
  std::mt19937_64 rng(seed);
  uint64_t next = log->next_offset();
  std::function<void()> issue = [&] {
    BatchBuilder b;
    int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; i++) {
      uint64_t o = next + static_cast<uint64_t>(i);
      b.Add(1, 0, "", test::MakePayload(o, PayloadSize(o)));
    }
    BatchPtr batch = b.Finish(1, next);
    next += static_cast<uint64_t>(n);
    uint64_t last = batch->last_offset();
    storage.Append(log, std::move(batch), [&, last](Status st) {
      if (!st.ok()) _exit(4);
      if (::write(fd, &last, sizeof last) != sizeof last) _exit(5);
      issue();
    });
  };
  loop.Post([&] {
    for (int i = 0; i < 64; i++) issue();
  });
  loop.Run();
  _exit(6);
}

class StorageCrashTest : public ::testing::Test {
 protected:
  test::TempDir dir_;
};

TEST_F(StorageCrashTest, AcknowledgedAppendsSurviveSigkill) {
  std::mt19937_64 rng(std::random_device{}());
  std::string log_dir = dir_.Join("1");
  uint64_t acked_total = 0;
  constexpr int kRounds = 24;
  for (int round = 0; round < kRounds; round++) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    uint64_t seed = rng();
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      RunChild(log_dir, fds[1], seed);
    }
    ::close(fds[1]);
    // Let it run 5-40 ms (counted from its first acknowledgement), then kill it mid-flight.
    auto run_for = std::chrono::milliseconds(5 + rng() % 35);
    uint64_t max_acked = 0;
    bool started = false;
    auto deadline = std::chrono::steady_clock::now() + test::Scaled(std::chrono::seconds(10));
    char buf[4096];
    size_t have = 0;
    auto consume = [&](ssize_t n) {
      have += static_cast<size_t>(n);
      size_t whole = have - have % 8;
      for (size_t p = 0; p < whole; p += 8) {
        uint64_t v;
        std::memcpy(&v, buf + p, 8);
        max_acked = std::max(max_acked, v);
      }
      std::memmove(buf, buf + whole, have - whole);
      have -= whole;
    };
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 1) > 0) {
        ssize_t n = ::read(fds[0], buf + have, sizeof buf - have);
        if (n <= 0) break;  // the child died on its own
        consume(n);
        if (!started) {
          started = true;
          deadline = std::chrono::steady_clock::now() + run_for;
        }
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    // Everything written before the kill is still in the pipe.
    while (true) {
      ssize_t n = ::read(fds[0], buf + have, sizeof buf - have);
      if (n <= 0) break;
      consume(n);
    }
    ::close(fds[0]);
    ASSERT_TRUE(started) << "round " << round << ": no acknowledgement";

    auto opened = Log::Open(log_dir, CrashOptions());
    ASSERT_TRUE(opened.ok()) << "round " << round << ": " << opened.status().ToString();
    auto log = std::move(opened).value();
    ASSERT_GT(log->next_offset(), max_acked) << "round " << round << ": lost acknowledged items";
    uint64_t o = log->first_offset();
    while (o < log->next_offset()) {
      auto r = log->Read(o, 1 << 20);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_FALSE(r->empty());
      for (const auto& b : *r) {
        for (const auto& rec : b->records()) {
          if (rec.offset < o) continue;
          ASSERT_EQ(rec.offset, o) << "offsets not dense";
          ASSERT_EQ(rec.payload, test::MakePayload(o, PayloadSize(o))) << "offset " << o;
          o++;
        }
      }
    }
    // Appends continue where the log ends.
    BatchBuilder b;
    b.Add(1, 0, "", test::MakePayload(o, PayloadSize(o)));
    ASSERT_TRUE(log->Append(*b.Finish(1, o)).ok());
    ASSERT_TRUE(log->Sync().ok());
    acked_total = max_acked;
  }
  EXPECT_GT(acked_total, 0u);
}

}  // namespace
}  // namespace saker::storage

// saker-logbench: durable append throughput and latency of one log through the StorageThread,
// as the loop thread drives it (docs/BENCHMARKS.md). Appenders are logical clients on the
// loop thread, each keeping `--in-flight` appends outstanding and re-issuing on completion.
// Prints one JSON line.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "server/common/event_loop.h"
#include "server/storage/log.h"
#include "server/storage/storage_thread.h"

namespace saker::storage {
namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string dir;
  double seconds = 5;
  double warmup_seconds = 1;
  int appenders = 8;
  int in_flight = 32;
  size_t item_bytes = 256;
  std::string sync = "always";
  uint64_t direct_min_bytes = LogOptions{}.direct_min_bytes;
  bool keep = false;
};

void Usage() {
  std::fprintf(stderr,
               "usage: saker-logbench [--dir DIR] [--seconds N] [--warmup N] [--appenders N]\n"
               "                      [--in-flight N] [--item-bytes N] [--sync POLICY]\n"
               "                      [--direct-min-bytes N] [--keep]\n"
               "  DIR defaults to a fresh ./saker-logbench-XXXXXX, removed unless --keep\n");
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage();
      return argv[++i];
    };
    if (a == "--dir") {
      f.dir = value();
    } else if (a == "--seconds") {
      f.seconds = std::atof(value().c_str());
    } else if (a == "--warmup") {
      f.warmup_seconds = std::atof(value().c_str());
    } else if (a == "--appenders") {
      f.appenders = std::atoi(value().c_str());
    } else if (a == "--in-flight") {
      f.in_flight = std::atoi(value().c_str());
    } else if (a == "--item-bytes") {
      f.item_bytes = static_cast<size_t>(std::atol(value().c_str()));
    } else if (a == "--sync") {
      f.sync = value();
    } else if (a == "--direct-min-bytes") {
      f.direct_min_bytes = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--keep") {
      f.keep = true;
    } else {
      Usage();
    }
  }
  if (f.seconds <= 0 || f.appenders < 1 || f.in_flight < 1) Usage();
  return f;
}

class Bench {
 public:
  Bench(const Flags& flags, std::shared_ptr<Log> log)
      : flags_(flags), log_(std::move(log)), storage_(&loop_), payload_(flags.item_bytes, 'x') {}

  int Run() {
    storage_.Start();
    start_ = Clock::now();
    measure_from_ = start_ + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(flags_.warmup_seconds));
    end_ = measure_from_ + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(flags_.seconds));
    loop_.Post([this] {
      for (int a = 0; a < flags_.appenders; a++) {
        for (int i = 0; i < flags_.in_flight; i++) Issue(Clock::now());
      }
    });
    loop_.Run();
    storage_.Stop();
    return Report();
  }

 private:
  // Issues one append at time `now` (the completion time of the one it replaces: one clock
  // read per append).
  void Issue(Clock::time_point now) {
    if (now >= end_) {
      if (in_flight_ == 0) loop_.Stop();
      return;
    }
    if (!measuring_ && now >= measure_from_) {
      measuring_ = true;
      base_stats_ = storage_.stats();
    }
    builder_.Add(0, 0, "", payload_);
    BatchPtr batch = builder_.Finish(0, next_offset_++);
    in_flight_++;
    // Two words of capture fit std::function's inline buffer: no allocation per append.
    storage_.Append(log_, std::move(batch), [this, now](Status st) {
      in_flight_--;
      if (!st.ok()) {
        std::fprintf(stderr, "append failed: %s\n", st.ToString().c_str());
        std::exit(1);
      }
      auto done = Clock::now();
      if (now >= measure_from_) {
        latencies_us_.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(done - now).count()));
        last_done_ = done;
      }
      Issue(done);
    });
  }

  int Report() {
    StorageStats s = storage_.stats();
    double secs = std::chrono::duration<double>(last_done_ - measure_from_).count();
    if (latencies_us_.empty() || secs <= 0) {
      std::fprintf(stderr, "no appends measured\n");
      return 1;
    }
    std::sort(latencies_us_.begin(), latencies_us_.end());
    auto pct = [&](double p) {
      size_t i = static_cast<size_t>(p * static_cast<double>(latencies_us_.size() - 1));
      return latencies_us_[i];
    };
    double items = static_cast<double>(latencies_us_.size());
    uint64_t syncs = s.syncs - base_stats_.syncs;
    uint64_t commits = s.commits - base_stats_.commits;
    std::printf(
        "{\"bench\":\"log\",\"sync\":\"%s\",\"appenders\":%d,\"in_flight\":%d,"
        "\"item_bytes\":%zu,\"seconds\":%.2f,\"items\":%.0f,\"items_per_s\":%.0f,"
        "\"mib_per_s\":%.1f,\"disk_mib_per_s\":%.1f,\"fdatasyncs_per_s\":%.0f,"
        "\"items_per_commit\":%.1f,\"avg_write_us\":%.0f,\"avg_fdatasync_us\":%.0f,"
        "\"p50_us\":%u,\"p99_us\":%u,\"p999_us\":%u}\n",
        flags_.sync.c_str(), flags_.appenders, flags_.in_flight, flags_.item_bytes, secs, items,
        items / secs, items * static_cast<double>(flags_.item_bytes) / secs / (1 << 20),
        static_cast<double>(s.bytes - base_stats_.bytes) / secs / (1 << 20),
        static_cast<double>(syncs) / secs, commits ? items / static_cast<double>(commits) : 0.0,
        commits ? static_cast<double>(s.write_ns_total - base_stats_.write_ns_total) / 1e3 /
                      static_cast<double>(commits)
                : 0.0,
        syncs ? static_cast<double>(s.sync_ns_total - base_stats_.sync_ns_total) / 1e3 /
                    static_cast<double>(syncs)
              : 0.0,
        pct(0.50), pct(0.99), pct(0.999));
    return 0;
  }

  const Flags& flags_;
  std::shared_ptr<Log> log_;
  EventLoop loop_;
  StorageThread storage_;
  std::string payload_;
  BatchBuilder builder_;
  uint64_t next_offset_ = 1;
  int in_flight_ = 0;
  bool measuring_ = false;
  StorageStats base_stats_;
  Clock::time_point start_, measure_from_, end_, last_done_;
  std::vector<uint32_t> latencies_us_;
};

int Main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);
  bool made_dir = false;
  if (flags.dir.empty()) {
    std::string tmpl = "./saker-logbench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    flags.dir = tmpl;
    made_dir = true;
  }
  LogOptions options;
  auto sync = SyncPolicy::Parse(flags.sync);
  if (!sync.ok()) {
    std::fprintf(stderr, "%s\n", sync.status().ToString().c_str());
    return 2;
  }
  options.sync = *sync;
  options.direct_min_bytes = flags.direct_min_bytes;
  options.name = "queue=bench";
  auto log = Log::Open(flags.dir + "/1", options);
  if (!log.ok()) {
    std::fprintf(stderr, "%s\n", log.status().ToString().c_str());
    return 1;
  }
  int rc = 0;
  {
    Bench bench(flags, std::shared_ptr<Log>(std::move(log).value()));
    rc = bench.Run();
  }
  if (made_dir && !flags.keep) std::filesystem::remove_all(flags.dir);
  return rc;
}

}  // namespace
}  // namespace saker::storage

int main(int argc, char** argv) { return saker::storage::Main(argc, argv); }

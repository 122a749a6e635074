// StorageThread group commit, sync policies and fail-stop; ReaderPool; TailCache.
#include "server/storage/storage_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "server/storage/reader_pool.h"
#include "server/storage/sync_pool.h"
#include "server/storage/tail_cache.h"
#include "tests/testutil/testutil.h"

namespace saker::storage {
namespace {

BatchPtr MakeBatch(uint64_t base, int n = 1, size_t size = 64) {
  BatchBuilder b;
  for (int i = 0; i < n; i++) b.Add(1, 0, "", test::MakePayload(base + i, size));
  return b.Finish(0, base);
}

class StorageThreadTest : public ::testing::Test {
 protected:
  std::shared_ptr<Log> OpenLog(const std::string& sub, const char* sync = "always") {
    LogOptions o;
    o.sync = SyncPolicy::Parse(sync).value();
    o.name = "queue=" + sub;
    return std::shared_ptr<Log>(Log::Open(dir_.Join(sub), o).value());
  }
  // Queues `n` one-record appends to `log`; results land in statuses_.
  void AppendN(const std::shared_ptr<Log>& log, int n, uint64_t* next) {
    for (int i = 0; i < n; i++) {
      storage_.Append(log, MakeBatch((*next)++), [this](Status s) { statuses_.push_back(s); });
    }
  }
  // Runs the loop until `n` completions arrived.
  bool RunUntil(size_t n) {
    return test::WaitFor(
        [&] {
          loop_.RunOnce();
          return statuses_.size() >= n;
        },
        std::chrono::seconds(5));
  }
  size_t CountOk() const {
    return static_cast<size_t>(
        std::count_if(statuses_.begin(), statuses_.end(), [](const Status& s) { return s.ok(); }));
  }

  test::TempDir dir_;
  EventLoop loop_;
  StorageThread storage_{&loop_};
  std::vector<Status> statuses_;
};

TEST_F(StorageThreadTest, OneIterationIsOneWriteAndOneSync) {
  auto log = OpenLog("a");
  storage_.Start();
  uint64_t next = 1;
  AppendN(log, 200, &next);
  ASSERT_TRUE(RunUntil(200));
  EXPECT_EQ(CountOk(), 200u);
  StorageStats s = storage_.stats();
  EXPECT_EQ(s.commits, 1u);
  EXPECT_EQ(s.syncs, 1u);
  EXPECT_EQ(s.appends, 200u);
  EXPECT_EQ(s.bytes, 200 * MakeBatch(1)->size_bytes());
  EXPECT_EQ(log->next_offset(), 201u);
}

TEST_F(StorageThreadTest, OneSyncPerLogPerRound) {
  auto a = OpenLog("a");
  auto b = OpenLog("b");
  auto c = OpenLog("c", "never");
  storage_.Start();
  uint64_t na = 1, nb = 1, nc = 1;
  for (int i = 0; i < 10; i++) {
    AppendN(a, 1, &na);
    AppendN(b, 2, &nb);
    AppendN(c, 1, &nc);
  }
  ASSERT_TRUE(RunUntil(40));
  EXPECT_EQ(CountOk(), 40u);
  EXPECT_EQ(storage_.stats().syncs, 2u);  // a and b; c (never) is synced at Stop
  storage_.Stop();
  EXPECT_EQ(storage_.stats().syncs, 3u);
  EXPECT_EQ(b->next_offset(), 21u);
}

TEST_F(StorageThreadTest, TwoLogsOfOneRoundSyncSideBySide) {
  // Each fdatasync waits at a barrier for the other: this round completes only if the two
  // syncs run at the same time (one after the other, the first would wait until its deadline).
  auto a = OpenLog("a");
  auto b = OpenLog("b");
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  bool overlapped = true;
  auto barrier = [&](FileOp op) {
    if (op != FileOp::kSync) return Status::OK();
    std::unique_lock<std::mutex> lock(mu);
    arrived++;
    cv.notify_all();
    if (!cv.wait_for(lock, std::chrono::seconds(2), [&] { return arrived % 2 == 0; })) {
      overlapped = false;
    }
    return Status::OK();
  };
  a->TEST_SetFault(barrier);
  b->TEST_SetFault(barrier);
  storage_.Start();
  uint64_t na = 1, nb = 1;
  AppendN(a, 3, &na);
  AppendN(b, 3, &nb);
  ASSERT_TRUE(RunUntil(6));
  EXPECT_EQ(CountOk(), 6u);
  EXPECT_TRUE(overlapped);
  EXPECT_EQ(storage_.stats().syncs, 2u);
}

TEST(SyncPoolTest, RunsEveryIndexOnceAndReturnsAfterAll) {
  SyncPool pool(2);
  for (size_t n : {size_t{1}, size_t{2}, size_t{3}, size_t{17}}) {
    std::vector<std::atomic<int>> runs(n);
    pool.Run(n, [&](size_t i) { runs[i]++; });
    for (size_t i = 0; i < n; i++) EXPECT_EQ(runs[i].load(), 1) << "n=" << n << " i=" << i;
  }
  SyncPool alone(0);
  int total = 0;
  alone.Run(5, [&](size_t) { total++; });
  EXPECT_EQ(total, 5);
}

TEST_F(StorageThreadTest, ManyLogsInOneRoundShareOneFilesystemSync) {
  std::vector<std::shared_ptr<Log>> logs;
  for (int i = 0; i < 8; i++) logs.push_back(OpenLog("many" + std::to_string(i)));
  storage_.Start();
  std::vector<uint64_t> next(logs.size(), 1);
  for (size_t i = 0; i < logs.size(); i++) AppendN(logs[i], 3, &next[i]);
  ASSERT_TRUE(RunUntil(24));
  EXPECT_EQ(CountOk(), 24u);
  EXPECT_EQ(storage_.stats().commits, 1u);
  EXPECT_EQ(storage_.stats().syncs, 1u);  // one syncfs, not eight fdatasyncs
  storage_.Stop();
  for (size_t i = 0; i < logs.size(); i++) {
    std::string dir = logs[i]->dir();
    logs[i].reset();
    auto reopened = Log::Open(dir, LogOptions{});
    ASSERT_TRUE(reopened.ok());
    EXPECT_EQ((*reopened)->next_offset(), 4u);
  }
}

TEST_F(StorageThreadTest, SyncfsCanBeTurnedOff) {
  StorageThread own(&loop_, 0);
  std::vector<std::shared_ptr<Log>> logs;
  for (int i = 0; i < 8; i++) logs.push_back(OpenLog("own" + std::to_string(i)));
  own.Start();
  for (const auto& log : logs) {
    own.Append(log, MakeBatch(1), [this](Status s) { statuses_.push_back(s); });
  }
  ASSERT_TRUE(RunUntil(8));
  EXPECT_EQ(CountOk(), 8u);
  EXPECT_EQ(own.stats().syncs, 8u);  // one fdatasync per log
}

TEST_F(StorageThreadTest, CompletionsKeepCallOrder) {
  auto log = OpenLog("a");
  storage_.Start();
  std::vector<uint64_t> order;
  for (uint64_t o = 1; o <= 50; o++) {
    storage_.Append(log, MakeBatch(o), [&, o](Status s) {
      EXPECT_TRUE(s.ok());
      order.push_back(o);
      statuses_.push_back(s);
    });
    if (o % 7 == 0) loop_.RunOnce();  // several hand-offs
  }
  ASSERT_TRUE(RunUntil(50));
  for (size_t i = 0; i < order.size(); i++) EXPECT_EQ(order[i], i + 1);
}

TEST_F(StorageThreadTest, IntervalReportsBeforeSyncAndSyncsLater) {
  auto log = OpenLog("a", "interval:1");
  storage_.Start();
  uint64_t next = 1;
  AppendN(log, 5, &next);
  ASSERT_TRUE(RunUntil(5));
  EXPECT_EQ(CountOk(), 5u);
  EXPECT_TRUE(test::WaitFor([&] { return storage_.stats().syncs == 1; }, std::chrono::seconds(5)));
}

TEST_F(StorageThreadTest, RunSeesEarlierAppendsWritten) {
  auto log = OpenLog("a");
  storage_.Start();
  uint64_t next = 1;
  AppendN(log, 3, &next);
  uint64_t seen = 0;
  storage_.Run(
      [&] {
        seen = log->next_offset();
        return Status::NotFound("from work");
      },
      [this](Status s) { statuses_.push_back(s); });
  ASSERT_TRUE(RunUntil(4));
  EXPECT_EQ(seen, 4u);
  EXPECT_EQ(std::count_if(statuses_.begin(), statuses_.end(),
                          [](const Status& s) { return s.IsNotFound(); }),
            1);
}

TEST_F(StorageThreadTest, FailedWriteAcknowledgesNothing) {
  auto log = OpenLog("a");
  log->TEST_SetFault([](FileOp op) {
    return op == FileOp::kWrite ? Status::IOError("injected write error") : Status::OK();
  });
  storage_.Start();
  uint64_t next = 1;
  AppendN(log, 10, &next);
  ASSERT_TRUE(RunUntil(10));
  EXPECT_EQ(CountOk(), 0u);
  for (const auto& s : statuses_) EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_TRUE(log->failed());
  statuses_.clear();
  next = 1;
  AppendN(log, 3, &next);  // fail-stop: later appends fail at once
  ASSERT_TRUE(RunUntil(3));
  EXPECT_EQ(CountOk(), 0u);
}

TEST_F(StorageThreadTest, FailedSyncAcknowledgesNothing) {
  auto log = OpenLog("a");
  auto other = OpenLog("b");
  log->TEST_SetFault([](FileOp op) {
    return op == FileOp::kSync ? Status::IOError("injected fdatasync error") : Status::OK();
  });
  storage_.Start();
  uint64_t next = 1, other_next = 1;
  AppendN(log, 10, &next);
  ASSERT_TRUE(RunUntil(10));
  EXPECT_EQ(CountOk(), 0u);
  EXPECT_TRUE(log->failed());
  statuses_.clear();
  AppendN(log, 2, &next);
  AppendN(other, 2, &other_next);  // other logs are not affected
  ASSERT_TRUE(RunUntil(4));
  EXPECT_EQ(CountOk(), 2u);
  EXPECT_TRUE(statuses_[0].IsIOError());
  EXPECT_TRUE(statuses_[1].IsIOError());
}

TEST_F(StorageThreadTest, StopWritesAndSyncsEverything) {
  auto log = OpenLog("a", "interval:100000");
  storage_.Start();
  uint64_t next = 1;
  AppendN(log, 4, &next);
  storage_.Stop();  // hands over what is pending
  EXPECT_EQ(log->next_offset(), 5u);
  EXPECT_EQ(storage_.stats().syncs, 1u);
  ASSERT_TRUE(RunUntil(4));
}

class ReaderPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = std::shared_ptr<Log>(Log::Open(dir_.path(), LogOptions()).value());
    for (uint64_t o = 1; o <= 100; o++) ASSERT_TRUE(log_->Append(*MakeBatch(o)).ok());
  }
  Result<std::vector<BatchPtr>> ReadSync(uint64_t offset, size_t max_bytes) {
    std::optional<Result<std::vector<BatchPtr>>> got;
    pool_.Read(log_, offset, max_bytes,
               [&](Result<std::vector<BatchPtr>> r) { got = std::move(r); });
    EXPECT_TRUE(test::WaitFor(
        [&] {
          loop_.RunOnce();
          return got.has_value();
        },
        std::chrono::seconds(5)));
    return got.has_value() ? std::move(*got)
                           : Result<std::vector<BatchPtr>>(Status::Timeout("read"));
  }

  test::TempDir dir_;
  EventLoop loop_;
  ReaderPool pool_{&loop_, 2};
  std::shared_ptr<Log> log_;
};

TEST_F(ReaderPoolTest, ReadsInOrderWithReadAhead) {
  size_t batch_bytes = MakeBatch(1)->size_bytes();
  uint64_t offset = 1;
  while (offset <= 100) {
    auto r = ReadSync(offset, 10 * batch_bytes);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), 10u);
    for (const auto& b : *r) {
      EXPECT_EQ(b->base_offset(), offset);
      EXPECT_EQ(b->Record(offset).payload, test::MakePayload(offset, 64));
      offset++;
    }
  }
  EXPECT_EQ(pool_.readahead_hits(), 5u);  // every second read came from the buffer
  auto end = ReadSync(101, 100);
  ASSERT_TRUE(end.ok());
  EXPECT_TRUE(end->empty());
}

TEST_F(ReaderPoolTest, ReadAheadIsDroppedAfterTruncate) {
  size_t batch_bytes = MakeBatch(1)->size_bytes();
  ASSERT_TRUE(ReadSync(1, 10 * batch_bytes).ok());
  ASSERT_TRUE(log_->Truncate(15).ok());
  ASSERT_TRUE(log_->Append(*MakeBatch(15, 1, 10)).ok());
  auto r = ReadSync(11, 10 * batch_bytes);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ(r->back()->Record(15).payload, test::MakePayload(15, 10));
}

// The cut offsets are written again, past the end of the read-ahead: the buffer's offsets are
// all below the log's end, yet its bytes are gone.
TEST_F(ReaderPoolTest, ReadAheadNeverServesBytesCutByTruncate) {
  size_t batch_bytes = MakeBatch(1)->size_bytes();
  ASSERT_TRUE(ReadSync(1, 10 * batch_bytes).ok());  // 11..20 read ahead
  const uint64_t before = log_->truncations();
  ASSERT_TRUE(log_->Truncate(15).ok());
  EXPECT_EQ(log_->truncations(), before + 1);
  for (uint64_t o = 15; o <= 120; o++) ASSERT_TRUE(log_->Append(*MakeBatch(o, 1, 10)).ok());
  uint64_t offset = 11;
  while (offset <= 120) {
    auto r = ReadSync(offset, 10 * batch_bytes);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_FALSE(r->empty());
    for (const auto& b : *r) {
      EXPECT_EQ(b->Record(offset).payload, test::MakePayload(offset, offset < 15 ? 64 : 10))
          << offset;
      offset++;
    }
  }
}

TEST_F(ReaderPoolTest, TruncateToTheEndCutsNothingAndKeepsTheReadAhead) {
  size_t batch_bytes = MakeBatch(1)->size_bytes();
  ASSERT_TRUE(ReadSync(1, 10 * batch_bytes).ok());
  ASSERT_TRUE(log_->Truncate(log_->next_offset()).ok());
  EXPECT_EQ(log_->truncations(), 0u);
  ASSERT_TRUE(ReadSync(11, 10 * batch_bytes).ok());
  EXPECT_EQ(pool_.readahead_hits(), 1u);
}

TEST_F(ReaderPoolTest, BelowFirstOffsetIsNotFound) {
  EXPECT_TRUE(ReadSync(0, 100).status().IsNotFound());
}

class TailCacheTest : public ::testing::Test {
 protected:
  const Log* a_ = reinterpret_cast<const Log*>(0x10);
  const Log* b_ = reinterpret_cast<const Log*>(0x20);
  size_t batch_bytes_ = MakeBatch(1)->size_bytes();
};

TEST_F(TailCacheTest, ServesCachedRanges) {
  TailCache cache(100 * batch_bytes_);
  for (uint64_t o = 5; o < 15; o++) cache.Add(a_, MakeBatch(o));
  EXPECT_EQ(cache.first_cached_offset(a_), 5u);
  EXPECT_EQ(cache.first_cached_offset(b_), 0u);
  EXPECT_TRUE(cache.Read(a_, 4, 100).empty());
  EXPECT_TRUE(cache.Read(a_, 15, 100).empty());
  EXPECT_TRUE(cache.Read(b_, 5, 100).empty());
  auto r = cache.Read(a_, 7, 3 * batch_bytes_);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0]->base_offset(), 7u);
  EXPECT_EQ(cache.Read(a_, 7, 1).size(), 1u);
  EXPECT_EQ(cache.size_bytes(), 10 * batch_bytes_);
}

TEST_F(TailCacheTest, EvictsOldestAcrossLogs) {
  TailCache cache(4 * batch_bytes_);
  cache.Add(a_, MakeBatch(1));
  cache.Add(b_, MakeBatch(1));
  cache.Add(a_, MakeBatch(2));
  cache.Add(b_, MakeBatch(2));
  cache.Add(a_, MakeBatch(3));  // evicts a:1
  EXPECT_EQ(cache.first_cached_offset(a_), 2u);
  EXPECT_EQ(cache.first_cached_offset(b_), 1u);
  cache.Add(a_, MakeBatch(4));  // evicts b:1
  EXPECT_EQ(cache.first_cached_offset(b_), 2u);
  EXPECT_LE(cache.size_bytes(), cache.budget_bytes());
}

TEST_F(TailCacheTest, TruncateAndGapsDropBatches) {
  TailCache cache(100 * batch_bytes_);
  for (uint64_t o = 1; o <= 10; o++) cache.Add(a_, MakeBatch(o));
  cache.Truncate(a_, 6);
  EXPECT_TRUE(cache.Read(a_, 6, 100).empty());
  EXPECT_EQ(cache.size_bytes(), 5 * batch_bytes_);
  cache.Add(a_, MakeBatch(6, 1, 10));
  EXPECT_EQ(cache.Read(a_, 6, 100)[0]->Record(6).payload, test::MakePayload(6, 10));
  cache.Add(a_, MakeBatch(20));  // a gap: only the new batch stays
  EXPECT_EQ(cache.first_cached_offset(a_), 20u);
  EXPECT_EQ(cache.size_bytes(), batch_bytes_);
  cache.Drop(a_);
  EXPECT_EQ(cache.size_bytes(), 0u);
  EXPECT_EQ(cache.first_cached_offset(a_), 0u);
}

// The engine's order after a truncate: Log::Truncate, TailCache::Truncate, then the new
// batches go to both. Neither serves a cut byte.
TEST_F(TailCacheTest, TruncateThenAppendServesOnlyTheNewBytes) {
  test::TempDir dir;
  auto log = std::shared_ptr<Log>(Log::Open(dir.path(), LogOptions()).value());
  TailCache cache(100 * batch_bytes_);
  for (uint64_t o = 1; o <= 10; o++) {
    BatchPtr b = MakeBatch(o);
    ASSERT_TRUE(log->Append(*b).ok());
    cache.Add(log.get(), b);
  }
  ASSERT_EQ(cache.Read(log.get(), 4, 100 * batch_bytes_).size(), 7u);
  ASSERT_TRUE(log->Truncate(4).ok());
  cache.Truncate(log.get(), 4);
  EXPECT_TRUE(cache.Read(log.get(), 4, 100).empty());
  for (uint64_t o = 4; o <= 12; o++) {
    BatchPtr b = MakeBatch(o, 1, 10);
    ASSERT_TRUE(log->Append(*b).ok());
    cache.Add(log.get(), b);
  }
  auto cached = cache.Read(log.get(), 1, 100 * batch_bytes_);
  auto read = log->Read(1, 100 * batch_bytes_);
  ASSERT_TRUE(read.ok());
  for (const auto* got : {&cached, &*read}) {
    ASSERT_EQ(got->size(), 12u);
    for (uint64_t o = 1; o <= 12; o++) {
      EXPECT_EQ((*got)[o - 1]->Record(o).payload, test::MakePayload(o, o < 4 ? 64 : 10)) << o;
    }
  }
}

TEST_F(TailCacheTest, EvictionAfterTruncateKeepsAccounting) {
  TailCache cache(3 * batch_bytes_);
  for (uint64_t o = 1; o <= 3; o++) cache.Add(a_, MakeBatch(o));
  cache.Truncate(a_, 1);
  for (uint64_t o = 1; o <= 5; o++) cache.Add(a_, MakeBatch(o));
  EXPECT_EQ(cache.first_cached_offset(a_), 3u);
  EXPECT_EQ(cache.size_bytes(), 3 * batch_bytes_);
  EXPECT_EQ(cache.Read(a_, 3, 1000).size(), 3u);
}

}  // namespace
}  // namespace saker::storage

// Log: format edge cases in the manner of leveldb's log_test (empty, exact fills, torn header,
// torn payload, bad length, bad CRC, reopen), rolls, truncate, append_at, delete_below,
// reads across segments, the fd cache and fault injection.
#include "server/storage/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "server/common/coding.h"
#include "server/storage/fd_cache.h"
#include "tests/testutil/fake_clock.h"
#include "tests/testutil/testutil.h"

namespace saker::storage {
namespace {

constexpr size_t kPayload = 100;
// One record of kPayload bytes, no key.
constexpr size_t kOneRecordBatch = kBatchHeaderBytes + kRecordHeaderBytes + kPayload;

class LogTest : public ::testing::Test {
 protected:
  LogOptions Options() {
    LogOptions o;
    o.clock = &clock_;
    o.name = "queue=test";
    o.segment_bytes = segment_bytes_;
    o.index_interval_bytes = 256;
    o.fd_cache = cache_;
    return o;
  }
  std::unique_ptr<Log> Open() {
    auto log = Log::Open(dir_.path(), Options());
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }
  Status OpenStatus() { return Log::Open(dir_.path(), Options()).status(); }

  BatchPtr Make(uint64_t base, int n, uint64_t epoch = 0) {
    BatchBuilder b;
    for (int i = 0; i < n; i++) {
      b.Add(clock_.NowWallMs(), 0, "", test::MakePayload(base + i, kPayload));
    }
    return b.Finish(epoch, base);
  }
  // `batches` batches of one record each, from offset `base`.
  std::vector<BatchPtr> MakeRun(uint64_t base, int batches) {
    std::vector<BatchPtr> v;
    for (int i = 0; i < batches; i++) v.push_back(Make(base + static_cast<uint64_t>(i), 1));
    return v;
  }
  // Options under which a run of 1 KiB or more goes direct once the tail is zero-filled, and
  // a log opened with them whose tail is (30 single appends, then one Preallocate).
  LogOptions DirectOptions() {
    LogOptions o = Options();
    o.preallocate_bytes = 64 << 10;  // zero-fills from 4 KiB of data
    o.direct_min_bytes = 1 << 10;
    return o;
  }
  std::unique_ptr<Log> OpenZeroFilled(const LogOptions& o) {
    auto log = Log::Open(dir_.path(), o).value();
    AppendN(log.get(), 30);  // one batch a call: each below direct_min_bytes
    EXPECT_TRUE(log->Preallocate().ok());
    return log;
  }
  // Appends `batches` batches of one record each.
  void AppendN(Log* log, int batches) {
    for (int i = 0; i < batches; i++) {
      ASSERT_TRUE(log->Append(*Make(log->next_offset(), 1)).ok());
    }
  }
  // Every offset in [from, to) reads back with its payload.
  void ExpectReadable(Log* log, uint64_t from, uint64_t to) {
    uint64_t o = from;
    while (o < to) {
      auto r = log->Read(o, 1000);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_FALSE(r->empty()) << o;
      for (const auto& b : *r) {
        for (const auto& rec : b->records()) {
          if (rec.offset < o) continue;
          ASSERT_EQ(rec.offset, o);
          ASSERT_EQ(rec.payload, test::MakePayload(o, kPayload));
          o++;
        }
      }
    }
    EXPECT_EQ(o, to);
  }
  // The offsets a reader finds from first_offset() on (a hole is skipped), payloads checked.
  std::vector<uint64_t> Offsets(Log* log) {
    std::vector<uint64_t> out;
    uint64_t o = log->first_offset();
    while (o < log->next_offset()) {
      auto r = log->Read(o, 1000);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok() || r->empty()) break;
      for (const auto& b : *r) {
        for (const auto& rec : b->records()) {
          if (rec.offset < o) continue;
          EXPECT_EQ(rec.payload, test::MakePayload(rec.offset, kPayload));
          out.push_back(rec.offset);
        }
        o = b->end_offset();
      }
    }
    return out;
  }
  std::string SegmentFile(uint64_t base, const char* ext = "log") {
    char name[32];
    std::snprintf(name, sizeof name, "%020llu.%s", static_cast<unsigned long long>(base), ext);
    return dir_.Join(name);
  }
  uint64_t FileSize(const std::string& path) { return std::filesystem::file_size(path); }
  void Resize(const std::string& path, uint64_t size) { std::filesystem::resize_file(path, size); }
  void Poke(const std::string& path, uint64_t position, const std::string& bytes) {
    int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(position)),
              static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  void Flip(const std::string& path, uint64_t position) {
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(position));
    char c = 0;
    in.get(c);
    Poke(path, position, std::string(1, static_cast<char>(c ^ 0x55)));
  }

  test::TempDir dir_;
  test::FakeClock clock_;
  uint64_t segment_bytes_ = 64 << 20;
  std::shared_ptr<FdCache> cache_;
};

TEST_F(LogTest, EmptyLogStartsAtOne) {
  auto log = Open();
  EXPECT_EQ(log->first_offset(), 1u);
  EXPECT_EQ(log->next_offset(), 1u);
  auto r = log->Read(1, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_TRUE(std::filesystem::exists(SegmentFile(1)));
  log.reset();
  log = Open();
  EXPECT_EQ(log->next_offset(), 1u);
}

TEST_F(LogTest, AppendAndReadBack) {
  auto log = Open();
  ASSERT_TRUE(log->Append(*Make(1, 3, 5)).ok());
  ASSERT_TRUE(log->Append(*Make(4, 2, 5)).ok());
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->next_offset(), 6u);
  EXPECT_EQ(log->stats().last_epoch, 5u);
  ExpectReadable(log.get(), 1, 6);
  auto r = log->Read(5, 1);  // inside the second batch: the whole batch
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0]->base_offset(), 4u);
}

TEST_F(LogTest, WrongBaseOffsetIsInvalidArgument) {
  auto log = Open();
  EXPECT_TRUE(log->Append(*Make(2, 1)).IsInvalidArgument());
  ASSERT_TRUE(log->Append(*Make(1, 1)).ok());
  EXPECT_TRUE(log->AppendAll({Make(2, 1), Make(4, 1)}).IsInvalidArgument());
  EXPECT_EQ(log->next_offset(), 2u);
  EXPECT_FALSE(log->failed());
}

TEST_F(LogTest, ReopenKeepsEverything) {
  {
    auto log = Open();
    AppendN(log.get(), 50);
    ASSERT_TRUE(log->Append(*Make(51, 1, 9)).ok());
    ASSERT_TRUE(log->Sync().ok());
  }
  auto log = Open();
  EXPECT_EQ(log->next_offset(), 52u);
  EXPECT_EQ(log->stats().last_epoch, 9u);
  ExpectReadable(log.get(), 1, 52);
  AppendN(log.get(), 1);
  EXPECT_EQ(log->next_offset(), 53u);
}

TEST_F(LogTest, ExactFillRollsOnTheNextBatch) {
  segment_bytes_ = 4 * kOneRecordBatch;
  auto log = Open();
  AppendN(log.get(), 4);
  EXPECT_EQ(log->stats().segment_count, 1u);
  EXPECT_EQ(FileSize(SegmentFile(1)), segment_bytes_);
  AppendN(log.get(), 1);
  EXPECT_EQ(log->stats().segment_count, 2u);
  EXPECT_EQ(FileSize(SegmentFile(5)), kOneRecordBatch);
  EXPECT_TRUE(std::filesystem::exists(SegmentFile(1, "idx")));
  ExpectReadable(log.get(), 1, 6);
}

TEST_F(LogTest, BatchLargerThanSegmentGoesAlone) {
  segment_bytes_ = kOneRecordBatch;
  auto log = Open();
  ASSERT_TRUE(log->Append(*Make(1, 3)).ok());
  ASSERT_TRUE(log->Append(*Make(4, 3)).ok());
  EXPECT_EQ(log->stats().segment_count, 2u);
  ExpectReadable(log.get(), 1, 7);
}

TEST_F(LogTest, AppendAllRollsInsideOneCall) {
  segment_bytes_ = 3 * kOneRecordBatch;
  auto log = Open();
  std::vector<BatchPtr> batches;
  for (uint64_t o = 1; o <= 10; o++) batches.push_back(Make(o, 1));
  ASSERT_TRUE(log->AppendAll(batches).ok());
  EXPECT_EQ(log->stats().segment_count, 4u);
  for (uint64_t base : {1, 4, 7, 10}) EXPECT_TRUE(std::filesystem::exists(SegmentFile(base)));
  ExpectReadable(log.get(), 1, 11);
}

TEST_F(LogTest, RollByAge) {
  auto o = Options();
  o.segment_age_ms = 1000;
  auto log = Log::Open(dir_.path(), o).value();
  AppendN(log.get(), 2);
  clock_.Advance(999);
  AppendN(log.get(), 1);
  EXPECT_EQ(log->stats().segment_count, 1u);
  clock_.Advance(1);
  AppendN(log.get(), 1);
  EXPECT_EQ(log->stats().segment_count, 2u);
  EXPECT_TRUE(std::filesystem::exists(SegmentFile(4)));
}

TEST_F(LogTest, ReadAcrossSegmentsAndLimits) {
  segment_bytes_ = 5 * kOneRecordBatch;
  auto log = Open();
  AppendN(log.get(), 23);
  ASSERT_EQ(log->stats().segment_count, 5u);
  ExpectReadable(log.get(), 1, 24);
  auto all = log->Read(3, 1 << 20);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 21u);  // 3..23, across every segment
  EXPECT_EQ(all->front()->base_offset(), 3u);
  EXPECT_EQ(all->back()->last_offset(), 23u);
  auto some = log->Read(4, 2 * kOneRecordBatch);
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(some->size(), 2u);
  auto one = log->Read(4, 1);  // at least one batch
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  auto end = log->Read(24, 100);
  ASSERT_TRUE(end.ok());
  EXPECT_TRUE(end->empty());
}

TEST_F(LogTest, ReopenReadsSealedSegmentsWithAndWithoutIndex) {
  segment_bytes_ = 40 * kOneRecordBatch;
  {
    auto log = Open();
    AppendN(log.get(), 100);
  }
  ASSERT_TRUE(std::filesystem::exists(SegmentFile(1, "idx")));
  std::filesystem::remove(SegmentFile(1, "idx"));
  Poke(SegmentFile(41, "idx"), 8, std::string(8, '\xff'));  // an index that lies
  auto log = Open();
  ExpectReadable(log.get(), 1, 101);
  ExpectReadable(log.get(), 57, 101);
}

TEST_F(LogTest, IndexThatPointsAtTheWrongBatchIsIgnored) {
  segment_bytes_ = 40 * kOneRecordBatch;
  {
    auto log = Open();
    AppendN(log.get(), 50);
  }
  // Entry 1 claims a later offset for its position: a plausible but wrong hint.
  std::ifstream in(SegmentFile(1, "idx"), std::ios::binary);
  std::string idx((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GE(idx.size(), 48u);
  std::string lie(8, '\0');
  EncodeFixed64(lie.data(), DecodeFixed64(idx.data() + 16) + 1);
  Poke(SegmentFile(1, "idx"), 16, lie);
  auto log = Open();
  ExpectReadable(log.get(), 1, 51);
}

TEST_F(LogTest, TornHeaderAtEndIsCut) {
  {
    auto log = Open();
    AppendN(log.get(), 3);
  }
  Resize(SegmentFile(1), 2 * kOneRecordBatch + 10);
  auto log = Open();
  EXPECT_EQ(log->next_offset(), 3u);
  EXPECT_EQ(FileSize(SegmentFile(1)), 2 * kOneRecordBatch);
  ExpectReadable(log.get(), 1, 3);
  AppendN(log.get(), 1);
  ExpectReadable(log.get(), 1, 4);
}

TEST_F(LogTest, TornPayloadAtEndIsCut) {
  {
    auto log = Open();
    AppendN(log.get(), 3);
  }
  Resize(SegmentFile(1), 3 * kOneRecordBatch - 1);
  auto log = Open();
  EXPECT_EQ(log->next_offset(), 3u);
  EXPECT_EQ(FileSize(SegmentFile(1)), 2 * kOneRecordBatch);
}

TEST_F(LogTest, BadCrcOfLastBatchIsCut) {
  {
    auto log = Open();
    AppendN(log.get(), 3);
  }
  Flip(SegmentFile(1), 2 * kOneRecordBatch + kBatchHeaderBytes + 30);
  auto log = Open();
  EXPECT_EQ(log->next_offset(), 3u);
}

TEST_F(LogTest, ReleasePreallocationGivesBackTheZerosAndStopsPreallocating) {
  segment_bytes_ = 64 << 10;
  auto o = Options();
  o.preallocate_bytes = 16 << 10;
  auto log = Log::Open(dir_.path(), o).value();
  AppendN(log.get(), 40);
  ASSERT_TRUE(log->Preallocate().ok());
  ASSERT_GT(FileSize(SegmentFile(1)), 40 * kOneRecordBatch);
  ASSERT_TRUE(log->ReleasePreallocation().ok());
  EXPECT_EQ(FileSize(SegmentFile(1)), 40 * kOneRecordBatch);
  EXPECT_FALSE(log->NeedsPreallocation());
  ASSERT_TRUE(log->Preallocate().ok());
  EXPECT_EQ(FileSize(SegmentFile(1)), 40 * kOneRecordBatch);
  ExpectReadable(log.get(), 1, 41);
}

TEST_F(LogTest, ZeroTailIsKeptAsPreallocatedSpace) {
  {
    auto log = Open();
    AppendN(log.get(), 2);
  }
  Resize(SegmentFile(1), 2 * kOneRecordBatch + 4096);
  auto log = Open();
  EXPECT_EQ(log->next_offset(), 3u);
  EXPECT_EQ(FileSize(SegmentFile(1)), 2 * kOneRecordBatch + 4096);
  AppendN(log.get(), 1);
  log.reset();
  log = Open();
  EXPECT_EQ(log->next_offset(), 4u);
  ExpectReadable(log.get(), 1, 4);
}

TEST_F(LogTest, PreallocateZeroFillsAheadAndSealingTrimsIt) {
  segment_bytes_ = 64 << 10;
  auto o = Options();
  o.preallocate_bytes = 16 << 10;
  auto log = Log::Open(dir_.path(), o).value();
  AppendN(log.get(), 5);  // 860 bytes: below preallocate_bytes / 16, no zeros for it
  EXPECT_FALSE(log->NeedsPreallocation());
  ASSERT_TRUE(log->Preallocate().ok());
  EXPECT_EQ(FileSize(SegmentFile(1)), 5 * kOneRecordBatch);
  AppendN(log.get(), 35);  // 6880 bytes
  ASSERT_TRUE(log->NeedsPreallocation());
  ASSERT_TRUE(log->Preallocate().ok());
  EXPECT_GE(FileSize(SegmentFile(1)), 2 * 40 * kOneRecordBatch);
  for (int i = 0; i < 12; i++) ASSERT_TRUE(log->Preallocate().ok());
  EXPECT_EQ(FileSize(SegmentFile(1)), 64u << 10);  // never beyond the segment size
  EXPECT_FALSE(log->NeedsPreallocation());
  AppendN(log.get(), 2);
  ExpectReadable(log.get(), 1, 43);
  log.reset();
  log = Log::Open(dir_.path(), o).value();
  EXPECT_EQ(log->next_offset(), 43u);
  ExpectReadable(log.get(), 1, 43);
  while (log->stats().segment_count == 1) AppendN(log.get(), 1);
  // The sealed segment ends at its last batch.
  EXPECT_EQ(FileSize(SegmentFile(1)) % kOneRecordBatch, 0u);
  EXPECT_LE(FileSize(SegmentFile(1)), 64u << 10);
  ASSERT_TRUE(log->Truncate(3).ok());
  EXPECT_EQ(FileSize(SegmentFile(1)), 2 * kOneRecordBatch);
  AppendN(log.get(), 1);
  log.reset();
  log = Log::Open(dir_.path(), o).value();
  ExpectReadable(log.get(), 1, 4);
}

// A run of appends that lands in the zero-filled tail goes out with O_DIRECT, from the page
// boundary before it; single small appends between such runs go through the page cache and
// start at that boundary too. Every byte reads back, before and after a reopen. (With an
// FdCache; the next test and the crash test write direct without one.)
TEST_F(LogTest, DirectRunsAndSmallAppendsInterleave) {
  if (!test::DirectIoWorks(dir_.path())) GTEST_SKIP() << "no O_DIRECT on " << dir_.path();
  segment_bytes_ = 1 << 20;
  cache_ = std::make_shared<FdCache>(8);
  auto o = DirectOptions();
  auto log = OpenZeroFilled(o);
  EXPECT_EQ(log->stats().direct_writes, 0u);
  auto run = [&](int batches) {
    ASSERT_TRUE(log->AppendAll(MakeRun(log->next_offset(), batches)).ok());
  };
  run(10);
  EXPECT_EQ(log->stats().direct_writes, 1u);
  EXPECT_EQ(cache_->size(), 2u);  // the O_DIRECT descriptor is cached beside the plain one
  AppendN(log.get(), 1);          // back through the page cache, from head_
  run(7);
  run(13);
  EXPECT_EQ(log->stats().direct_writes, 3u);
  ASSERT_TRUE(log->Sync().ok());
  uint64_t end = log->next_offset();
  ExpectReadable(log.get(), 1, end);
  EXPECT_EQ(log->stats().size_bytes, (end - 1) * kOneRecordBatch);
  log.reset();
  EXPECT_EQ(cache_->size(), 0u);
  log = Log::Open(dir_.path(), o).value();
  EXPECT_EQ(log->next_offset(), end);
  ExpectReadable(log.get(), 1, end);
  run(9);  // a reopened log reads head_ back before its first direct write
  ExpectReadable(log.get(), 1, log->next_offset());
}

// Rolls and truncation cut or seal the tail under a direct writer: what follows is written
// at the right place, and a reopen finds exactly the batches that were kept.
TEST_F(LogTest, DirectWritesAcrossRollAndTruncate) {
  if (!test::DirectIoWorks(dir_.path())) GTEST_SKIP() << "no O_DIRECT on " << dir_.path();
  segment_bytes_ = 32 << 10;
  auto o = Options();
  o.preallocate_bytes = 32 << 10;  // zero-fills from 2 KiB of data
  o.direct_min_bytes = 1 << 10;
  auto log = Log::Open(dir_.path(), o).value();
  uint64_t direct = 0;
  for (int round = 0; round < 80; round++) {
    ASSERT_TRUE(log->AppendAll(MakeRun(log->next_offset(), 8)).ok());
    ASSERT_TRUE(log->Sync().ok());
    if (log->NeedsPreallocation()) {
      ASSERT_TRUE(log->Preallocate().ok());
    }
    direct = log->stats().direct_writes;
  }
  EXPECT_GT(direct, 10u);
  EXPECT_GE(log->stats().segment_count, 3u);
  uint64_t cut = log->next_offset() - 5;
  ASSERT_TRUE(log->Truncate(cut).ok());
  ASSERT_TRUE(log->AppendAll(MakeRun(cut, 12)).ok());
  ASSERT_TRUE(log->Sync().ok());
  uint64_t end = log->next_offset();
  EXPECT_EQ(end, cut + 12);
  ExpectReadable(log.get(), 1, end);
  log.reset();
  log = Log::Open(dir_.path(), o).value();
  EXPECT_EQ(log->next_offset(), end);
  ExpectReadable(log.get(), 1, end);
}

// While a reader is behind (SetReadersBehind), runs go through the page cache for it.
TEST_F(LogTest, ReadersBehindKeepAppendsInThePageCache) {
  if (!test::DirectIoWorks(dir_.path())) GTEST_SKIP() << "no O_DIRECT on " << dir_.path();
  auto log = OpenZeroFilled(DirectOptions());
  auto run = [&] { ASSERT_TRUE(log->AppendAll(MakeRun(log->next_offset(), 10)).ok()); };
  log->SetReadersBehind(true);
  run();
  EXPECT_EQ(log->stats().direct_writes, 0u);
  log->SetReadersBehind(false);
  run();
  EXPECT_EQ(log->stats().direct_writes, 1u);
  ExpectReadable(log.get(), 1, log->next_offset());
}

TEST_F(LogTest, FailedDirectWriteIsFailStop) {
  if (!test::DirectIoWorks(dir_.path())) GTEST_SKIP() << "no O_DIRECT on " << dir_.path();
  auto o = DirectOptions();
  auto log = OpenZeroFilled(o);
  std::vector<BatchPtr> v = MakeRun(31, 10);
  log->TEST_SetFault([](FileOp op) {
    return op == FileOp::kWrite ? Status::IOError("injected write error") : Status::OK();
  });
  EXPECT_TRUE(log->AppendAll(v).IsIOError());
  EXPECT_TRUE(log->failed());
  EXPECT_EQ(log->next_offset(), 31u);
  log->TEST_SetFault(nullptr);
  EXPECT_TRUE(log->AppendAll(v).IsIOError());
  log.reset();
  log = Log::Open(dir_.path(), o).value();
  EXPECT_EQ(log->next_offset(), 31u);
  ExpectReadable(log.get(), 1, 31);
}

TEST_F(LogTest, BadCrcInTheMiddleOpensDamaged) {
  {
    auto log = Open();
    AppendN(log.get(), 3);
  }
  Flip(SegmentFile(1), kOneRecordBatch + kBatchHeaderBytes + 30);
  auto log = Open();
  Status st = log->damage();
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find(SegmentFile(1)), std::string_view::npos);
  EXPECT_NE(st.message().find("position " + std::to_string(kOneRecordBatch)),
            std::string_view::npos);
  EXPECT_EQ(log->next_offset(), 4u);  // the end of the intact batch after the damage
  EXPECT_TRUE(log->Append(*Make(4, 1)).IsCorruption());
  EXPECT_EQ(FileSize(SegmentFile(1)), 3 * kOneRecordBatch);  // kept for saker-dump
}

TEST_F(LogTest, BadLengthInTheMiddleOpensDamaged) {
  {
    auto log = Open();
    AppendN(log.get(), 3);
  }
  std::string len(4, '\0');
  EncodeFixed32(len.data(), 7);
  Poke(SegmentFile(1), kOneRecordBatch + 4, len);
  EXPECT_TRUE(Open()->damage().IsCorruption());
}

TEST_F(LogTest, RepairOfTheTailKeepsTheBatchesAfterTheDamage) {
  {
    auto log = Open();
    AppendN(log.get(), 3);
  }
  Flip(SegmentFile(1), kOneRecordBatch + kBatchHeaderBytes + 30);
  auto log = Open();
  LogRepair report;
  ASSERT_TRUE(log->Repair(&report).ok());
  EXPECT_FALSE(log->damaged());
  EXPECT_EQ(report.batches_kept, 2u);
  ASSERT_EQ(report.cuts.size(), 1u);
  EXPECT_EQ(report.cuts[0].first_offset, 2u);
  EXPECT_EQ(report.cuts[0].end_offset, 3u);
  EXPECT_EQ(report.cuts[0].position, kOneRecordBatch);
  EXPECT_EQ(report.cuts[0].bytes, kOneRecordBatch);
  EXPECT_EQ(Offsets(log.get()), (std::vector<uint64_t>{1, 3}));
  ASSERT_TRUE(log->Append(*Make(4, 1)).ok());
  ASSERT_TRUE(log->Sync().ok());
  log.reset();
  log = Open();
  EXPECT_FALSE(log->damaged());
  EXPECT_EQ(log->next_offset(), 5u);
}

TEST_F(LogTest, RepairOfACutSealedSegmentLeavesAHole) {
  segment_bytes_ = 3 * kOneRecordBatch;
  {
    auto log = Open();
    AppendN(log.get(), 6);
  }
  ASSERT_EQ(::truncate(SegmentFile(1).c_str(), 2 * kOneRecordBatch + 10), 0);
  auto log = Open();
  EXPECT_TRUE(log->Read(3, 1 << 20).status().IsCorruption());
  EXPECT_TRUE(log->damaged());
  LogRepair report;
  ASSERT_TRUE(log->Repair(&report).ok());
  ASSERT_EQ(report.cuts.size(), 1u);
  EXPECT_EQ(report.cuts[0].first_offset, 3u);
  EXPECT_EQ(report.cuts[0].end_offset, 4u);
  EXPECT_EQ(report.cuts[0].bytes, 10u);
  EXPECT_EQ(Offsets(log.get()), (std::vector<uint64_t>{1, 2, 4, 5, 6}));
  EXPECT_EQ(log->next_offset(), 7u);
}

TEST_F(LogTest, BadLengthAtEndIsCut) {
  {
    auto log = Open();
    AppendN(log.get(), 3);
  }
  std::string len(4, '\0');
  EncodeFixed32(len.data(), 1u << 30);
  Poke(SegmentFile(1), 2 * kOneRecordBatch + 4, len);
  auto log = Open();
  EXPECT_EQ(log->next_offset(), 3u);
}

TEST_F(LogTest, DamageInSealedSegmentIsCorruptionOnRead) {
  segment_bytes_ = 3 * kOneRecordBatch;
  {
    auto log = Open();
    AppendN(log.get(), 7);
  }
  Flip(SegmentFile(1), kOneRecordBatch + kBatchHeaderBytes + 1);
  auto log = Open();  // only the tail is scanned
  EXPECT_EQ(log->next_offset(), 8u);
  auto r = log->Read(2, 100);
  ASSERT_TRUE(r.status().IsCorruption());
  EXPECT_NE(
      r.status().message().find(SegmentFile(1) + " position " + std::to_string(kOneRecordBatch)),
      std::string_view::npos);
  ExpectReadable(log.get(), 4, 8);
}

TEST_F(LogTest, TruncateWithinTail) {
  auto log = Open();
  AppendN(log.get(), 10);
  ASSERT_TRUE(log->Truncate(6).ok());
  EXPECT_EQ(log->next_offset(), 6u);
  EXPECT_EQ(FileSize(SegmentFile(1)), 5 * kOneRecordBatch);
  auto r = log->Read(6, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  AppendN(log.get(), 2);
  ExpectReadable(log.get(), 1, 8);
  log.reset();
  log = Open();
  EXPECT_EQ(log->next_offset(), 8u);
}

TEST_F(LogTest, TruncateAcrossSegments) {
  segment_bytes_ = 3 * kOneRecordBatch;
  auto log = Open();
  for (uint64_t o = 1; o <= 10; o++) ASSERT_TRUE(log->Append(*Make(o, 1, o)).ok());
  ASSERT_TRUE(log->Truncate(5).ok());
  EXPECT_EQ(log->next_offset(), 5u);
  EXPECT_EQ(log->stats().segment_count, 2u);
  EXPECT_EQ(log->stats().last_epoch, 4u);
  EXPECT_FALSE(std::filesystem::exists(SegmentFile(7)));
  EXPECT_FALSE(std::filesystem::exists(SegmentFile(4, "idx")));
  ASSERT_TRUE(log->Truncate(4).ok());  // empties a segment: the epoch comes from the one before
  EXPECT_EQ(log->stats().last_epoch, 3u);
  AppendN(log.get(), 4);
  ExpectReadable(log.get(), 1, 8);
  log.reset();
  log = Open();
  EXPECT_EQ(log->next_offset(), 8u);
  ExpectReadable(log.get(), 1, 8);
}

TEST_F(LogTest, TruncateRejectsBadOffsets) {
  auto log = Open();
  ASSERT_TRUE(log->Append(*Make(1, 3)).ok());
  ASSERT_TRUE(log->Append(*Make(4, 3)).ok());
  EXPECT_TRUE(log->Truncate(8).IsInvalidArgument());
  EXPECT_TRUE(log->Truncate(0).IsInvalidArgument());
  EXPECT_TRUE(log->Truncate(2).IsInvalidArgument());  // inside a batch
  EXPECT_TRUE(log->Truncate(7).ok());                 // a no-op at next_offset
  EXPECT_TRUE(log->Truncate(1).ok());
  EXPECT_EQ(log->next_offset(), 1u);
}

TEST_F(LogTest, AppendAtReplacesTheSuffix) {
  auto log = Open();
  AppendN(log.get(), 5);
  BatchBuilder b;
  b.Add(1, 0, "", "new");
  ASSERT_TRUE(log->AppendAt(*b.Finish(/*epoch=*/2, 3)).ok());
  EXPECT_EQ(log->next_offset(), 4u);
  EXPECT_EQ(log->stats().last_epoch, 2u);
  auto r = log->Read(3, 100);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0]->Record(3).payload, "new");
  b.Add(1, 0, "", "next");
  ASSERT_TRUE(log->AppendAt(*b.Finish(2, 4)).ok());  // at next_offset: a plain append
  EXPECT_EQ(log->next_offset(), 5u);
  b.Add(1, 0, "", "x");
  EXPECT_TRUE(log->AppendAt(*b.Finish(2, 9)).IsInvalidArgument());
}

TEST_F(LogTest, DeleteBelowRemovesWholeSegmentsOnly) {
  segment_bytes_ = 3 * kOneRecordBatch;
  auto log = Open();
  AppendN(log.get(), 10);  // segments 1, 4, 7, 10
  ASSERT_TRUE(log->DeleteBelow(6).ok());
  EXPECT_EQ(log->first_offset(), 4u);
  EXPECT_FALSE(std::filesystem::exists(SegmentFile(1)));
  EXPECT_FALSE(std::filesystem::exists(SegmentFile(1, "idx")));
  EXPECT_TRUE(log->Read(3, 100).status().IsNotFound());
  ExpectReadable(log.get(), 4, 11);
  ASSERT_TRUE(log->DeleteBelow(100).ok());  // never the active segment
  EXPECT_EQ(log->first_offset(), 10u);
  log.reset();
  log = Open();
  EXPECT_EQ(log->first_offset(), 10u);
  EXPECT_EQ(log->next_offset(), 11u);
}

TEST_F(LogTest, DeleteBelowCanLeaveTheUnlinksToTheCaller) {
  segment_bytes_ = 3 * kOneRecordBatch;
  auto log = Open();
  AppendN(log.get(), 10);  // segments 1, 4, 7, 10
  std::vector<std::string> doomed;
  ASSERT_TRUE(log->DeleteBelow(9, &doomed).ok());
  EXPECT_EQ(log->first_offset(), 7u);
  ExpectReadable(log.get(), 7, 11);
  // The files stay until the caller unlinks them, oldest first.
  ASSERT_EQ(doomed.size(), 4u);
  EXPECT_EQ(doomed[0], SegmentFile(1));
  EXPECT_EQ(doomed[2], SegmentFile(4));
  EXPECT_TRUE(std::filesystem::exists(SegmentFile(1)));
  // A crash after the first segment went: the next Open lists the one left, whole, and
  // retention deletes it again.
  ASSERT_TRUE(Log::UnlinkInOrder({doomed[0], doomed[1]}).ok());
  log.reset();
  log = Open();
  EXPECT_EQ(log->first_offset(), 4u);
  EXPECT_EQ(log->next_offset(), 11u);
  ExpectReadable(log.get(), 4, 11);
  doomed.clear();
  ASSERT_TRUE(log->DeleteBelow(9, &doomed).ok());
  ASSERT_TRUE(Log::UnlinkInOrder(doomed).ok());
  EXPECT_FALSE(std::filesystem::exists(SegmentFile(4)));
  EXPECT_FALSE(std::filesystem::exists(SegmentFile(4, "idx")));
  EXPECT_EQ(log->first_offset(), 7u);
}

TEST_F(LogTest, FailedWriteIsFailStop) {
  auto log = Open();
  AppendN(log.get(), 2);
  log->TEST_SetFault([](FileOp op) {
    return op == FileOp::kWrite ? Status::IOError("injected write error") : Status::OK();
  });
  EXPECT_TRUE(log->Append(*Make(3, 1)).IsIOError());
  EXPECT_TRUE(log->failed());
  EXPECT_EQ(log->next_offset(), 3u);
  log->TEST_SetFault(nullptr);
  EXPECT_TRUE(log->Append(*Make(3, 1)).IsIOError());
  EXPECT_TRUE(log->Sync().IsIOError());
  EXPECT_TRUE(log->Truncate(2).IsIOError());
}

TEST_F(LogTest, FailedSyncIsFailStop) {
  auto log = Open();
  AppendN(log.get(), 2);
  log->TEST_SetFault([](FileOp op) {
    return op == FileOp::kSync ? Status::IOError("injected fdatasync error") : Status::OK();
  });
  EXPECT_TRUE(log->Sync().IsIOError());
  EXPECT_TRUE(log->failed());
  log->TEST_SetFault(nullptr);
  EXPECT_TRUE(log->Append(*Make(3, 1)).IsIOError());
}

TEST_F(LogTest, IdleLogHoldsNoDescriptor) {
  cache_ = std::make_shared<FdCache>(2);
  FdCache& cache = *cache_;
  {
    auto log = Open();
    AppendN(log.get(), 3);
    EXPECT_EQ(cache.size(), 1u);
  }
  EXPECT_EQ(cache.size(), 0u);  // a closed log leaves nothing behind
  auto log = Open();            // recovery opens and releases
  EXPECT_EQ(cache.size(), 0u);
  ExpectReadable(log.get(), 1, 4);
}

TEST_F(LogTest, FdCacheEvictsLeastRecentlyUsed) {
  auto cache = std::make_shared<FdCache>(2);
  std::vector<std::unique_ptr<test::TempDir>> dirs;
  std::vector<std::unique_ptr<Log>> logs;
  for (int i = 0; i < 5; i++) {
    dirs.push_back(std::make_unique<test::TempDir>());
    LogOptions o = Options();
    o.fd_cache = cache;
    logs.push_back(Log::Open(dirs.back()->path(), o).value());
    AppendN(logs.back().get(), 2);
    EXPECT_LE(cache->size(), 2u);
  }
  uint64_t opens = cache->opens();
  ExpectReadable(logs[4].get(), 1, 3);  // still cached
  EXPECT_EQ(cache->opens(), opens);
  ExpectReadable(logs[0].get(), 1, 3);  // evicted long ago: reopened
  EXPECT_EQ(cache->opens(), opens + 1);
  for (auto& log : logs) AppendN(log.get(), 1);
  for (auto& log : logs) ExpectReadable(log.get(), 1, 4);
  EXPECT_LE(cache->size(), 2u);
}

}  // namespace
}  // namespace saker::storage

namespace saker::storage {
namespace {

int OpenDescriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n++;
  return n;
}

TEST_F(LogTest, ManyOpenLogsShareABoundedFdCache) {
  constexpr int kLogs = 300;
  auto cache = std::make_shared<FdCache>(16);
  LogOptions o = Options();
  o.fd_cache = cache;
  int fds_before = OpenDescriptors();
  std::vector<std::unique_ptr<Log>> logs;
  for (int i = 0; i < kLogs; i++) {
    logs.push_back(Log::Open(dir_.Join(std::to_string(i)), o).value());
    if (i % 100 == 0) AppendN(logs.back().get(), 1);
  }
  EXPECT_LE(cache->size(), 16u);
  EXPECT_LE(OpenDescriptors(), fds_before + 16);
  logs.clear();
  EXPECT_EQ(cache->size(), 0u);
  for (int i = 0; i < kLogs; i++)
    logs.push_back(Log::Open(dir_.Join(std::to_string(i)), o).value());
  EXPECT_EQ(cache->size(), 0u);  // reopening scans each tail and keeps nothing open
  EXPECT_EQ(logs[100]->next_offset(), 2u);
  EXPECT_EQ(logs[101]->next_offset(), 1u);
}

}  // namespace
}  // namespace saker::storage

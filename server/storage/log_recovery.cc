// Log recovery (log.h, FORMAT.md "Recovery"): Open lists the segments, RecoverTail scans and
// cuts the tail, and sealed segments' sparse indexes are loaded or rebuilt by a header scan.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "server/common/check.h"
#include "server/common/coding.h"
#include "server/common/logging.h"
#include "server/storage/fd_cache.h"
#include "server/storage/log.h"
#include "server/storage/log_internal.h"

namespace saker::storage {
using log_internal::AllZero;
using log_internal::kMaxDirectBytes;
using log_internal::kPage;
using log_internal::PageUp;
using log_internal::PreadFull;

namespace {

constexpr size_t kSegmentNameDigits = 20;
constexpr size_t kIndexEntryBytes = 16;

bool ParseSegmentName(const std::string& name, uint64_t* base_offset) {
  if (name.size() != kSegmentNameDigits + 4 || !name.ends_with(".log")) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < kSegmentNameDigits; i++) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  *base_offset = v;
  return v > 0;
}

// True if an intact batch (valid header and CRC) starts anywhere in data[from, n): damage
// before it is then in the middle of the log, not a torn tail.
bool IntactBatchFollows(const std::string& data, size_t from) {
  char magic[4];
  EncodeFixed32(magic, kBatchMagic);
  std::string_view rest(data);
  for (size_t pos = rest.find(std::string_view(magic, 4), from); pos != std::string_view::npos;
       pos = rest.find(std::string_view(magic, 4), pos + 1)) {
    if (data.size() - pos < kBatchHeaderBytes) return false;
    auto h = BatchHeader::Decode(rest.substr(pos, kBatchHeaderBytes));
    if (!h.ok() || h->length > data.size() - pos) continue;
    if (Batch::Parse(data.substr(pos, h->length)).ok()) return true;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<Log>> Log::Open(const std::string& dir, LogOptions options) {
  std::error_code ec;
  bool created = std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create directory " + dir + ": " + ec.message());
  std::unique_ptr<Log> log(new Log(dir, std::move(options)));
  log->parent_dir_dirty_ = created;
  SAKER_RETURN_IF_ERROR(log->LoadSegments(1));
  return log;
}

Status Log::LoadSegments(uint64_t empty_base) {
  std::vector<uint64_t> bases;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return Status::FromErrno("opendir " + dir_, errno);
  while (dirent* e = ::readdir(d)) {
    uint64_t base = 0;
    if (ParseSegmentName(e->d_name, &base)) bases.push_back(base);
  }
  ::closedir(d);
  std::sort(bases.begin(), bases.end());

  std::vector<std::shared_ptr<Segment>> segments;
  for (uint64_t base : bases) {
    auto seg = std::make_shared<Segment>();
    seg->base_offset = base;
    seg->path = SegmentPath(base, "log");
    seg->index_path = SegmentPath(base, "idx");
    struct stat st;
    if (::stat(seg->path.c_str(), &st) != 0) return Status::FromErrno("stat " + seg->path, errno);
    seg->size.store(static_cast<uint64_t>(st.st_size), std::memory_order_relaxed);
    segments.push_back(std::move(seg));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    segments_ = std::move(segments);
  }
  if (segments_.empty()) {
    auto seg = std::make_shared<Segment>();
    seg->base_offset = empty_base;
    seg->path = SegmentPath(empty_base, "log");
    seg->index_path = SegmentPath(empty_base, "idx");
    seg->index_loaded = true;
    auto file = FileOf(*seg, /*create=*/true);
    if (!file.ok()) return file.status();
    {
      std::lock_guard<std::mutex> lock(mu_);
      segments_.push_back(seg);
    }
    ReleaseTail(seg, 0);
    next_offset_.store(empty_base, std::memory_order_release);
    // Made durable by the first Sync(), before anything in it is reported durable: opening
    // 100,000 new logs costs no fsync.
    dir_dirty_ = true;
  } else {
    SAKER_RETURN_IF_ERROR(RecoverTail());
  }
  first_offset_.store(segments_.front()->base_offset, std::memory_order_release);
  if (options_.fd_cache != nullptr) {
    for (const auto& seg : segments_) options_.fd_cache->Erase(seg->path);
  }
  return Status::OK();
}

// Reads the whole tail segment, checks every batch, and cuts a torn tail (FORMAT.md
// "Recovery"). Damage followed by an intact batch is not a torn write: Corruption.
Status Log::RecoverTail() {
  static auto& log = logging::Get("storage");
  Segment& seg = *segments_.back();
  uint64_t file_size = seg.size.load(std::memory_order_relaxed);
  std::string data(file_size, '\0');
  {
    auto file = FileOf(seg);
    if (!file.ok()) return file.status();
    size_t got = 0;
    SAKER_RETURN_IF_ERROR(PreadFull((*file)->fd(), data.data(), data.size(), 0, &got, seg.path));
    data.resize(got);
  }
  uint64_t next = seg.base_offset;
  uint64_t epoch = 0;
  size_t pos = 0;
  std::string problem;
  bool misplaced = false;  // an intact batch at an unexpected offset: damage, never cut
  while (pos < data.size()) {
    if (data.size() - pos < kBatchHeaderBytes) {
      problem = "torn batch header";
      break;
    }
    auto h = BatchHeader::Decode(std::string_view(data).substr(pos, kBatchHeaderBytes));
    if (!h.ok()) {
      problem = std::string(h.status().message());
      break;
    }
    if (h->length > data.size() - pos) {
      problem = "torn batch (length " + std::to_string(h->length) + " runs past end of file)";
      break;
    }
    auto batch = Batch::Parse(data.substr(pos, h->length));
    if (!batch.ok()) {
      problem = std::string(batch.status().message());
      break;
    }
    if ((*batch)->base_offset() != next) {
      problem = "batch base offset " + std::to_string((*batch)->base_offset()) + ", expected " +
                std::to_string(next);
      misplaced = true;
      break;
    }
    if (pos == 0) seg.first_batch_ms = (*batch)->max_timestamp_ms();
    AddIndexEntry(seg, next, pos);
    next = (*batch)->end_offset();
    epoch = (*batch)->epoch();
    pos += h->length;
  }
  uint64_t file_end = data.size();
  if (pos < data.size() && AllZero(data.data() + pos, data.size() - pos)) {
    // Zeros to the end: space preallocated ahead of the data (or never written). Kept.
  } else if (pos < data.size() && (misplaced || IntactBatchFollows(data, pos + 1))) {
    // Damage in the middle: the log opens damaged and as it is, for reads below the damage,
    // saker-dump and Repair. Its end is the end of the last intact batch.
    Status damage = Status::Corruption(options_.name + " segment " + seg.path + " position " +
                                       std::to_string(pos) + ": " + problem +
                                       (misplaced ? "" : " followed by intact batches"));
    log.error("{} damaged: {}", Prefix(), damage.ToString());
    NoteDamage(damage);
    for (const log_internal::Run& run : log_internal::ScanRuns(data, seg.base_offset)) {
      next = std::max(next, run.end_offset);
    }
    pos = data.size();
  } else if (pos < data.size()) {
    file_end = pos;
    log.warn("{} cutting torn tail of {} at position {} ({} bytes): {}", Prefix(), seg.path, pos,
             data.size() - pos, problem);
    auto file = FileOf(seg);
    if (!file.ok()) return file.status();
    if (::ftruncate((*file)->fd(), static_cast<off_t>(pos)) != 0) {
      return Status::FromErrno("ftruncate " + seg.path, errno);
    }
    if (::fdatasync((*file)->fd()) != 0) return Status::FromErrno("fdatasync " + seg.path, errno);
  }
  seg.size.store(pos, std::memory_order_release);
  ReleaseTail(segments_.back(), file_end);
  {
    std::lock_guard<std::mutex> lock(seg.index_mu);
    seg.index_loaded = true;
  }
  // The tail's index lives in memory until the segment is sealed; a stale file would lie.
  ::unlink(seg.index_path.c_str());
  if (pos == 0 && segments_.size() > 1) {
    // Empty tail: the last epoch is the previous segment's.
    Segment& prev = *segments_[segments_.size() - 2];
    SAKER_RETURN_IF_ERROR(LoadIndex(prev));
    uint64_t from = 0;
    {
      std::lock_guard<std::mutex> lock(prev.index_mu);
      if (!prev.index.empty()) from = prev.index.back().position;
    }
    SAKER_RETURN_IF_ERROR(
        ScanHeaders(prev, from, prev.size.load(), [&](uint64_t, const BatchHeader& h) {
          epoch = h.epoch;
          return true;
        }));
  }
  next_offset_.store(next, std::memory_order_release);
  last_epoch_.store(epoch, std::memory_order_release);
  return Status::OK();
}

void Log::AddIndexEntry(Segment& seg, uint64_t offset, uint64_t position) {
  // Only the writer changes the tail's index, so it may test it without the lock; readers
  // take the lock only to read it.
  if (!seg.index.empty() && position - seg.last_index_position < options_.index_interval_bytes) {
    return;
  }
  std::lock_guard<std::mutex> lock(seg.index_mu);
  seg.index.push_back(IndexEntry{offset, position});
  seg.last_index_position = position;
}

Status Log::ScanHeaders(Segment& seg, uint64_t position, uint64_t limit,
                        const std::function<bool(uint64_t, const BatchHeader&)>& fn) const {
  auto file = FileOf(seg);
  if (!file.ok()) return file.status();
  char buf[kBatchHeaderBytes];
  while (position < limit) {
    size_t got = 0;
    SAKER_RETURN_IF_ERROR(PreadFull((*file)->fd(), buf, sizeof buf, position, &got, seg.path));
    auto h = got == sizeof buf ? BatchHeader::Decode(std::string_view(buf, got))
                               : Result<BatchHeader>(Status::Corruption("torn batch header"));
    if (!h.ok()) {
      return Status::Corruption(options_.name + " segment " + seg.path + " position " +
                                std::to_string(position) + ": " +
                                std::string(h.status().message()));
    }
    if (!fn(position, *h)) break;
    position += h->length;
  }
  return Status::OK();
}

// Sealed segments load their index on first read: from the .idx file when it is sane (it is a
// hint, never trusted further than a header check at read time), else by a header scan.
Status Log::LoadIndex(Segment& seg) const {
  std::lock_guard<std::mutex> lock(seg.index_mu);
  if (seg.index_loaded) return Status::OK();
  uint64_t size = seg.size.load(std::memory_order_acquire);
  std::vector<IndexEntry> index;
  int fd = ::open(seg.index_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st;
    std::string data;
    if (::fstat(fd, &st) == 0 && st.st_size % kIndexEntryBytes == 0) {
      data.resize(static_cast<size_t>(st.st_size));
      size_t got = 0;
      if (!PreadFull(fd, data.data(), data.size(), 0, &got, seg.index_path).ok() ||
          got != data.size()) {
        data.clear();
      }
    }
    ::close(fd);
    for (size_t p = 0; p + kIndexEntryBytes <= data.size(); p += kIndexEntryBytes) {
      IndexEntry e{DecodeFixed64(data.data() + p), DecodeFixed64(data.data() + p + 8)};
      bool sane =
          e.offset >= seg.base_offset && e.position < size &&
          (index.empty() || (e.offset > index.back().offset && e.position > index.back().position));
      if (!sane) {
        index.clear();
        break;
      }
      index.push_back(e);
    }
  }
  if (index.empty() && size > 0) {
    uint64_t last = 0;
    bool first = true;
    Status st = ScanHeaders(seg, 0, size, [&](uint64_t position, const BatchHeader& h) {
      if (first || position - last >= options_.index_interval_bytes) {
        index.push_back(IndexEntry{h.base_offset, position});
        last = position;
        first = false;
      }
      return true;
    });
    if (!st.ok()) return st;
  }
  seg.index = std::move(index);
  seg.index_loaded = true;
  return Status::OK();
}

// Written when a segment is sealed. Not synced: it is a hint that LoadIndex checks.
void Log::WriteIndex(Segment& seg) {
  std::string data;
  {
    std::lock_guard<std::mutex> lock(seg.index_mu);
    for (const auto& e : seg.index) {
      PutFixed64(&data, e.offset);
      PutFixed64(&data, e.position);
    }
  }
  std::string tmp = seg.index_path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  if (fd >= 0) ::close(fd);
  if (!ok || ::rename(tmp.c_str(), seg.index_path.c_str()) != 0) {
    static auto& log = logging::Get("storage");
    log.warn("{} could not write index {}: {}", Prefix(), seg.index_path, std::strerror(errno));
    ::unlink(tmp.c_str());
  }
}

}  // namespace saker::storage

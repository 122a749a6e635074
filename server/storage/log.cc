// Log: segment files named by base offset, each with a sparse index, recovered from the tail
// segment on open (FORMAT.md "Recovery"). Writes go through pwritev at a position the writer
// tracks; readers pread whole batches below the published size, so they never see a partial
// batch. Any failed write or sync makes the log fail-stop: its on-disk state is then unknown.
// This file holds appends, rolls, truncate, retention and reads; recovery lives in
// log_recovery.cc, preallocation and O_DIRECT appends in log_direct.cc.
#include "server/storage/log.h"

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
#include "server/storage/log_internal.h"

namespace saker::storage {
using log_internal::kMaxDirectBytes;
using log_internal::kPage;
using log_internal::PageUp;
using log_internal::PreadFull;

namespace {

constexpr size_t kMinReadChunk = 64 << 10;
constexpr size_t kMaxReadChunk = 4 << 20;
// Zeros an append writes after its data up to the next page boundary (AppendAll).
const char kZeroPage[kPage] = {};

}  // namespace

namespace log_internal {

Status PreadFull(int fd, char* buf, size_t n, uint64_t position, size_t* got,
                 const std::string& path) {
  *got = 0;
  while (*got < n) {
    ssize_t r = ::pread(fd, buf + *got, n - *got, static_cast<off_t>(position + *got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("pread " + path, errno);
    }
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return Status::OK();
}

}  // namespace log_internal

Log::Log(std::string dir, LogOptions options) : dir_(std::move(dir)), options_(std::move(options)) {
  if (options_.segment_bytes < kBatchHeaderBytes) options_.segment_bytes = kBatchHeaderBytes;
  if (options_.index_interval_bytes == 0) options_.index_interval_bytes = 1;
}

Log::~Log() {
  if (options_.fd_cache == nullptr) return;
  // A closed log must leave no descriptor behind (deleted queues, 100,000 idle logs).
  for (const auto& seg : segments_) options_.fd_cache->Erase(seg->path);
}

std::string Log::Prefix() const {
  return "[" + (options_.name.empty() ? dir_ : options_.name) + "]";
}

std::string Log::SegmentPath(uint64_t base_offset, const char* ext) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.%s", static_cast<unsigned long long>(base_offset), ext);
  return dir_ + "/" + name;
}

Result<std::shared_ptr<File>> Log::FileOf(Segment& seg, bool create, bool direct) const {
  if (options_.fd_cache != nullptr) return options_.fd_cache->Get(seg.path, create, direct);
  std::lock_guard<std::mutex> lock(seg.file_mu);
  std::shared_ptr<File>& own = direct ? seg.own_direct_file : seg.own_file;
  if (own == nullptr) {
    auto file = File::Open(seg.path, create, direct);
    if (!file.ok()) return file.status();
    own = std::move(*file);
  }
  return own;
}

Status Log::Fail(Status status) {
  static auto& log = logging::Get("storage");
  // Status::FromErrno carries strerror's text; a fault hook's status does too.
  const std::string_view msg = status.message();
  if (msg.ends_with(std::strerror(ENOSPC)) || msg.ends_with(std::strerror(EDQUOT))) {
    out_of_space_.store(true, std::memory_order_release);
  }
  if (!failed_.exchange(true, std::memory_order_acq_rel)) {
    log.error("{} fail-stop: {}", Prefix(), status.ToString());
  }
  return status;
}

Status Log::Refusal() const {
  if (damaged()) return damage();
  return Status::IOError(options_.name + ": log is fail-stop");
}

Status Log::damage() const {
  std::lock_guard<std::mutex> lock(damage_mu_);
  return damage_;
}

void Log::NoteDamage(const Status& status) const {
  std::lock_guard<std::mutex> lock(damage_mu_);
  if (!damage_.ok()) return;
  damage_ = status;
  damaged_.store(true, std::memory_order_release);
}

// `iov` is consumed: a short write advances it past what was written.
Status Log::WriteAt(Segment& seg, std::vector<iovec>& iov, uint64_t position) {
  if (fault_) {
    Status st = fault_(FileOp::kWrite);
    if (!st.ok()) return Fail(std::move(st));
  }
  auto file = FileOf(seg);
  if (!file.ok()) return Fail(file.status());
  size_t first = 0;
  while (first < iov.size()) {
    ssize_t n = ::pwritev((*file)->fd(), iov.data() + first, static_cast<int>(iov.size() - first),
                          static_cast<off_t>(position));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(Status::FromErrno("write " + seg.path, errno));
    }
    position += static_cast<uint64_t>(n);
    // Short write: skip what was written and go on with the rest.
    size_t left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  active_dirty_ = true;
  return Status::OK();
}

Status Log::SyncFile(Segment& seg) {
  if (fault_) {
    Status st = fault_(FileOp::kSync);
    if (!st.ok()) return Fail(std::move(st));
  }
  auto file = FileOf(seg);
  if (!file.ok()) return Fail(file.status());
  if (::fdatasync((*file)->fd()) != 0)
    return Fail(Status::FromErrno("fdatasync " + seg.path, errno));
  return Status::OK();
}

Status Log::SyncDir() {
  if (fault_) {
    Status st = fault_(FileOp::kSync);
    if (!st.ok()) return Fail(std::move(st));
  }
  // A new log's own directory entry lives in the parent: it must be durable too.
  std::vector<std::string> dirs{dir_};
  if (parent_dir_dirty_) dirs.push_back(std::filesystem::path(dir_).parent_path().string());
  for (const auto& d : dirs) {
    int fd = ::open(d.empty() ? "." : d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Fail(Status::FromErrno("open " + d, errno));
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return Fail(Status::FromErrno("fsync " + d, err));
  }
  dir_dirty_ = false;
  parent_dir_dirty_ = false;
  return Status::OK();
}

Status Log::Roll(uint64_t base_offset) {
  static auto& log = logging::Get("storage");
  Segment& old = *segments_.back();
  uint64_t data_end = old.size.load(std::memory_order_relaxed);
  ClaimTail();
  uint64_t file_size = 0;
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    file_size = allocated_;
  }
  if (file_size > data_end) {
    // A sealed segment ends at its last batch: cut the preallocated zeros.
    auto file = FileOf(old);
    if (!file.ok()) return Fail(file.status());
    if (::ftruncate((*file)->fd(), static_cast<off_t>(data_end)) != 0) {
      return Fail(Status::FromErrno("ftruncate " + old.path, errno));
    }
    active_dirty_ = true;
  }
  // A sealed segment is never torn: it is synced before any later segment exists.
  if (active_dirty_) {
    SAKER_RETURN_IF_ERROR(SyncFile(old));
    active_dirty_ = false;
  }
  WriteIndex(old);
  auto seg = std::make_shared<Segment>();
  seg->base_offset = base_offset;
  seg->path = SegmentPath(base_offset, "log");
  seg->index_path = SegmentPath(base_offset, "idx");
  seg->index_loaded = true;
  auto file = FileOf(*seg, /*create=*/true);
  if (!file.ok()) return Fail(file.status());
  {
    std::lock_guard<std::mutex> lock(mu_);
    segments_.push_back(seg);
  }
  ReleaseTail(seg, 0);
  dir_dirty_ = true;
  log.info("{} rolled to segment {} ({} bytes in the last one)", Prefix(), seg->path,
           old.size.load(std::memory_order_relaxed));
  return Status::OK();
}

Status Log::Append(const Batch& batch) {
  const Batch* one = &batch;
  return AppendAll(std::span<const Batch* const>(&one, 1));
}

Status Log::AppendAll(const std::vector<BatchPtr>& batches) {
  std::vector<const Batch*> borrowed;
  borrowed.reserve(batches.size());
  for (const auto& b : batches) borrowed.push_back(b.get());
  return AppendAll(borrowed);
}

Status Log::AppendAll(std::span<const Batch* const> batches) {
  if (failed() || damaged()) return Refusal();
  uint64_t expected = next_offset();
  for (const Batch* b : batches) {
    if (b->base_offset() != expected) {
      return Status::InvalidArgument(options_.name + ": batch base offset " +
                                     std::to_string(b->base_offset()) + ", expected " +
                                     std::to_string(expected));
    }
    expected = b->end_offset();
  }
  size_t i = 0;
  while (i < batches.size()) {
    Segment* seg = segments_.back().get();
    uint64_t size = seg->size.load(std::memory_order_relaxed);
    bool full = size > 0 && size + batches[i]->size_bytes() > options_.segment_bytes;
    bool old = size > 0 && options_.segment_age_ms > 0 &&
               options_.clock->NowWallMs() - seg->first_batch_ms >= options_.segment_age_ms;
    if (full || old) {
      SAKER_RETURN_IF_ERROR(Roll(batches[i]->base_offset()));
      seg = segments_.back().get();
      size = 0;
    }
    iov_.clear();
    uint64_t run_bytes = 0;
    size_t j = i;
    while (j < batches.size() && iov_.size() < IOV_MAX - 2 &&
           (j == i || size + run_bytes + batches[j]->size_bytes() <= options_.segment_bytes)) {
      AddIndexEntry(*seg, batches[j]->base_offset(), size + run_bytes);
      iov_.push_back(
          iovec{const_cast<char*>(batches[j]->bytes().data()), batches[j]->size_bytes()});
      run_bytes += batches[j]->size_bytes();
      j++;
    }
    uint64_t end = size + run_bytes;
    uint64_t file_size = ReserveTail(end);
    uint64_t page_end = PageUp(end);
    bool direct = options_.sync.mode == SyncPolicy::Mode::kAlways &&
                  options_.direct_min_bytes > 0 && run_bytes >= options_.direct_min_bytes &&
                  !readers_behind_.load(std::memory_order_relaxed) && page_end <= file_size &&
                  page_end - size / kPage * kPage <= kMaxDirectBytes && StartDirect(*seg, size);
    if (direct) {
      SAKER_RETURN_IF_ERROR(WriteDirect(*seg, size, run_bytes));
    } else {
      uint64_t position = size;
      if (direct_) {
        // Back from direct writes: the page under `size` is not in the page cache, so the
        // write starts at its boundary with head_ rather than make the kernel read it.
        iov_.insert(iov_.begin(), iovec{head_.data(), head_.size()});
        position -= head_.size();
      }
      // The write also rewrites the zeros after the data up to the next page boundary when
      // they are already in the file (preallocated, so the file size does not change): a
      // write ending inside a page that is not in the page cache (the zero-fill went out
      // with O_DIRECT) makes the kernel read that page from disk first, synchronously.
      if (page_end > end && page_end <= file_size) {
        iov_.push_back(iovec{const_cast<char*>(kZeroPage), page_end - end});
      }
      Status st = WriteAt(*seg, iov_, position);
      EndDirect();
      SAKER_RETURN_IF_ERROR(st);
    }
    if (size == 0) seg->first_batch_ms = options_.clock->NowWallMs();
    // Publish size before next_offset: a reader that sees an offset finds its bytes.
    seg->size.store(size + run_bytes, std::memory_order_release);
    last_epoch_.store(batches[j - 1]->epoch(), std::memory_order_release);
    next_offset_.store(batches[j - 1]->end_offset(), std::memory_order_release);
    i = j;
  }
  return Status::OK();
}

Status Log::Sync() {
  if (failed()) return Refusal();
  if (active_dirty_) {
    SAKER_RETURN_IF_ERROR(SyncFile(*segments_.back()));
    active_dirty_ = false;
  }
  if (dir_dirty_) SAKER_RETURN_IF_ERROR(SyncDir());
  return Status::OK();
}

Status Log::RemoveSegmentFiles(const Segment& seg) {
  if (options_.fd_cache != nullptr) options_.fd_cache->Erase(seg.path);
  ::unlink(seg.index_path.c_str());
  if (::unlink(seg.path.c_str()) != 0 && errno != ENOENT) {
    return Fail(Status::FromErrno("unlink " + seg.path, errno));
  }
  dir_dirty_ = true;
  return Status::OK();
}

Status Log::Truncate(uint64_t offset) {
  if (failed() || damaged()) return Refusal();
  if (offset < first_offset() || offset > next_offset()) {
    return Status::InvalidArgument(options_.name + ": truncate to " + std::to_string(offset) +
                                   " outside [" + std::to_string(first_offset()) + ", " +
                                   std::to_string(next_offset()) + "]");
  }
  if (offset == next_offset()) return Status::OK();
  size_t k = segments_.size() - 1;
  while (k > 0 && segments_[k]->base_offset > offset) k--;
  Segment& seg = *segments_[k];
  SAKER_RETURN_IF_ERROR(LoadIndex(seg));
  uint64_t from = 0;
  {
    std::lock_guard<std::mutex> lock(seg.index_mu);
    for (const auto& e : seg.index) {
      if (e.offset > offset) break;
      from = e.position;
    }
  }
  uint64_t cut = UINT64_MAX;
  uint64_t epoch = 0;
  SAKER_RETURN_IF_ERROR(
      ScanHeaders(seg, from, seg.size.load(), [&](uint64_t pos, const BatchHeader& h) {
        if (h.base_offset >= offset) {
          if (h.base_offset == offset) cut = pos;
          return false;
        }
        epoch = h.epoch;
        return true;
      }));
  if (cut == UINT64_MAX) {
    return Status::InvalidArgument(options_.name + ": truncate to " + std::to_string(offset) +
                                   ": not a batch boundary");
  }
  ClaimTail();
  std::vector<std::shared_ptr<Segment>> removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    removed.assign(segments_.begin() + static_cast<long>(k) + 1, segments_.end());
    segments_.resize(k + 1);
  }
  // Readers learn of the cut before any byte goes away: a Read that overlaps it is redone.
  truncations_.fetch_add(1, std::memory_order_acq_rel);
  for (const auto& r : removed) SAKER_RETURN_IF_ERROR(RemoveSegmentFiles(*r));
  // Shrink what readers may read before the bytes go away.
  seg.size.store(cut, std::memory_order_release);
  next_offset_.store(offset, std::memory_order_release);
  auto file = FileOf(seg);
  if (!file.ok()) return Fail(file.status());
  if (fault_) {
    Status st = fault_(FileOp::kWrite);
    if (!st.ok()) return Fail(std::move(st));
  }
  if (::ftruncate((*file)->fd(), static_cast<off_t>(cut)) != 0) {
    return Fail(Status::FromErrno("ftruncate " + seg.path, errno));
  }
  ReleaseTail(segments_[k], cut);
  SAKER_RETURN_IF_ERROR(SyncFile(seg));
  active_dirty_ = false;
  ::unlink(seg.index_path.c_str());
  {
    std::lock_guard<std::mutex> lock(seg.index_mu);
    while (!seg.index.empty() && seg.index.back().position >= cut) seg.index.pop_back();
    seg.last_index_position = seg.index.empty() ? 0 : seg.index.back().position;
  }
  if (cut == 0) {
    seg.first_batch_ms = 0;
  } else if (seg.first_batch_ms == 0) {
    seg.first_batch_ms = options_.clock->NowWallMs();  // a sealed segment became active
  }
  if (epoch == 0 && cut == 0 && k > 0) {
    Segment& prev = *segments_[k - 1];
    SAKER_RETURN_IF_ERROR(LoadIndex(prev));
    uint64_t prev_from = 0;
    {
      std::lock_guard<std::mutex> lock(prev.index_mu);
      if (!prev.index.empty()) prev_from = prev.index.back().position;
    }
    SAKER_RETURN_IF_ERROR(
        ScanHeaders(prev, prev_from, prev.size.load(), [&](uint64_t, const BatchHeader& h) {
          epoch = h.epoch;
          return true;
        }));
  }
  last_epoch_.store(epoch, std::memory_order_release);
  if (dir_dirty_) SAKER_RETURN_IF_ERROR(SyncDir());
  return Status::OK();
}

Status Log::AppendAt(const Batch& batch) {
  if (batch.base_offset() != next_offset()) SAKER_RETURN_IF_ERROR(Truncate(batch.base_offset()));
  return Append(batch);
}

Status Log::DeleteBelow(uint64_t offset, std::vector<std::string>* doomed) {
  if (failed()) return Status::IOError(options_.name + ": log is fail-stop");
  std::vector<std::shared_ptr<Segment>> removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    while (n + 1 < segments_.size() && segments_[n + 1]->base_offset <= offset) n++;
    removed.assign(segments_.begin(), segments_.begin() + static_cast<long>(n));
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<long>(n));
    first_offset_.store(segments_.front()->base_offset, std::memory_order_release);
  }
  if (doomed != nullptr) {
    for (const auto& r : removed) {
      if (options_.fd_cache != nullptr) options_.fd_cache->Erase(r->path);
      doomed->push_back(r->path);
      doomed->push_back(r->index_path);
    }
    return Status::OK();
  }
  for (const auto& r : removed) SAKER_RETURN_IF_ERROR(RemoveSegmentFiles(*r));
  if (dir_dirty_) SAKER_RETURN_IF_ERROR(SyncDir());
  return Status::OK();
}

Status Log::UnlinkInOrder(const std::vector<std::string>& files) {
  Status first;
  std::set<std::string> dirs;
  for (const std::string& f : files) {
    if (::unlink(f.c_str()) != 0 && errno != ENOENT && first.ok()) {
      first = Status::FromErrno("unlink " + f, errno);
    }
    dirs.insert(std::filesystem::path(f).parent_path().string());
  }
  for (const std::string& d : dirs) {
    int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) continue;  // the queue's folder is gone: nothing left to make durable
    if (::fsync(fd) != 0 && first.ok()) first = Status::FromErrno("fsync " + d, errno);
    ::close(fd);
  }
  return first;
}

// A seqlock read: the bytes of a batch cut while it was read may already be the next append's,
// so a read that saw truncations() change is redone rather than returned.
Result<std::vector<BatchPtr>> Log::Read(uint64_t offset, size_t max_bytes) const {
  while (true) {
    const uint64_t before = truncations();
    auto out = ReadOnce(offset, max_bytes);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (truncations() != before) continue;
    if (out.status().IsCorruption()) NoteDamage(out.status());
    return out;
  }
}

Result<std::vector<BatchPtr>> Log::ReadOnce(uint64_t offset, size_t max_bytes) const {
  std::vector<BatchPtr> out;
  uint64_t next = next_offset();
  if (offset < first_offset()) {
    return Status::NotFound(options_.name + ": offset " + std::to_string(offset) +
                            " is below the first offset " + std::to_string(first_offset()));
  }
  if (offset >= next) return out;
  std::vector<std::shared_ptr<Segment>> segs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                               [](uint64_t o, const auto& s) { return o < s->base_offset; });
    if (it == segments_.begin()) {
      return Status::NotFound(options_.name + ": offset " + std::to_string(offset) +
                              " was deleted");
    }
    segs.assign(it - 1, segments_.end());
  }
  size_t collected = 0;
  for (const auto& seg : segs) {
    uint64_t limit = seg->size.load(std::memory_order_acquire);
    SAKER_RETURN_IF_ERROR(ReadFromSegment(*seg, limit, offset, max_bytes, &collected, &out));
    if (collected >= max_bytes || (!out.empty() && out.back()->end_offset() >= next)) break;
  }
  return out;
}

Status Log::ReadFromSegment(Segment& seg, uint64_t limit, uint64_t offset, size_t max_bytes,
                            size_t* collected, std::vector<BatchPtr>* out) const {
  SAKER_RETURN_IF_ERROR(LoadIndex(seg));
  uint64_t pos = 0;
  uint64_t expect = seg.base_offset;  // base offset of the batch at pos
  {
    std::lock_guard<std::mutex> lock(seg.index_mu);
    auto it = std::upper_bound(seg.index.begin(), seg.index.end(), offset,
                               [](uint64_t o, const IndexEntry& e) { return o < e.offset; });
    if (it != seg.index.begin() && (it - 1)->position < limit) {
      pos = (it - 1)->position;
      expect = (it - 1)->offset;
    }
  }
  bool from_index = pos != 0;
  auto file = FileOf(seg);
  if (!file.ok()) return file.status();
  auto corrupt = [&](uint64_t at, std::string_view what) {
    return Status::Corruption(options_.name + " segment " + seg.path + " position " +
                              std::to_string(at) + ": " + std::string(what));
  };
  size_t chunk = std::clamp(max_bytes, kMinReadChunk, kMaxReadChunk);
  std::string buf;
  uint64_t buf_start = 0;
  // Makes buf hold [at, at + n); reads at least a chunk to amortize syscalls.
  auto ensure = [&](uint64_t at, size_t n) -> Status {
    if (at >= buf_start && at + n <= buf_start + buf.size()) return Status::OK();
    size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(n, chunk), limit - at));
    buf.resize(want);
    size_t got = 0;
    SAKER_RETURN_IF_ERROR(PreadFull((*file)->fd(), buf.data(), want, at, &got, seg.path));
    buf.resize(got);
    buf_start = at;
    if (got < n) return corrupt(at, "batch runs past end of segment");
    return Status::OK();
  };
  while (pos < limit && (out->empty() || *collected < max_bytes)) {
    if (limit - pos < kBatchHeaderBytes) return corrupt(pos, "torn batch header");
    SAKER_RETURN_IF_ERROR(ensure(pos, kBatchHeaderBytes));
    auto h = BatchHeader::Decode(std::string_view(buf).substr(pos - buf_start, kBatchHeaderBytes));
    if (from_index && (!h.ok() || h->base_offset != expect)) {
      // The index is a hint and this one lied: walk the segment from its start.
      pos = 0;
      expect = seg.base_offset;
      from_index = false;
      continue;
    }
    from_index = false;
    if (!h.ok()) return corrupt(pos, h.status().message());
    if (h->length > limit - pos) return corrupt(pos, "batch runs past end of segment");
    if (h->base_offset != expect) {
      return corrupt(pos, "batch base offset " + std::to_string(h->base_offset) + ", expected " +
                              std::to_string(expect));
    }
    expect = h->base_offset + h->count;
    if (h->base_offset + h->count > offset) {
      SAKER_RETURN_IF_ERROR(ensure(pos, h->length));
      auto batch = Batch::Parse(buf.substr(pos - buf_start, h->length));
      if (!batch.ok()) return corrupt(pos, batch.status().message());
      out->push_back(std::move(*batch));
      *collected += h->length;
    }
    pos += h->length;
  }
  if (pos < limit && options_.readahead_bytes > 0) {
    ::posix_fadvise((*file)->fd(), static_cast<off_t>(pos),
                    static_cast<off_t>(options_.readahead_bytes), POSIX_FADV_WILLNEED);
  }
  return Status::OK();
}

LogStats Log::stats() const {
  LogStats s;
  s.first_offset = first_offset();
  s.next_offset = next_offset();
  s.last_epoch = last_epoch_.load(std::memory_order_acquire);
  s.direct_writes = direct_writes_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  s.segment_count = segments_.size();
  for (const auto& seg : segments_) s.size_bytes += seg->size.load(std::memory_order_acquire);
  return s;
}

}  // namespace saker::storage

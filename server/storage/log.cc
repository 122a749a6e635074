// Log: segment files named by base offset, each with a sparse index, recovered from the tail
// segment on open (FORMAT.md "Recovery"). Writes go through pwritev at a position the writer
// tracks; readers pread whole batches below the published size, so they never see a partial
// batch. Any failed write or sync makes the log fail-stop: its on-disk state is then unknown.
#include "server/storage/log.h"

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
#include "server/common/crc32c.h"
#include "server/common/logging.h"
#include "server/storage/fd_cache.h"

namespace saker::storage {
namespace {

constexpr size_t kSegmentNameDigits = 20;
constexpr size_t kIndexEntryBytes = 16;
constexpr size_t kMinReadChunk = 64 << 10;
constexpr size_t kMaxReadChunk = 4 << 20;
constexpr uint64_t kPage = 4096;
// Zeros an append writes after its data up to the next page boundary (AppendAll).
const char kZeroPage[kPage] = {};
// Larger runs go through the page cache even when they could go direct (one batch of
// many MiB): the staging buffer stays small.
constexpr uint64_t kMaxDirectBytes = 4 << 20;

uint64_t PageUp(uint64_t n) { return (n + kPage - 1) / kPage * kPage; }

// The aligned buffer a direct write is assembled in: one per writer thread, shared by the
// logs it writes (each log has one writer at a time).
char* StagingBuffer(size_t bytes) {
  struct Buffer {
    char* data = nullptr;
    size_t capacity = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buf;
  if (bytes > buf.capacity) {
    std::free(buf.data);
    buf.data = nullptr;
    buf.capacity = 0;
    void* p = nullptr;
    size_t capacity = std::max<size_t>(bytes, 256 << 10);
    SAKER_CHECK(::posix_memalign(&p, kPage, capacity) == 0);
    buf.data = static_cast<char*>(p);
    buf.capacity = capacity;
  }
  return buf.data;
}

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

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != 0) return false;
  }
  return true;
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

struct Log::Segment {
  uint64_t base_offset = 0;
  std::string path;        // <base>.log
  std::string index_path;  // <base>.idx
  // Bytes of whole batches written; published (release) after each write.
  std::atomic<uint64_t> size{0};
  // Without an FdCache: opened once and kept (the O_DIRECT one for direct appends).
  std::shared_ptr<File> own_file;
  std::shared_ptr<File> own_direct_file;
  // Writer only: wall time of the first batch (age roll), 0 while empty; index bookkeeping.
  int64_t first_batch_ms = 0;
  uint64_t last_index_position = 0;
  std::mutex index_mu;
  bool index_loaded = false;  // guarded by index_mu
  // Guarded by index_mu, sorted by offset; only the writer changes a tail's, and it may read
  // that one without the lock.
  std::vector<IndexEntry> index;
  std::mutex file_mu;  // guards own_file and own_direct_file
};

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
  if (!failed_.exchange(true, std::memory_order_acq_rel)) {
    log.error("{} fail-stop: {}", Prefix(), status.ToString());
  }
  return status;
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

Result<std::unique_ptr<Log>> Log::Open(const std::string& dir, LogOptions options) {
  std::error_code ec;
  bool created = std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create directory " + dir + ": " + ec.message());
  std::unique_ptr<Log> log(new Log(dir, std::move(options)));
  log->parent_dir_dirty_ = created;

  std::vector<uint64_t> bases;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::FromErrno("opendir " + dir, errno);
  while (dirent* e = ::readdir(d)) {
    uint64_t base = 0;
    if (ParseSegmentName(e->d_name, &base)) bases.push_back(base);
  }
  ::closedir(d);
  std::sort(bases.begin(), bases.end());

  for (uint64_t base : bases) {
    auto seg = std::make_shared<Segment>();
    seg->base_offset = base;
    seg->path = log->SegmentPath(base, "log");
    seg->index_path = log->SegmentPath(base, "idx");
    struct stat st;
    if (::stat(seg->path.c_str(), &st) != 0) return Status::FromErrno("stat " + seg->path, errno);
    seg->size.store(static_cast<uint64_t>(st.st_size), std::memory_order_relaxed);
    log->segments_.push_back(std::move(seg));
  }
  if (log->segments_.empty()) {
    auto seg = std::make_shared<Segment>();
    seg->base_offset = 1;
    seg->path = log->SegmentPath(1, "log");
    seg->index_path = log->SegmentPath(1, "idx");
    seg->index_loaded = true;
    auto file = log->FileOf(*seg, /*create=*/true);
    if (!file.ok()) return file.status();
    log->segments_.push_back(seg);
    log->ReleaseTail(seg, 0);
    // Made durable by the first Sync(), before anything in it is reported durable: opening
    // 100,000 new logs costs no fsync.
    log->dir_dirty_ = true;
  } else {
    SAKER_RETURN_IF_ERROR(log->RecoverTail());
  }
  log->first_offset_.store(log->segments_.front()->base_offset, std::memory_order_release);
  if (log->options_.fd_cache != nullptr) {
    for (const auto& seg : log->segments_) log->options_.fd_cache->Erase(seg->path);
  }
  return log;
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
      return Status::Corruption(options_.name + " segment " + seg.path + " position " +
                                std::to_string(pos) + ": batch base offset " +
                                std::to_string((*batch)->base_offset()) + ", expected " +
                                std::to_string(next));
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
  } else if (pos < data.size()) {
    file_end = pos;
    if (IntactBatchFollows(data, pos + 1)) {
      return Status::Corruption(options_.name + " segment " + seg.path + " position " +
                                std::to_string(pos) + ": " + problem +
                                " followed by intact batches");
    }
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

// The writer never waits for more than one piece of a zero-fill: tail_wanted_ makes
// Preallocate stop at the next piece.
uint64_t Log::ReserveTail(uint64_t end) {
  std::unique_lock<std::mutex> lock(alloc_mu_);
  if (allocating_ && end > allocated_) {
    tail_wanted_ = true;
    alloc_cv_.wait(lock, [&] { return !allocating_ || end <= allocated_; });
    tail_wanted_ = false;
  }
  allocated_ = std::max(allocated_, end);
  return allocated_;
}

void Log::ClaimTail() {
  EndDirect();  // head_ is about to be cut or sealed
  std::unique_lock<std::mutex> lock(alloc_mu_);
  tail_wanted_ = true;
  alloc_cv_.wait(lock, [&] { return !allocating_; });
  tail_wanted_ = false;
  allocating_ = true;
}

void Log::ReleaseTail(std::shared_ptr<Segment> seg, uint64_t file_size) {
  std::lock_guard<std::mutex> lock(alloc_mu_);
  alloc_segment_ = std::move(seg);
  allocated_ = file_size;
  allocating_ = false;
  alloc_failed_ = false;
  alloc_cv_.notify_all();
}

uint64_t Log::PreallocationLimit() const {
  return (options_.segment_bytes + kPage - 1) / kPage * kPage;
}

bool Log::NeedsPreallocation() const {
  if (options_.preallocate_bytes == 0 || failed()) return false;
  std::lock_guard<std::mutex> lock(alloc_mu_);
  if (allocating_ || alloc_failed_ || alloc_segment_ == nullptr) return false;
  if (allocated_ >= PreallocationLimit()) return false;
  uint64_t data_end = alloc_segment_->size.load(std::memory_order_acquire);
  uint64_t chunk = PreallocationChunk(data_end);
  return chunk > 0 && allocated_ - data_end < chunk / 2;
}

// A tail gets zero-filled space only once it holds preallocate_bytes / 16 of data, and never
// more than it holds: 100,000 quiet queues cost no disk space, a busy one at most twice its
// data and preallocate_bytes.
uint64_t Log::PreallocationChunk(uint64_t data_end) const {
  if (data_end < options_.preallocate_bytes / 16 || data_end == 0) return 0;
  return std::min(options_.preallocate_bytes, data_end);
}

// Zeros go out with O_DIRECT from one aligned buffer: no page-cache copy and no dirty pages
// for the writer's fdatasync to flush. The fdatasyncs make the new file size durable, after
// which appends into the range need no journal commit. Each 1 MiB piece is synced at once:
// on a disk whose cache flush takes as long as the data it holds, one fdatasync of 16 MiB of
// zeros holds up the writer's fdatasyncs for all of that time (measured on the virtio disk
// of docs/BENCHMARKS.md, 84 KiB append + fdatasync next to a 16 MiB zero-fill: p99 1.9-4.4
// ms with one sync per 16 MiB, 1.4-1.9 ms with one per MiB, 1.2-2.0 ms with no zero-fill).
// A start that is not page aligned leaves a hole of less than a page, filled by the next
// append.
Status Log::Preallocate() {
  static auto& log = logging::Get("storage");
  constexpr size_t kZeroBytes = 1 << 20;
  static char* const zeros = [] {
    void* p = nullptr;
    SAKER_CHECK(::posix_memalign(&p, kPage, kZeroBytes) == 0);
    std::memset(p, 0, kZeroBytes);
    return static_cast<char*>(p);
  }();
  std::shared_ptr<Segment> seg;
  uint64_t from = 0;
  uint64_t to = 0;
  {
    std::lock_guard<std::mutex> lock(alloc_mu_);
    if (options_.preallocate_bytes == 0 || allocating_ || alloc_failed_ ||
        alloc_segment_ == nullptr || allocated_ >= PreallocationLimit()) {
      return Status::OK();
    }
    seg = alloc_segment_;
    from = allocated_;
    uint64_t chunk = PreallocationChunk(alloc_segment_->size.load(std::memory_order_acquire));
    if (chunk == 0) return Status::OK();
    to = std::min((from + chunk + kPage - 1) / kPage * kPage, PreallocationLimit());
    allocating_ = true;
  }
  Status st;
  int fd = ::open(seg->path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  bool direct = fd >= 0;
  if (!direct) fd = ::open(seg->path.c_str(), O_WRONLY | O_CLOEXEC);  // no O_DIRECT (tmpfs)
  if (fd < 0) st = Status::FromErrno("open " + seg->path, errno);
  uint64_t pos = direct ? (from + kPage - 1) / kPage * kPage : from;
  while (st.ok() && pos < to) {
    {
      // The writer waits for this range: stop at a synced piece.
      std::lock_guard<std::mutex> lock(alloc_mu_);
      if (tail_wanted_) break;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroBytes, to - pos));
    ssize_t w = ::pwrite(fd, zeros, n, static_cast<off_t>(pos));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      st = Status::FromErrno("write " + seg->path, w < 0 ? errno : EIO);
      break;
    }
    pos += static_cast<uint64_t>(w);
    if (::fdatasync(fd) != 0) st = Status::FromErrno("fdatasync " + seg->path, errno);
  }
  if (fd >= 0) ::close(fd);
  std::lock_guard<std::mutex> lock(alloc_mu_);
  allocating_ = false;
  if (st.ok()) {
    allocated_ = std::max(allocated_, std::max(pos, from));
  } else {
    alloc_failed_ = true;
    log.warn("{} preallocation of {} stopped: {}", Prefix(), seg->path, st.ToString());
  }
  alloc_cv_.notify_all();
  return st;
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
  if (failed()) return Status::IOError(options_.name + ": log is fail-stop");
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

bool Log::StartDirect(Segment& seg, uint64_t size) {
  if (direct_) return true;
  if (direct_unsupported_) return false;
  auto direct = FileOf(seg, /*create=*/false, /*direct=*/true);
  if (!direct.ok()) {
    if (direct.status().IsInvalidArgument()) direct_unsupported_ = true;
    return false;
  }
  // The bytes before `size` in its page, read through the page cache (the last write put
  // them there).
  auto file = FileOf(seg);
  std::string head(size % kPage, '\0');
  size_t got = 0;
  if (!file.ok() ||
      !PreadFull((*file)->fd(), head.data(), head.size(), size - head.size(), &got, seg.path)
           .ok() ||
      got != head.size()) {
    return false;
  }
  direct_ = true;
  head_ = std::move(head);
  return true;
}

Status Log::WriteDirect(Segment& seg, uint64_t size, uint64_t run_bytes) {
  if (fault_) {
    Status st = fault_(FileOp::kWrite);
    if (!st.ok()) return Fail(std::move(st));
  }
  auto file = FileOf(seg, /*create=*/false, /*direct=*/true);
  if (!file.ok()) return Fail(file.status());
  size_t bytes = head_.size() + run_bytes;
  size_t padded = PageUp(bytes);
  char* buf = StagingBuffer(padded);
  char* w = buf;
  std::memcpy(w, head_.data(), head_.size());
  w += head_.size();
  for (const iovec& v : iov_) {
    std::memcpy(w, v.iov_base, v.iov_len);
    w += v.iov_len;
  }
  std::memset(w, 0, padded - bytes);
  uint64_t position = size - head_.size();
  size_t done = 0;
  while (done < padded) {
    ssize_t n =
        ::pwrite((*file)->fd(), buf + done, padded - done, static_cast<off_t>(position + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(Status::FromErrno("write " + seg.path, errno));
    // A direct write stops only at a block boundary; anything else leaves the tail unknown.
    if (n == 0 || static_cast<uint64_t>(n) % kPage != 0) {
      return Fail(Status::IOError("write " + seg.path + ": short direct write of " +
                                  std::to_string(n) + " bytes"));
    }
    done += static_cast<size_t>(n);
  }
  head_.assign(buf + bytes / kPage * kPage, bytes % kPage);
  active_dirty_ = true;
  direct_writes_.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

void Log::EndDirect() {
  direct_ = false;
  head_ = std::string();
}

Status Log::Sync() {
  if (failed()) return Status::IOError(options_.name + ": log is fail-stop");
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
  if (failed()) return Status::IOError(options_.name + ": log is fail-stop");
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
    if (truncations() == before) return out;
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

// Log's zero-filled tail and O_DIRECT appends (log.h Preallocate, StartDirect): the tail is
// zero-filled ahead of the writer so an fdatasync changes no file size, and large `always`
// runs landing there skip the page cache.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "server/common/check.h"
#include "server/common/coding.h"
#include "server/common/logging.h"
#include "server/storage/fd_cache.h"
#include "server/storage/log.h"
#include "server/storage/log_internal.h"

namespace saker::storage {
using log_internal::kMaxDirectBytes;
using log_internal::kPage;
using log_internal::PageUp;
using log_internal::PreadFull;

namespace {

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

}  // namespace

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

Status Log::ReleasePreallocation() {
  std::unique_lock<std::mutex> lock(alloc_mu_);
  alloc_failed_ = true;  // no more zero-filling of this tail
  tail_wanted_ = true;   // a Preallocate() in progress stops at its next synced piece
  alloc_cv_.wait(lock, [this] { return !allocating_; });
  tail_wanted_ = false;
  if (alloc_segment_ == nullptr) return Status::OK();
  const uint64_t data_end = alloc_segment_->size.load(std::memory_order_acquire);
  struct stat st;
  if (::stat(alloc_segment_->path.c_str(), &st) != 0) {
    return Status::FromErrno("stat " + alloc_segment_->path, errno);
  }
  if (static_cast<uint64_t>(st.st_size) <= data_end) return Status::OK();
  if (::truncate(alloc_segment_->path.c_str(), static_cast<off_t>(data_end)) != 0) {
    return Status::FromErrno("truncate " + alloc_segment_->path, errno);
  }
  allocated_ = data_end;
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

}  // namespace saker::storage

// Log repair and resume (log.h Repair, Resume; FORMAT.md "Repair"): a damaged log is salvaged
// by cutting its damaged bytes and keeping every intact batch, a log that stopped on a full
// disk is reloaded from its files once a probe write works. Both end by rebuilding the segment
// list as Open does.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "server/common/coding.h"
#include "server/storage/fd_cache.h"
#include "server/storage/log.h"
#include "server/storage/log_internal.h"

namespace saker::storage {
using log_internal::AllZero;
using log_internal::kPage;
using log_internal::PreadFull;
using log_internal::Run;

namespace log_internal {

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != 0) return false;
  }
  return true;
}

std::vector<Run> ScanRuns(const std::string& data, uint64_t base) {
  auto intact_at = [&](size_t at, BatchHeader* h) {
    if (data.size() - at < kBatchHeaderBytes) return false;
    auto decoded = BatchHeader::Decode(std::string_view(data).substr(at, kBatchHeaderBytes));
    if (!decoded.ok() || decoded->length > data.size() - at) return false;
    if (!Batch::Parse(data.substr(at, decoded->length)).ok()) return false;
    *h = *decoded;
    return true;
  };
  char magic[4];
  EncodeFixed32(magic, kBatchMagic);
  std::vector<Run> runs;
  Run run;
  bool in_run = false;
  uint64_t expect = base;
  size_t pos = 0;
  while (pos < data.size()) {
    BatchHeader h;
    const bool ok = intact_at(pos, &h);
    if (ok && h.base_offset >= expect && (!in_run || h.base_offset == expect)) {
      if (!in_run) run = Run{pos, pos, h.base_offset, h.base_offset, 0};
      in_run = true;
      run.end_position = pos + h.length;
      run.end_offset = h.base_offset + h.count;
      run.batches++;
      expect = run.end_offset;
      pos += h.length;
      continue;
    }
    if (in_run) {
      runs.push_back(run);
      in_run = false;
      if (ok && h.base_offset > expect) continue;  // a run of its own starts here
    }
    if (AllZero(data.data() + pos, data.size() - pos)) break;
    size_t next = std::string::npos;
    for (size_t p = data.find(std::string_view(magic, 4), pos + 1); p != std::string::npos;
         p = data.find(std::string_view(magic, 4), p + 1)) {
      BatchHeader candidate;
      if (intact_at(p, &candidate) && candidate.base_offset >= expect) {
        next = p;
        break;
      }
    }
    if (next == std::string::npos) break;
    pos = next;
  }
  if (in_run) runs.push_back(run);
  return runs;
}

}  // namespace log_internal

namespace {

Status SyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  int rc = ::fdatasync(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? Status::OK() : Status::FromErrno("fdatasync " + path, err);
}

// Writes `bytes` as the file `path`, durably: a temporary file, fdatasync, rename.
Status WriteFileDurably(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open " + tmp, errno);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = Status::FromErrno("write " + tmp, errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return st;
    }
    done += static_cast<size_t>(n);
  }
  int rc = ::fdatasync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(tmp.c_str());
    return Status::FromErrno("fdatasync " + tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + tmp, errno);
  return Status::OK();
}

}  // namespace

Status Log::Repair(LogRepair* report) {
  ClaimTail();
  // Readers learn of the change before any file does: a Read that overlaps it is redone.
  truncations_.fetch_add(1, std::memory_order_acq_rel);
  std::vector<std::shared_ptr<Segment>> segs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    segs = segments_;
  }
  for (const auto& seg : segs) {
    if (options_.fd_cache != nullptr) options_.fd_cache->Erase(seg->path);
    std::lock_guard<std::mutex> lock(seg->file_mu);
    seg->own_file.reset();
    seg->own_direct_file.reset();
  }
  const uint64_t end = next_offset();
  Status st;
  for (size_t i = 0; i < segs.size() && st.ok(); i++) st = RepairSegment(i, segs, end, report);
  dir_dirty_ = true;
  {
    std::lock_guard<std::mutex> lock(damage_mu_);
    damage_ = Status::OK();
    damaged_.store(false, std::memory_order_release);
  }
  // The files changed whether or not every step worked: the segment list comes from them.
  Status reload = Reload();
  if (!st.ok()) return Fail(st);
  if (!reload.ok()) return reload;
  if (damaged()) return damage();
  failed_.store(false, std::memory_order_release);
  out_of_space_.store(false, std::memory_order_release);
  return Status::OK();
}

Status Log::RepairSegment(size_t i, const std::vector<std::shared_ptr<Segment>>& segs, uint64_t end,
                          LogRepair* report) {
  const Segment& seg = *segs[i];
  const bool tail = i + 1 == segs.size();
  const uint64_t bound = tail ? end : segs[i + 1]->base_offset;
  std::string data;
  {
    int fd = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open " + seg.path, errno);
    struct stat st;
    Status read =
        ::fstat(fd, &st) == 0 ? Status::OK() : Status::FromErrno("fstat " + seg.path, errno);
    size_t got = 0;
    if (read.ok()) {
      data.resize(static_cast<size_t>(st.st_size));
      read = PreadFull(fd, data.data(), data.size(), 0, &got, seg.path);
      data.resize(got);
    }
    ::close(fd);
    SAKER_RETURN_IF_ERROR(read);
  }
  const std::vector<Run> runs = log_internal::ScanRuns(data, seg.base_offset);
  std::vector<LogCut> cuts;
  uint64_t at_position = 0;
  uint64_t at_offset = seg.base_offset;
  for (const Run& run : runs) {
    report->batches_kept += run.batches;
    if (run.position > at_position || run.first_offset > at_offset) {
      cuts.push_back(
          LogCut{seg.path, at_position, run.position - at_position, at_offset, run.first_offset});
    }
    at_position = run.end_position;
    at_offset = run.end_offset;
  }
  // Zeros after the tail's data are preallocated space, not damage. A sealed segment whose
  // bytes are all intact but whose offsets stop short of the next segment's is the hole an
  // earlier repair left: already reported, not cut again.
  const bool zeros = tail && AllZero(data.data() + at_position, data.size() - at_position);
  const bool leftover = data.size() > at_position && !zeros;
  if (leftover || (tail && at_offset < bound)) {
    cuts.push_back(LogCut{seg.path, at_position, zeros ? 0 : data.size() - at_position, at_offset,
                          std::max(at_offset, bound)});
  }
  if (cuts.empty()) return Status::OK();
  report->cuts.insert(report->cuts.end(), cuts.begin(), cuts.end());
  // The intact runs after a damage become segments of their own, named by their first offset
  // (durable before the damaged file changes, so a crash in between loses nothing: the next
  // repair finds the same runs again).
  const bool keeps_start = !runs.empty() && runs[0].position == 0;
  for (size_t k = keeps_start ? 1 : 0; k < runs.size(); k++) {
    const Run& run = runs[k];
    SAKER_RETURN_IF_ERROR(WriteFileDurably(
        SegmentPath(run.first_offset, "log"),
        std::string_view(data).substr(run.position, run.end_position - run.position)));
  }
  if (keeps_start) {
    if (::truncate(seg.path.c_str(), static_cast<off_t>(runs[0].end_position)) != 0) {
      return Status::FromErrno("truncate " + seg.path, errno);
    }
    SAKER_RETURN_IF_ERROR(SyncPath(seg.path));
  } else if (runs.empty() || runs[0].first_offset != seg.base_offset) {
    // Nothing of the segment's start is intact (a run starting at its base replaced it).
    if (::unlink(seg.path.c_str()) != 0) return Status::FromErrno("unlink " + seg.path, errno);
  }
  ::unlink(seg.index_path.c_str());
  if (tail && at_offset < end) {
    // The last batches were cut: an empty tail keeps the next offset where it was, so no
    // offset is ever used twice.
    SAKER_RETURN_IF_ERROR(WriteFileDurably(SegmentPath(end, "log"), {}));
  }
  return Status::OK();
}

Status Log::Reload() {
  SAKER_RETURN_IF_ERROR(LoadSegments(next_offset()));
  EndDirect();
  // What the files hold is what is durable from now on.
  SAKER_RETURN_IF_ERROR(SyncFile(*segments_.back()));
  active_dirty_ = false;
  return SyncDir();
}

Status Log::Resume() {
  if (!failed()) return Status::OK();
  if (fault_) SAKER_RETURN_IF_ERROR(fault_(FileOp::kWrite));
  const std::string probe = dir_ + "/.probe";
  Status st = WriteFileDurably(probe, std::string(kPage, 'p'));
  ::unlink(probe.c_str());
  SAKER_RETURN_IF_ERROR(st);
  ClaimTail();
  truncations_.fetch_add(1, std::memory_order_acq_rel);
  SAKER_RETURN_IF_ERROR(Reload());
  failed_.store(false, std::memory_order_release);
  out_of_space_.store(false, std::memory_order_release);
  return Status::OK();
}

}  // namespace saker::storage

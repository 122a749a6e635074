// Log's private parts shared by its three files: log.cc (appends, rolls, truncate, reads),
// log_recovery.cc (Open, the tail scan, index loading) and log_direct.cc (preallocation and
// O_DIRECT appends). Include it only from those.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "server/storage/fd_cache.h"
#include "server/storage/log.h"

namespace saker::storage {
namespace log_internal {

inline constexpr uint64_t kPage = 4096;
// Larger runs go through the page cache even when they could go direct (one batch of
// many MiB): the staging buffer stays small.
inline constexpr uint64_t kMaxDirectBytes = 4 << 20;

inline uint64_t PageUp(uint64_t n) { return (n + kPage - 1) / kPage * kPage; }

// Reads up to `n` bytes at `position`; *got < n only at the end of the file.
Status PreadFull(int fd, char* buf, size_t n, uint64_t position, size_t* got,
                 const std::string& path);

bool AllZero(const char* p, size_t n);

// A stretch of a segment's bytes holding intact batches (valid header and CRC) back to back
// with contiguous offsets: bytes [position, end_position), offsets [first_offset, end_offset).
struct Run {
  uint64_t position = 0;
  uint64_t end_position = 0;
  uint64_t first_offset = 0;
  uint64_t end_offset = 0;
  uint64_t batches = 0;
};

// The intact runs of `data`, a whole segment whose base offset is `base`, in order. A run
// ends where a batch fails its checks or has an unexpected offset; the next one starts at the
// next intact batch whose offset is not below the end of the previous run. Bytes outside the
// runs are damage, but for zeros from the end of the last run to the end of `data`.
std::vector<Run> ScanRuns(const std::string& data, uint64_t base);

}  // namespace log_internal

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

}  // namespace saker::storage

// Log: one queue's durable, segmented log in its own directory (FORMAT.md). Offsets are dense
// and start at 1. The log holds no file descriptor while idle: descriptors come from a bounded
// FdCache shared by every log of the server, so 100,000 queues fit on one server.
//
// Threads: Open() on any thread before the log is shared. Append, AppendAll, AppendAt, Sync,
// Truncate and DeleteBelow are called by one writer thread (the storage thread; a test's own
// thread in unit tests). Read() may be called from any number of reader threads at the same
// time as the writer works; it sees only whole batches that were written before it started.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "server/common/clock.h"
#include "server/common/status.h"
#include "server/storage/batch.h"
#include "server/storage/sync_policy.h"

namespace saker::storage {

class FdCache;
class File;

struct LogOptions {
  // Roll to a new segment once the active one reaches this many bytes...
  uint64_t segment_bytes = 64ull << 20;
  // ...or once its first batch is this old (0 = roll by size only).
  int64_t segment_age_ms = 0;
  // One sparse index entry per this many segment bytes.
  uint32_t index_interval_bytes = 4096;
  SyncPolicy sync;
  // After a cold Read, the kernel is asked to read this many bytes beyond it
  // (posix_fadvise WILLNEED), so a reader draining a backlog finds them in the page cache.
  uint64_t readahead_bytes = 1 << 20;
  // The tail segment is zero-filled and synced this far ahead of the write position by
  // Preallocate(), so an append's fdatasync writes data only: no file-size change and no
  // filesystem journal commit (ext4). It starts once the tail holds preallocate_bytes / 16
  // of data and never exceeds the data it holds, so quiet queues cost no space. 0 disables
  // it (appends then extend the file).
  uint64_t preallocate_bytes = 16 << 20;
  // An `always` log writes a run of appends of at least this many bytes that lands in the
  // zero-filled space with O_DIRECT (Log::StartDirect); 0 = always through the page cache.
  uint64_t direct_min_bytes = 16 << 10;
  // Shared descriptor cache, kept alive by every log that uses it (a log can outlive its
  // queue engine: the storage thread frees completed ops after the next hand-off); nullptr =
  // the log opens and keeps its own descriptors (tests, tools).
  std::shared_ptr<FdCache> fd_cache;
  const Clock* clock = SystemClock::Get();
  // Context for log lines and error messages ("queue=orders").
  std::string name;
};

struct LogStats {
  uint64_t first_offset = 1;
  uint64_t next_offset = 1;
  uint64_t size_bytes = 0;  // all segments
  size_t segment_count = 0;
  uint64_t last_epoch = 0;
  uint64_t direct_writes = 0;  // writes that went out with O_DIRECT since Open
};

// The file operations a test can make fail (Log::TEST_SetFault).
enum class FileOp { kWrite, kSync };

// One damaged stretch that Log::Repair removed (FORMAT.md "Repair").
struct LogCut {
  std::string segment;        // path of the segment it was in
  uint64_t position = 0;      // byte position of the damage in that segment
  uint64_t bytes = 0;         // bytes removed there
  uint64_t first_offset = 0;  // offsets [first_offset, end_offset) are gone (a hole)
  uint64_t end_offset = 0;
};

struct LogRepair {
  uint64_t batches_kept = 0;  // intact batches in the log after the repair
  std::vector<LogCut> cuts;   // in log order; empty when nothing was damaged
};

class Log {
 public:
  // Opens the log in `dir`, creating the directory if needed, and recovers it: a torn or
  // bad-CRC tail of the last segment is cut (warning names file and position). Damage in the
  // middle of the tail (an intact batch follows it) opens the log damaged (damage()): it is
  // read as it is, appends are refused, and next_offset() is the end of the last intact batch.
  // Only the tail segment is read, and no descriptor stays open when options.fd_cache is set.
  // A new log costs no fsync here: its directory is made durable by the first Sync().
  static Result<std::unique_ptr<Log>> Open(const std::string& dir, LogOptions options);
  // Drops the log's descriptors from the FdCache. Destroy it when no thread uses it (the
  // StorageThread and ReaderPool hold shared_ptrs while they do).
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends `batch`, whose base offset must be next_offset() (else InvalidArgument), rolling
  // the segment first if it is full or old. Written, not yet durable: see Sync(). After any
  // failed write or sync the log is fail-stop and every later call returns IOError (until
  // Resume); a damaged log refuses with Corruption (until Repair).
  Status Append(const Batch& batch);
  // Appends several batches, contiguous from next_offset() (else InvalidArgument and nothing
  // is written), with one pwritev per segment they land in.
  Status AppendAll(const std::vector<BatchPtr>& batches);
  // The same for batches the caller keeps alive during the call (the StorageThread's ops).
  Status AppendAll(std::span<const Batch* const> batches);
  // fdatasync of the tail if written since the last Sync (a rolled segment was synced when
  // sealed), and fsync of the directory (and of its parent for a new log) if segments were
  // created or deleted. Only after an OK return is what was appended durable.
  Status Sync();

  // True when the tail segment has less than half of preallocate_bytes zero-filled ahead of
  // the write position. Any thread.
  bool NeedsPreallocation() const;
  // Zero-fills the next min(preallocate_bytes, tail data) bytes of the tail segment (at most
  // up to segment_bytes) and fdatasyncs them; nothing while the tail holds less than
  // preallocate_bytes / 16. Runs on a helper thread (StorageThread's allocator) while the writer
  // works, or on the writer thread; one call at a time per log. An append that reaches the
  // range being filled waits for it. An error here only means the space is not preallocated:
  // it is logged and does not make the log fail-stop.
  Status Preallocate();
  // Stops preallocating and gives back the zero-filled space past the tail's last batch (a
  // deleted queue's: on a full disk that space lets the deletion's meta.db commit through).
  // Writer thread; waits for a Preallocate() in progress. IOError if the truncate failed.
  Status ReleasePreallocation();

  // Replication: cuts the log back so next_offset() == offset (offset must be in
  // [first_offset, next_offset] and a batch boundary, else InvalidArgument), durably. A cut
  // that removes anything bumps truncations() before any byte goes away.
  Status Truncate(uint64_t offset);
  // Unlinks `files` (DeleteBelow's `doomed`) in order, then fsyncs their directories; any
  // thread. The first failure is returned (the rest are still tried).
  static Status UnlinkInOrder(const std::vector<std::string>& files);
  // Replication: Truncate(batch.base_offset()) then Append(batch).
  Status AppendAt(const Batch& batch);
  // Retention: deletes every whole segment whose offsets are all below `offset`; never the
  // active segment. first_offset() moves to the base of the first segment kept. With
  // `doomed`, the deleted segments' files are not unlinked here but appended to it, oldest
  // first, for the caller to unlink off the writer thread (UnlinkInOrder): unlinking a 64 MiB
  // segment took ~17 ms, during which no append of any queue was written. A crash before
  // they are unlinked leaves whole segments below every cursor, which the next Open lists
  // again and retention deletes again.
  Status DeleteBelow(uint64_t offset, std::vector<std::string>* doomed = nullptr);

  // Whole batches covering `offset` onward, in order, up to about `max_bytes` (always at
  // least one batch when offset < next_offset). The first batch may start before `offset`.
  // NotFound if offset < first_offset(); an empty vector if offset >= next_offset().
  // A Read that overlaps a Truncate is redone, so what it returns was current at some moment
  // after any Truncate that finished before it returned. A Truncate that starts after it
  // returns may cut what it returned: a caller that holds batches across a truncate (the
  // queue engine, the ReaderPool's read-ahead) notes truncations() before reading and
  // discards the result if it changed.
  Result<std::vector<BatchPtr>> Read(uint64_t offset, size_t max_bytes) const;

  // Damage the log has met (Corruption naming segment and position): at Open, in the middle of
  // the tail, or in any Read since. OK while none. Any thread.
  Status damage() const;
  bool damaged() const { return damaged_.load(std::memory_order_acquire); }
  // The fail-stop came from a full filesystem (ENOSPC, EDQUOT). Any thread.
  bool out_of_space() const { return out_of_space_.load(std::memory_order_acquire); }

  // Writer thread: salvages a damaged log (FORMAT.md "Repair"). Reads every segment whole,
  // keeps every intact batch, and removes the damaged bytes: the intact batches after a damage
  // go to a segment of their own named by their base offset, so the offsets of the damage
  // become a hole between segments; next_offset() never moves back. Fills `report` with what
  // was kept and cut, then reloads the log from its files; the damage and a fail-stop are
  // cleared. Every segment is read, so it takes about as long as reading the log once.
  Status Repair(LogRepair* report);
  // Writer thread: ends a fail-stop once the disk takes writes again. A probe file in the log's
  // directory is written, fdatasync'ed and removed; if that works, the log is reloaded from its
  // files as Open would (a partly written batch is cut) and the tail fdatasync'ed, so what it
  // holds is durable. IOError (and still fail-stop) while the probe fails; OK if not stopped.
  Status Resume();

  // How many Truncates (and Repairs and Resumes) have cut something since Open; any thread.
  uint64_t truncations() const { return truncations_.load(std::memory_order_acquire); }

  // Snapshot of the counters; safe from any thread.
  LogStats stats() const;
  uint64_t next_offset() const { return next_offset_.load(std::memory_order_acquire); }
  uint64_t first_offset() const { return first_offset_.load(std::memory_order_acquire); }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  const std::string& dir() const { return dir_; }
  const LogOptions& options() const { return options_; }

  // Any thread: true while some reader of the log is behind what it keeps in memory and will
  // read recent appends back from the files (the queue engine: a subscription below the tail
  // cache). Appends then go through the page cache, where that reader finds them, instead of
  // O_DIRECT (LogOptions::direct_min_bytes).
  void SetReadersBehind(bool behind) { readers_behind_.store(behind, std::memory_order_relaxed); }

  // Writer thread, instead of Sync(): a syncfs() of the log's filesystem returned OK after the
  // log's last write, so that write and the log's directory entries are durable. Not for a log
  // with a TEST_SetFault hook (the hook would not see the sync).
  void MarkSynced() { active_dirty_ = dir_dirty_ = parent_dir_dirty_ = false; }
  bool has_fault_hook() const { return static_cast<bool>(fault_); }

  // Test hook (writer thread, before use): `fault` runs before every write and fdatasync of
  // the log's files; a non-OK Status makes that call fail as the system call would have, so
  // tests can prove fail-stop. An empty function removes the hook.
  void TEST_SetFault(std::function<Status(FileOp)> fault) { fault_ = std::move(fault); }

 private:
  struct Segment;
  struct IndexEntry {
    uint64_t offset;
    uint64_t position;
  };
  Log(std::string dir, LogOptions options);

  std::string Prefix() const;  // "[queue=orders]"
  std::string SegmentPath(uint64_t base_offset, const char* ext) const;
  Result<std::shared_ptr<File>> FileOf(Segment& seg, bool create = false,
                                       bool direct = false) const;
  Status Fail(Status status);
  // The error an append or truncate gets while the log is fail-stop or damaged.
  Status Refusal() const;
  void NoteDamage(const Status& status) const;
  // Lists the segment files into segments_ (creating an empty one at `empty_base` if there
  // are none) and recovers the tail; Open and Reload.
  Status LoadSegments(uint64_t empty_base);
  // Writer: rebuilds the segment list from the files (after Repair or a fail-stop), with
  // zero-fills stopped (ClaimTail) and truncations() already bumped.
  Status Reload();
  Status RepairSegment(size_t i, const std::vector<std::shared_ptr<Segment>>& segs, uint64_t end,
                       LogRepair* report);
  Status WriteAt(Segment& seg, std::vector<iovec>& iov, uint64_t position);
  Status SyncFile(Segment& seg);
  Status SyncDir();
  Status Roll(uint64_t base_offset);
  Status RecoverTail();
  Status LoadIndex(Segment& seg) const;
  void WriteIndex(Segment& seg);
  Result<std::vector<BatchPtr>> ReadOnce(uint64_t offset, size_t max_bytes) const;
  Status ReadFromSegment(Segment& seg, uint64_t limit, uint64_t offset, size_t max_bytes,
                         size_t* collected, std::vector<BatchPtr>* out) const;
  // Calls fn(position, header) for each batch header of `seg` from `position` to `limit`.
  Status ScanHeaders(Segment& seg, uint64_t position, uint64_t limit,
                     const std::function<bool(uint64_t, const BatchHeader&)>& fn) const;
  Status RemoveSegmentFiles(const Segment& seg);
  void AddIndexEntry(Segment& seg, uint64_t offset, uint64_t position);
  // Writer: waits until no zero-fill overlaps [.., end) of the tail, then records that the
  // file reaches at least `end`. Returns the tail's file size (data and zeros ahead).
  uint64_t ReserveTail(uint64_t end);
  // Writer: waits for any zero-fill to finish and keeps new ones out (before cutting or
  // sealing the tail) until ReleaseTail makes `seg`, of `file_size` bytes, the tail.
  void ClaimTail();
  void ReleaseTail(std::shared_ptr<Segment> seg, uint64_t file_size);
  uint64_t PreallocationLimit() const;
  uint64_t PreallocationChunk(uint64_t data_end) const;
  // Direct appends (AppendAll): a run of at least direct_min_bytes to an `always` log that
  // ends inside the tail's zero-filled space is written with O_DIRECT from the last 4 KiB
  // boundary before it, with the bytes there (head_) in front and zeros up to the next
  // boundary after it. The page cache is left out: no copy into it, and the fdatasync that
  // follows has no dirty pages to write back, only the disk cache to flush. The O_DIRECT
  // descriptor comes from FileOf like the others. StartDirect reads head_ when the
  // last write was not direct; false means write this run through the page cache instead.
  bool StartDirect(Segment& seg, uint64_t size);
  Status WriteDirect(Segment& seg, uint64_t size, uint64_t run_bytes);
  // Forgets head_: the tail is cut or sealed, or a run went through the page cache.
  void EndDirect();

  std::string dir_;
  LogOptions options_;
  std::atomic<uint64_t> first_offset_{1};
  std::atomic<uint64_t> next_offset_{1};
  std::atomic<bool> failed_{false};
  std::atomic<bool> out_of_space_{false};
  mutable std::atomic<bool> damaged_{false};
  mutable std::mutex damage_mu_;
  mutable Status damage_;  // guarded by damage_mu_
  std::atomic<uint64_t> last_epoch_{0};
  std::atomic<uint64_t> direct_writes_{0};
  std::atomic<bool> readers_behind_{false};
  std::atomic<uint64_t> truncations_{0};
  mutable std::mutex mu_;  // guards segments_ (readers vs. roll / delete / truncate)
  std::vector<std::shared_ptr<Segment>> segments_;
  // Writer thread only.
  bool active_dirty_ = false;      // the active segment has unsynced writes
  bool dir_dirty_ = false;         // a segment was created or deleted since the last dir fsync
  bool parent_dir_dirty_ = false;  // Open created dir_; its parent needs an fsync too
  std::function<Status(FileOp)> fault_;
  std::vector<iovec> iov_;  // AppendAll's write vector, kept to save an allocation per call
  bool direct_ = false;     // the last write was direct: head_ is valid
  bool direct_unsupported_ = false;  // O_DIRECT is refused here (tmpfs): never try again
  std::string head_;  // while direct_: the tail's bytes from its last 4 KiB boundary (< 4 KiB)
  // Preallocation state of the tail. Lock order: alloc_mu_ may be taken while holding
  // nothing else; mu_ is never held while waiting on alloc_cv_.
  mutable std::mutex alloc_mu_;
  std::condition_variable alloc_cv_;
  std::shared_ptr<Segment> alloc_segment_;  // guarded by alloc_mu_: the tail
  uint64_t allocated_ = 0;     // guarded by alloc_mu_: the tail's file size (data + zeros)
  bool allocating_ = false;    // guarded by alloc_mu_: a Preallocate() is writing zeros
  bool alloc_failed_ = false;  // guarded by alloc_mu_: stop trying on this segment
  bool tail_wanted_ = false;   // guarded by alloc_mu_: the writer waits, stop zero-filling
};

}  // namespace saker::storage

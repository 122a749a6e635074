// Batch: a run of records exactly as stored on disk (server/storage/FORMAT.md). A batch is
// encoded once, on the loop thread, and then shared without copies by the storage thread
// (which writes its bytes), the tail cache and every subscription that delivers from it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"

namespace saker::storage {

// One record of a batch. The views point into the batch's bytes and live as long as it.
struct RecordView {
  uint64_t offset = 0;
  int64_t timestamp_ms = 0;  // wall-clock Unix ms when the item was put
  int64_t expiry_ms = 0;     // absolute wall-clock Unix ms; 0 = never expires
  std::string_view key;      // idempotency key; empty = none
  std::string_view payload;  // the item
};

// The fixed part of every batch (FORMAT.md "Batch"). Little-endian on disk.
inline constexpr uint32_t kBatchMagic = 0x42524b53;  // bytes "SKRB"
inline constexpr uint16_t kFormatVersion = 1;
inline constexpr size_t kBatchHeaderBytes = 48;
inline constexpr size_t kRecordHeaderBytes = 24;
// Largest batch a reader accepts; anything longer is a bad length.
inline constexpr uint32_t kMaxBatchBytes = 64u << 20;

struct BatchHeader {
  uint32_t length = 0;  // whole batch, header included
  uint32_t crc = 0;     // masked CRC32C of bytes [12, length)
  uint16_t version = 0;
  uint16_t flags = 0;
  uint64_t epoch = 0;
  uint64_t base_offset = 0;
  uint32_t count = 0;
  int64_t max_timestamp_ms = 0;

  // Decodes and checks magic, version, length bounds and count of the first
  // kBatchHeaderBytes of `bytes` (precondition: at least that many). Corruption says what
  // is wrong; the CRC is checked by Batch::Parse.
  static Result<BatchHeader> Decode(std::string_view bytes);
};

class Batch;
using BatchPtr = std::shared_ptr<const Batch>;

class Batch {
 public:
  // Parses `bytes` as exactly one batch and verifies magic, version, lengths and CRC.
  // Corruption says what is wrong (the caller adds file and position).
  static Result<BatchPtr> Parse(std::string bytes);

  uint64_t base_offset() const { return base_offset_; }
  uint64_t last_offset() const { return base_offset_ + count_ - 1; }
  uint64_t end_offset() const { return base_offset_ + count_; }  // one past last
  uint32_t count() const { return count_; }
  uint64_t epoch() const { return epoch_; }
  uint16_t flags() const { return flags_; }
  int64_t max_timestamp_ms() const { return max_timestamp_ms_; }
  // The encoded bytes, header included: what is written to the segment.
  const std::string& bytes() const { return bytes_; }
  size_t size_bytes() const { return bytes_.size(); }

  // Record `offset`; precondition base_offset() <= offset <= last_offset().
  RecordView Record(uint64_t offset) const { return records()[offset - base_offset_]; }
  std::span<const RecordView> records() const {
    return count_ == 1 ? std::span<const RecordView>(&one_record_, 1)
                       : std::span<const RecordView>(records_);
  }

 private:
  friend class BatchBuilder;
  Batch() = default;
  // A new empty batch and its shared_ptr control block in one allocation.
  static std::shared_ptr<Batch> Make();
  // Adds the view of the next record of a batch of `total` records.
  void AddRecord(const RecordView& record, uint32_t total);

  std::string bytes_;
  uint64_t base_offset_ = 0;
  uint64_t epoch_ = 0;
  uint16_t flags_ = 0;
  int64_t max_timestamp_ms_ = 0;
  uint32_t count_ = 0;
  // Views into bytes_: a one-record batch (the common single put) keeps its view inline and
  // costs no allocation for it; larger batches use records_.
  RecordView one_record_;
  std::vector<RecordView> records_;
};

// Accumulates records, then encodes them as one batch. Reusable after Finish().
class BatchBuilder {
 public:
  void Add(int64_t timestamp_ms, int64_t expiry_ms, std::string_view key, std::string_view payload);
  size_t count() const { return count_; }
  // Encoded size the batch will have.
  size_t size_bytes() const;
  bool empty() const { return count_ == 0; }

  // Encodes the records added since the last Finish at offsets base_offset, base_offset+1, ...
  // and resets the builder. Precondition: !empty().
  BatchPtr Finish(uint64_t epoch, uint64_t base_offset, uint16_t flags = 0);

 private:
  std::string body_;  // encoded records, without the batch header
  size_t count_ = 0;
  int64_t max_timestamp_ms_ = 0;
};

}  // namespace saker::storage

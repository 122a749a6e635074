// Batch encoding and parsing: the byte layout of server/storage/FORMAT.md "Batch" and
// "Record". Every field is little-endian; the CRC covers everything after the CRC field.
#include "server/storage/batch.h"

#include <algorithm>
#include <string>

#include "server/common/coding.h"
#include "server/common/crc32c.h"

namespace saker::storage {
namespace {

// Header field positions (FORMAT.md).
constexpr size_t kMagicPos = 0;
constexpr size_t kLengthPos = 4;
constexpr size_t kCrcPos = 8;
constexpr size_t kCrcCoverStart = 12;
constexpr size_t kVersionPos = 12;
constexpr size_t kFlagsPos = 14;
constexpr size_t kEpochPos = 16;
constexpr size_t kBaseOffsetPos = 24;
constexpr size_t kCountPos = 32;
constexpr size_t kReservedPos = 36;
constexpr size_t kMaxTimestampPos = 40;

// Record fields, relative to the record start.
constexpr size_t kRecordLengthBytes = 4;  // the length field does not count itself
constexpr size_t kRecordFixedAfterLength = kRecordHeaderBytes - kRecordLengthBytes;

uint32_t BatchCrc(const std::string& bytes) {
  return crc32c::Value(bytes.data() + kCrcCoverStart, bytes.size() - kCrcCoverStart);
}

}  // namespace

Result<BatchHeader> BatchHeader::Decode(std::string_view bytes) {
  const char* p = bytes.data();
  if (bytes.size() < kBatchHeaderBytes) return Status::Corruption("torn batch header");
  if (DecodeFixed32(p + kMagicPos) != kBatchMagic) return Status::Corruption("bad batch magic");
  BatchHeader h;
  h.length = DecodeFixed32(p + kLengthPos);
  h.crc = DecodeFixed32(p + kCrcPos);
  h.version = DecodeFixed16(p + kVersionPos);
  h.flags = DecodeFixed16(p + kFlagsPos);
  h.epoch = DecodeFixed64(p + kEpochPos);
  h.base_offset = DecodeFixed64(p + kBaseOffsetPos);
  h.count = DecodeFixed32(p + kCountPos);
  h.max_timestamp_ms = static_cast<int64_t>(DecodeFixed64(p + kMaxTimestampPos));
  if (h.version != kFormatVersion) {
    return Status::Corruption("unsupported batch format version " + std::to_string(h.version));
  }
  if (h.count == 0) return Status::Corruption("batch with zero records");
  if (h.length > kMaxBatchBytes ||
      h.length < kBatchHeaderBytes + uint64_t{h.count} * kRecordHeaderBytes) {
    return Status::Corruption("bad batch length " + std::to_string(h.length));
  }
  if (h.base_offset == 0) return Status::Corruption("batch base offset 0");
  return h;
}

std::shared_ptr<Batch> Batch::Make() {
  // make_shared needs a public constructor; a local class has Batch's own access.
  struct Enabler : Batch {};
  return std::make_shared<Enabler>();
}

Result<BatchPtr> Batch::Parse(std::string bytes) {
  auto header = BatchHeader::Decode(bytes);
  if (!header.ok()) return header.status();
  if (header->length != bytes.size()) {
    return Status::Corruption("batch length " + std::to_string(header->length) + " but " +
                              std::to_string(bytes.size()) + " bytes");
  }
  if (crc32c::Unmask(header->crc) != BatchCrc(bytes)) {
    return Status::Corruption("batch CRC mismatch");
  }
  std::shared_ptr<Batch> batch = Make();
  batch->bytes_ = std::move(bytes);
  batch->base_offset_ = header->base_offset;
  batch->epoch_ = header->epoch;
  batch->flags_ = header->flags;
  batch->max_timestamp_ms_ = header->max_timestamp_ms;
  const std::string& b = batch->bytes_;
  size_t pos = kBatchHeaderBytes;
  for (uint32_t i = 0; i < header->count; i++) {
    if (b.size() - pos < kRecordHeaderBytes) return Status::Corruption("torn record header");
    uint32_t length = DecodeFixed32(b.data() + pos);
    if (length < kRecordFixedAfterLength || length > b.size() - pos - kRecordLengthBytes) {
      return Status::Corruption("bad record length " + std::to_string(length));
    }
    uint32_t key_length = DecodeFixed32(b.data() + pos + 20);
    if (key_length > length - kRecordFixedAfterLength) {
      return Status::Corruption("bad record key length " + std::to_string(key_length));
    }
    RecordView r;
    r.offset = header->base_offset + i;
    r.timestamp_ms = static_cast<int64_t>(DecodeFixed64(b.data() + pos + 4));
    r.expiry_ms = static_cast<int64_t>(DecodeFixed64(b.data() + pos + 12));
    const char* data = b.data() + pos + kRecordHeaderBytes;
    r.key = std::string_view(data, key_length);
    r.payload = std::string_view(data + key_length, length - kRecordFixedAfterLength - key_length);
    batch->AddRecord(r, header->count);
    pos += kRecordLengthBytes + length;
  }
  if (pos != b.size()) return Status::Corruption("bytes after the last record of the batch");
  return BatchPtr(std::move(batch));
}

void BatchBuilder::Add(int64_t timestamp_ms, int64_t expiry_ms, std::string_view key,
                       std::string_view payload) {
  size_t record_bytes = kRecordHeaderBytes + key.size() + payload.size();
  if (body_.empty()) {
    // The header is filled in by Finish; reserving its room here saves a copy of the body,
    // and reserving the first record too makes a one-record batch one allocation.
    body_.reserve(kBatchHeaderBytes + record_bytes);
    body_.assign(kBatchHeaderBytes, '\0');
  }
  char h[kRecordHeaderBytes];
  EncodeFixed32(h, static_cast<uint32_t>(record_bytes - kRecordLengthBytes));
  EncodeFixed64(h + 4, static_cast<uint64_t>(timestamp_ms));
  EncodeFixed64(h + 12, static_cast<uint64_t>(expiry_ms));
  EncodeFixed32(h + 20, static_cast<uint32_t>(key.size()));
  body_.append(h, sizeof h);
  body_.append(key);
  body_.append(payload);
  max_timestamp_ms_ = count_ == 0 ? timestamp_ms : std::max(max_timestamp_ms_, timestamp_ms);
  count_++;
}

size_t BatchBuilder::size_bytes() const { return body_.empty() ? kBatchHeaderBytes : body_.size(); }

BatchPtr BatchBuilder::Finish(uint64_t epoch, uint64_t base_offset, uint16_t flags) {
  std::string bytes = std::move(body_);
  body_.clear();
  char* p = bytes.data();
  EncodeFixed32(p + kMagicPos, kBatchMagic);
  EncodeFixed32(p + kLengthPos, static_cast<uint32_t>(bytes.size()));
  EncodeFixed16(p + kVersionPos, kFormatVersion);
  EncodeFixed16(p + kFlagsPos, flags);
  EncodeFixed64(p + kEpochPos, epoch);
  EncodeFixed64(p + kBaseOffsetPos, base_offset);
  EncodeFixed32(p + kCountPos, static_cast<uint32_t>(count_));
  EncodeFixed32(p + kReservedPos, 0);
  EncodeFixed64(p + kMaxTimestampPos, static_cast<uint64_t>(max_timestamp_ms_));
  EncodeFixed32(p + kCrcPos, crc32c::Mask(BatchCrc(bytes)));
  count_ = 0;
  max_timestamp_ms_ = 0;

  std::shared_ptr<Batch> batch = Batch::Make();
  batch->bytes_ = std::move(bytes);
  batch->base_offset_ = base_offset;
  batch->epoch_ = epoch;
  batch->flags_ = flags;
  const std::string& b = batch->bytes_;
  batch->max_timestamp_ms_ = static_cast<int64_t>(DecodeFixed64(b.data() + kMaxTimestampPos));
  uint32_t count = DecodeFixed32(b.data() + kCountPos);
  size_t pos = kBatchHeaderBytes;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t length = DecodeFixed32(b.data() + pos);
    uint32_t key_length = DecodeFixed32(b.data() + pos + 20);
    const char* data = b.data() + pos + kRecordHeaderBytes;
    batch->AddRecord(
        RecordView{
            base_offset + i, static_cast<int64_t>(DecodeFixed64(b.data() + pos + 4)),
            static_cast<int64_t>(DecodeFixed64(b.data() + pos + 12)),
            std::string_view(data, key_length),
            std::string_view(data + key_length, length - kRecordFixedAfterLength - key_length)},
        count);
    pos += kRecordLengthBytes + length;
  }
  return batch;
}

void Batch::AddRecord(const RecordView& record, uint32_t total) {
  if (total == 1) {
    one_record_ = record;
  } else {
    if (records_.empty()) records_.reserve(total);
    records_.push_back(record);
  }
  count_++;
}

}  // namespace saker::storage

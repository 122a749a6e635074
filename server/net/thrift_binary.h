// TBinaryProtocol primitives on our own buffers: big-endian integers, length-prefixed strings,
// field and message headers, and a bounds-checked reader. Used where the server reads or writes
// Thrift bytes without libthrift (thrift_frame.cc, thrift_hot.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace saker::net::tbin {

constexpr uint32_t kVersionMask = 0xffff0000;
constexpr uint32_t kVersion1 = 0x80010000;

// TType values.
constexpr uint8_t kStop = 0;
constexpr uint8_t kI32 = 8;
constexpr uint8_t kI64 = 10;
constexpr uint8_t kString = 11;
constexpr uint8_t kStruct = 12;
constexpr uint8_t kList = 15;

inline uint32_t LoadBe32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

inline void AppendBe16(std::string* out, uint16_t v) {
  const char bytes[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(bytes, 2);
}

inline void AppendBe32(std::string* out, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                         static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(bytes, 4);
}

inline void AppendBe64(std::string* out, uint64_t v) {
  AppendBe32(out, static_cast<uint32_t>(v >> 32));
  AppendBe32(out, static_cast<uint32_t>(v));
}

inline void AppendString(std::string* out, std::string_view s) {
  AppendBe32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

inline void AppendFieldHeader(std::string* out, uint8_t type, int16_t id) {
  out->push_back(static_cast<char>(type));
  AppendBe16(out, static_cast<uint16_t>(id));
}

// Overwrites the 4 bytes at `at` with the big-endian length of what follows them.
inline void PatchFrameLength(std::string* out, size_t at) {
  const auto length = static_cast<uint32_t>(out->size() - at - 4);
  const char be[4] = {static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                      static_cast<char>(length >> 8), static_cast<char>(length)};
  out->replace(at, 4, be, 4);
}

// Reads a buffer front to back; any read past the end fails and every later read fails too.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return in_.size() - pos_; }

  uint8_t Byte() {
    if (!Need(1)) return 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  int16_t I16() {
    if (!Need(2)) return 0;
    const auto* u = reinterpret_cast<const unsigned char*>(in_.data() + pos_);
    pos_ += 2;
    return static_cast<int16_t>((u[0] << 8) | u[1]);
  }
  int32_t I32() {
    if (!Need(4)) return 0;
    uint32_t v = LoadBe32(in_.data() + pos_);
    pos_ += 4;
    return static_cast<int32_t>(v);
  }
  int64_t I64() {
    if (!Need(8)) return 0;
    uint64_t hi = LoadBe32(in_.data() + pos_);
    uint64_t lo = LoadBe32(in_.data() + pos_ + 4);
    pos_ += 8;
    return static_cast<int64_t>((hi << 32) | lo);
  }
  // A length-prefixed string or binary, pointing into the buffer.
  std::string_view String() {
    int32_t n = I32();
    if (n < 0 || !Need(static_cast<size_t>(n))) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }

 private:
  bool Need(size_t n) {
    if (ok_ && remaining() >= n) return true;
    ok_ = false;
    return false;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace saker::net::tbin

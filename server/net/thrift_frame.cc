// Framed-transport splitting and TBinaryProtocol message headers, written by hand so that the
// connection can bound and route frames before libthrift sees them.
#include "server/net/thrift_frame.h"

namespace saker::net {
namespace {

constexpr uint32_t kVersionMask = 0xffff0000;
constexpr uint32_t kVersion1 = 0x80010000;
constexpr uint8_t kTypeStop = 0;
constexpr uint8_t kTypeI32 = 8;
constexpr uint8_t kTypeString = 11;

uint32_t LoadBe32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

void AppendBe32(std::string* out, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                         static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(bytes, 4);
}

void AppendBe16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

void AppendString(std::string* out, std::string_view s) {
  AppendBe32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

}  // namespace

FrameResult NextFrame(std::string_view input, size_t max_frame_bytes) {
  FrameResult r;
  if (input.size() < 4) return r;
  const uint32_t length = LoadBe32(input.data());
  if (length & 0x80000000u) {
    r.kind = FrameResult::Kind::kError;
    r.error = "negative frame length";
    return r;
  }
  if (length == 0) {
    r.kind = FrameResult::Kind::kError;
    r.error = "empty frame";
    return r;
  }
  if (length > max_frame_bytes) {
    r.kind = FrameResult::Kind::kError;
    r.error = "frame too large";
    return r;
  }
  if (input.size() - 4 < length) return r;
  r.kind = FrameResult::Kind::kFrame;
  r.consumed = 4 + size_t{length};
  r.payload = input.substr(4, length);
  return r;
}

void AppendFrameLength(std::string* out, uint32_t size) { AppendBe32(out, size); }

Result<MessageHeader> ParseMessageHeader(std::string_view frame) {
  MessageHeader h;
  if (frame.size() < 4) return Status::InvalidArgument("thrift message header truncated");
  const uint32_t first = LoadBe32(frame.data());
  size_t pos = 4;
  uint32_t name_len = 0;
  if (first & 0x80000000u) {
    if ((first & kVersionMask) != kVersion1) {
      return Status::InvalidArgument("bad thrift protocol version");
    }
    h.strict = true;
    h.type = static_cast<uint8_t>(first & 0xff);
    if (frame.size() < pos + 4) return Status::InvalidArgument("thrift message header truncated");
    name_len = LoadBe32(frame.data() + pos);
    pos += 4;
  } else {
    name_len = first;
  }
  if (name_len > frame.size() - pos) {
    return Status::InvalidArgument("thrift method name longer than its frame");
  }
  h.name = frame.substr(pos, name_len);
  pos += name_len;
  if (!h.strict) {
    if (frame.size() < pos + 1) return Status::InvalidArgument("thrift message header truncated");
    h.type = static_cast<uint8_t>(frame[pos]);
    pos += 1;
  }
  if (frame.size() < pos + 4) return Status::InvalidArgument("thrift message header truncated");
  h.seqid = static_cast<int32_t>(LoadBe32(frame.data() + pos));
  pos += 4;
  h.size = pos;
  return h;
}

void AppendApplicationExceptionFrame(std::string* out, std::string_view method, int32_t seqid,
                                     bool strict, AppExceptionType type, std::string_view message) {
  const size_t length_at = out->size();
  AppendBe32(out, 0);  // patched below
  const auto kException = static_cast<uint8_t>(MessageType::kException);
  if (strict) {
    AppendBe32(out, kVersion1 | kException);
    AppendString(out, method);
  } else {
    AppendString(out, method);
    out->push_back(static_cast<char>(kException));
  }
  AppendBe32(out, static_cast<uint32_t>(seqid));
  // struct TApplicationException { 1: string message, 2: i32 type }
  out->push_back(static_cast<char>(kTypeString));
  AppendBe16(out, 1);
  AppendString(out, message);
  out->push_back(static_cast<char>(kTypeI32));
  AppendBe16(out, 2);
  AppendBe32(out, static_cast<uint32_t>(type));
  out->push_back(static_cast<char>(kTypeStop));
  const auto length = static_cast<uint32_t>(out->size() - length_at - 4);
  const char be[4] = {static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                      static_cast<char>(length >> 8), static_cast<char>(length)};
  out->replace(length_at, 4, be, 4);
}

void AppendUnknownMethodFrame(std::string* out, std::string_view method, int32_t seqid,
                              bool strict) {
  std::string message = "Invalid method name: '";
  message.append(method);
  message.push_back('\'');
  AppendApplicationExceptionFrame(out, method, seqid, strict, AppExceptionType::kUnknownMethod,
                                  message);
}

}  // namespace saker::net

// Framed-transport splitting and TBinaryProtocol message headers, written by hand so that the
// connection can bound and route frames before libthrift sees them.
#include "server/net/thrift_frame.h"

#include "server/net/thrift_binary.h"

namespace saker::net {

using tbin::AppendBe32;
using tbin::AppendString;
using tbin::kVersion1;
using tbin::kVersionMask;
using tbin::LoadBe32;

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
  tbin::AppendFieldHeader(out, tbin::kString, 1);
  AppendString(out, message);
  tbin::AppendFieldHeader(out, tbin::kI32, 2);
  AppendBe32(out, static_cast<uint32_t>(type));
  out->push_back(static_cast<char>(tbin::kStop));
  tbin::PatchFrameLength(out, length_at);
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

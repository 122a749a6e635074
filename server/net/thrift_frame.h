// Thrift framed transport on our own buffers (Kestrel's thrift protocol): split a connection's
// bytes into frames (4-byte big-endian length, then the message), peek at a TBinaryProtocol message
// header, and encode TApplicationException reply frames. No libthrift: the server hands each
// frame to the generated cob_style processor (saker::api::SakerAsyncProcessor) itself.
//
// Unknown methods: the generated processor already answers a CALL of an unknown name (for
// example Finagle's `__can__finagle__trace__v3__` probe) by skipping its argument struct and
// writing a T_EXCEPTION reply with TApplicationException UNKNOWN_METHOD ("Invalid method name:
// '<name>'", the request's seqid), then calling cob(true): the connection stays usable. It
// writes the header in the output protocol's style (TBinaryProtocolFactory writes strict
// headers), it answers even a ONEWAY message, and if the arguments cannot be skipped the
// TProtocolException escapes process() (close the connection). AppendUnknownMethodFrame is for
// answering without the processor: echoing the request's header style, or refusing a method
// before dispatch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/common/status.h"

namespace saker::net {

// Thrift's TConfiguration default max frame size; C++ clients refuse bigger replies.
inline constexpr size_t kDefaultMaxFrameBytes = 16'384'000;

struct FrameResult {
  enum class Kind : uint8_t {
    kNeedMore,  // no whole frame yet (nothing to consume)
    kFrame,     // `payload` is one message; drop `consumed` bytes after using it
    kError,     // length negative, zero or over the cap: close the connection
  };
  Kind kind = Kind::kNeedMore;
  size_t consumed = 0;
  // Points into the input: valid until those bytes are consumed.
  std::string_view payload;
  std::string_view error;  // static text, for the log
};

// Splits the first frame off `input`. Stateless and O(1): the length prefix says where the
// frame ends, so a frame is never scanned before it is whole. A frame longer than
// `max_frame_bytes` is an error as soon as its length is read (never buffered).
FrameResult NextFrame(std::string_view input, size_t max_frame_bytes = kDefaultMaxFrameBytes);

// Appends the 4-byte big-endian length prefix of a `size`-byte message.
void AppendFrameLength(std::string* out, uint32_t size);

// TMessageType values.
enum class MessageType : uint8_t { kCall = 1, kReply = 2, kException = 3, kOneway = 4 };

// The TBinaryProtocol message header at the start of a frame.
struct MessageHeader {
  std::string_view name;  // points into the frame
  uint8_t type = 0;       // a MessageType value if the client is sane; not checked
  int32_t seqid = 0;
  bool strict = false;  // versioned header (0x8001 version word) rather than the old style
  size_t size = 0;      // header bytes; the argument struct follows
};

// Parses the header of a framed message: strict (i32 version|type, string name, i32 seqid) or
// non-strict (string name, byte type, i32 seqid). InvalidArgument if truncated, a bad
// version, or a name length outside the frame.
Result<MessageHeader> ParseMessageHeader(std::string_view frame);

// TApplicationException::TApplicationExceptionType values.
enum class AppExceptionType : int32_t {
  kUnknown = 0,
  kUnknownMethod = 1,
  kInvalidMessageType = 2,
  kWrongMethodName = 3,
  kBadSequenceId = 4,
  kMissingResult = 5,
  kInternalError = 6,
  kProtocolError = 7,
};

// Appends a whole frame (length prefix included) carrying a T_EXCEPTION reply for `method`
// and `seqid`, in the strict or non-strict header style, whose body is a
// TApplicationException {1: message, 2: type}.
void AppendApplicationExceptionFrame(std::string* out, std::string_view method, int32_t seqid,
                                     bool strict, AppExceptionType type, std::string_view message);

// The UNKNOWN_METHOD reply the generated processor gives, "Invalid method name: '<method>'".
void AppendUnknownMethodFrame(std::string* out, std::string_view method, int32_t seqid,
                              bool strict);

}  // namespace saker::net

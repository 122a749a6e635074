// Thrift framing: frame splitting and limits, message headers in both styles, and the
// TApplicationException frames, checked against libthrift and the generated processor.
#include "server/net/thrift_frame.h"

#include <gtest/gtest.h>
#include <thrift/TApplicationException.h>
#include <thrift/async/TAsyncProtocolProcessor.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <memory>
#include <string>

#include "Saker.h"

namespace saker::net {
namespace {

using apache::thrift::TApplicationException;
using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TMessageType;
using apache::thrift::transport::TMemoryBuffer;

std::string Be32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
}

// A call message with an empty argument struct, written by libthrift.
std::string CallMessage(const std::string& method, int32_t seqid, bool strict) {
  auto buf = std::make_shared<TMemoryBuffer>();
  TBinaryProtocol proto(buf, 0, 0, /*strict_read=*/false, /*strict_write=*/strict);
  proto.writeMessageBegin(method, apache::thrift::protocol::T_CALL, seqid);
  proto.writeStructBegin("args");
  proto.writeFieldStop();
  proto.writeStructEnd();
  proto.writeMessageEnd();
  return buf->getBufferAsString();
}

TEST(ThriftFrameTest, NeedsTheWholeFrame) {
  std::string frame = Be32(3) + "abc";
  for (size_t n = 0; n < frame.size(); ++n) {
    EXPECT_EQ(NextFrame(std::string_view(frame).substr(0, n)).kind, FrameResult::Kind::kNeedMore);
  }
  std::string input = frame + Be32(1);  // the payload view points into it
  FrameResult r = NextFrame(input);
  ASSERT_EQ(r.kind, FrameResult::Kind::kFrame);
  EXPECT_EQ(r.payload, "abc");
  EXPECT_EQ(r.consumed, 7u);
}

TEST(ThriftFrameTest, PipelinedFrames) {
  std::string in = Be32(1) + "a" + Be32(2) + "bc" + Be32(3) + "def";
  std::string_view rest = in;
  std::string got;
  for (;;) {
    FrameResult r = NextFrame(rest);
    if (r.kind != FrameResult::Kind::kFrame) break;
    got += std::string(r.payload) + "|";
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(got, "a|bc|def|");
  EXPECT_TRUE(rest.empty());
}

TEST(ThriftFrameTest, BadLengthsAreErrorsBeforeBuffering) {
  EXPECT_EQ(NextFrame(Be32(0x80000000u)).kind, FrameResult::Kind::kError);
  EXPECT_EQ(NextFrame(Be32(0xffffffffu)).kind, FrameResult::Kind::kError);
  EXPECT_EQ(NextFrame(Be32(0)).kind, FrameResult::Kind::kError);
  EXPECT_EQ(NextFrame(Be32(kDefaultMaxFrameBytes + 1)).kind, FrameResult::Kind::kError);
  EXPECT_EQ(NextFrame(Be32(kDefaultMaxFrameBytes)).kind, FrameResult::Kind::kNeedMore);
  EXPECT_EQ(NextFrame(Be32(11), 10).kind, FrameResult::Kind::kError);
  EXPECT_EQ(NextFrame(Be32(10), 10).kind, FrameResult::Kind::kNeedMore);
}

TEST(ThriftFrameTest, ParsesStrictAndNonStrictHeaders) {
  for (bool strict : {true, false}) {
    std::string msg = CallMessage("get_version", 42, strict);
    Result<MessageHeader> h = ParseMessageHeader(msg);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ(h->name, "get_version");
    EXPECT_EQ(h->type, static_cast<uint8_t>(MessageType::kCall));
    EXPECT_EQ(h->seqid, 42);
    EXPECT_EQ(h->strict, strict);
    EXPECT_EQ(msg.size() - h->size, 1u);  // the empty struct's T_STOP
  }
}

TEST(ThriftFrameTest, RejectsBadHeaders) {
  std::string msg = CallMessage("put", 1, true);
  for (size_t n = 0; n + 1 < msg.size(); ++n) {
    EXPECT_FALSE(ParseMessageHeader(std::string_view(msg).substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(ParseMessageHeader(Be32(0x80020001u) + Be32(0) + Be32(0)).ok());
  EXPECT_FALSE(ParseMessageHeader(Be32(1000) + "abc").ok());
  EXPECT_FALSE(ParseMessageHeader(Be32(0x80010001u) + Be32(0x7fffffff) + "x").ok());
}

TEST(ThriftFrameTest, ExceptionFrameReadsBackWithLibthrift) {
  for (bool strict : {true, false}) {
    std::string out = "prefix";
    AppendApplicationExceptionFrame(&out, "frob", 7, strict, AppExceptionType::kInternalError,
                                    "boom");
    std::string_view frame = std::string_view(out).substr(6);
    FrameResult f = NextFrame(frame);
    ASSERT_EQ(f.kind, FrameResult::Kind::kFrame);
    EXPECT_EQ(f.consumed, frame.size());
    auto buf = std::make_shared<TMemoryBuffer>();
    buf->write(reinterpret_cast<const uint8_t*>(f.payload.data()),
               static_cast<uint32_t>(f.payload.size()));
    TBinaryProtocol proto(buf, 0, 0, /*strict_read=*/strict, /*strict_write=*/true);
    std::string name;
    TMessageType type;
    int32_t seqid = 0;
    proto.readMessageBegin(name, type, seqid);
    EXPECT_EQ(name, "frob");
    EXPECT_EQ(type, apache::thrift::protocol::T_EXCEPTION);
    EXPECT_EQ(seqid, 7);
    TApplicationException x;
    x.read(&proto);
    EXPECT_EQ(x.getType(), TApplicationException::INTERNAL_ERROR);
    EXPECT_STREQ(x.what(), "boom");
  }
}

// Our UNKNOWN_METHOD frame is byte for byte what the generated processor sends for a method it
// does not know (Finagle's probe), and the processor keeps the connection (cob(true)).
TEST(ThriftFrameTest, UnknownMethodMatchesGeneratedProcessor) {
  const std::string probe = "__can__finagle__trace__v3__";
  auto processor = std::make_shared<api::SakerAsyncProcessor>(nullptr);
  auto factory = std::make_shared<apache::thrift::protocol::TBinaryProtocolFactory>();
  apache::thrift::async::TAsyncProtocolProcessor proto_processor(processor, factory);
  std::string msg = CallMessage(probe, 0, true);
  auto in = std::make_shared<TMemoryBuffer>(reinterpret_cast<uint8_t*>(msg.data()),
                                            static_cast<uint32_t>(msg.size()));
  auto out = std::make_shared<TMemoryBuffer>();
  bool healthy = false;
  proto_processor.process([&](bool ok) { healthy = ok; }, in, out);
  EXPECT_TRUE(healthy);

  std::string ours;
  AppendUnknownMethodFrame(&ours, probe, 0, /*strict=*/true);
  EXPECT_EQ(ours.substr(4), out->getBufferAsString());
}

TEST(ThriftFrameTest, FrameLength) {
  std::string out;
  AppendFrameLength(&out, 0x01020304);
  EXPECT_EQ(out, std::string("\x01\x02\x03\x04"));
}

}  // namespace
}  // namespace saker::net

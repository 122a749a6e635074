// libFuzzer target for Thrift argument decoding: each frame's arguments go through the
// hand-written put decoders (server/net/thrift_hot.h), then through the generated cob_style
// processor (SakerAsyncProcessor over the no-op SakerCobSvNull handler) with the frame-bounded
// protocols of server/net/thrift_codec.h, as ThriftSession should. libthrift throws on bad input;
// the server catches std::exception and closes, so exceptions are fine here. What must not happen:
// crashes, UB, leaks, or a small frame that makes the decoder allocate without bound.
#include <thrift/transport/TBufferTransports.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string_view>

#include "Saker.h"
#include "server/net/thrift_codec.h"
#include "server/net/thrift_frame.h"
#include "server/net/thrift_hot.h"

namespace {

using apache::thrift::transport::TMemoryBuffer;

saker::api::SakerAsyncProcessor& Processor() {
  static auto* processor =
      new saker::api::SakerAsyncProcessor(std::make_shared<saker::api::SakerCobSvNull>());
  return *processor;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (;;) {
    saker::net::FrameResult f = saker::net::NextFrame(rest, 4096);
    if (f.kind != saker::net::FrameResult::Kind::kFrame) break;
    // As ThriftSession must: only well-formed CALL / ONEWAY headers reach libthrift, whose
    // TAsyncDispatchProcessor loads the message type into an enum before checking it (UB for
    // other byte values) and prints to stderr when it refuses one.
    auto header = saker::net::ParseMessageHeader(f.payload);
    if (!header.ok() || (header->type != static_cast<uint8_t>(saker::net::MessageType::kCall) &&
                         header->type != static_cast<uint8_t>(saker::net::MessageType::kOneway))) {
      break;
    }
    const std::string_view args = f.payload.substr(header->size);
    saker::net::PutCall native;
    saker::net::DecodePutItemsArgs(args, 0, &native);
    saker::net::PutCall kestrel;
    saker::net::DecodeKestrelPutArgs(args, 0, &kestrel);
    auto in = saker::net::MakeInputProtocol(f.payload);
    auto out = saker::net::MakeOutputProtocol(std::make_shared<TMemoryBuffer>());
    bool healthy = true;
    try {
      Processor().process([&healthy, out](bool ok) { healthy = ok; }, in, out);
    } catch (const std::exception&) {
      healthy = false;
    }
    if (!healthy) break;  // the server closes the connection here
    rest.remove_prefix(f.consumed);
  }
  return 0;
}

// libFuzzer target for the thrift frame splitter and message-header parser. Checks: frames
// stay inside the input and under the cap, and every header that parses round-trips through
// AppendUnknownMethodFrame (the reply we would send for it).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/net/thrift_frame.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using saker::net::FrameResult;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const size_t max_frame = 1024;
  for (;;) {
    FrameResult f = saker::net::NextFrame(rest, max_frame);
    if (f.kind != FrameResult::Kind::kFrame) {
      Check(f.consumed == 0);
      break;
    }
    Check(f.consumed == f.payload.size() + 4 && f.consumed <= rest.size());
    Check(!f.payload.empty() && f.payload.size() <= max_frame);
    auto header = saker::net::ParseMessageHeader(f.payload);
    if (header.ok()) {
      Check(header->size <= f.payload.size());
      std::string reply;
      saker::net::AppendUnknownMethodFrame(&reply, header->name, header->seqid, header->strict);
      FrameResult back = saker::net::NextFrame(reply, reply.size());
      Check(back.kind == FrameResult::Kind::kFrame && back.consumed == reply.size());
      auto echo = saker::net::ParseMessageHeader(back.payload);
      Check(echo.ok());
      Check(echo->name == header->name && echo->seqid == header->seqid &&
            echo->strict == header->strict &&
            echo->type == static_cast<uint8_t>(saker::net::MessageType::kException));
    }
    rest.remove_prefix(f.consumed);
  }
  return 0;
}

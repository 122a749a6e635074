// Frame-bounded TBinaryProtocol instances for the Thrift listener (see the header for the
// libthrift behaviour this guards against).
#include "server/net/thrift_codec.h"

#include <thrift/TConfiguration.h>
#include <thrift/protocol/TBinaryProtocol.h>

#include <algorithm>
#include <utility>

namespace saker::net {

using apache::thrift::TConfiguration;
using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::transport::TMemoryBuffer;

std::shared_ptr<apache::thrift::protocol::TProtocol> MakeInputProtocol(std::string_view frame) {
  const auto size = static_cast<int32_t>(std::min<size_t>(frame.size(), INT32_MAX));
  // The message is the frame: remaining-size checks then count the frame's real bytes.
  auto config = std::make_shared<TConfiguration>(/*maxMessageSize=*/std::max(size, 1),
                                                 /*maxFrameSize=*/std::max(size, 1));
  auto buf =
      std::make_shared<TMemoryBuffer>(reinterpret_cast<uint8_t*>(const_cast<char*>(frame.data())),
                                      static_cast<uint32_t>(size), TMemoryBuffer::OBSERVE, config);
  // A zero limit means "none" to libthrift; a frame is never empty (NextFrame refuses it).
  const int32_t string_limit = std::max(size, 1);
  const int32_t container_limit = std::clamp(size, 1, kMaxContainerElements);
  return std::make_shared<TBinaryProtocol>(buf, string_limit, container_limit,
                                           /*strict_read=*/false, /*strict_write=*/true);
}

std::shared_ptr<apache::thrift::protocol::TProtocol> MakeOutputProtocol(
    std::shared_ptr<TMemoryBuffer> out) {
  return std::make_shared<TBinaryProtocol>(std::move(out), 0, 0, /*strict_read=*/false,
                                           /*strict_write=*/true);
}

}  // namespace saker::net

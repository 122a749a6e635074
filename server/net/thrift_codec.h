// Binary protocols for decoding one Thrift request frame with every size bounded by the frame.
//
// Why: libthrift 0.17's TBinaryProtocol believes the sizes a message declares. With the
// default TBinaryProtocolFactory (no limits) and a TMemoryBuffer (whose remaining-size check
// starts at TConfiguration's 100 MB, not the buffer's size), a 20-byte frame can make the
// decoder `resize` a std::string to 2 GiB, or a vector to 2^31 structs (a struct's minimum
// size counts as 0, so no check applies), and list/set sizes near 2^31 overflow an int in
// checkReadBytesAvailable (UB; found by tests/fuzz/thrift_processor_fuzz.cc). Here strings
// may not exceed the frame, containers may not hold more elements than the frame has bytes
// (every element takes at least one) nor kMaxContainerElements, and the buffer's message
// size is the frame's.
//
// Use: call the generated processor (a TAsyncDispatchProcessor) directly,
//   auto in = MakeInputProtocol(frame);
//   auto obuf = std::make_shared<TMemoryBuffer>();
//   auto out = MakeOutputProtocol(obuf);
//   processor->process([out, obuf](bool healthy) { ... }, in, out);
// `in` reads `frame` in place (no copy): the frame's bytes must stay put until process()
// returns (arguments are decoded before any handler runs). The generated processor keeps a
// raw pointer to `out`, so the cob must keep `out` alive until it runs (capture it).
// Decoding errors throw (TProtocolException) out of process(): catch std::exception there
// and close the connection.
#pragma once

#include <thrift/protocol/TProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <cstdint>
#include <memory>
#include <string_view>

namespace saker::net {

// Largest list, set or map a request may declare.
inline constexpr int32_t kMaxContainerElements = 1'000'000;

// A TBinaryProtocol (non-strict read: both header styles) over `frame`, bounded as above.
std::shared_ptr<apache::thrift::protocol::TProtocol> MakeInputProtocol(std::string_view frame);

// A TBinaryProtocol writing strict headers (as Kestrel did) into `out`.
std::shared_ptr<apache::thrift::protocol::TProtocol> MakeOutputProtocol(
    std::shared_ptr<apache::thrift::transport::TMemoryBuffer> out);

}  // namespace saker::net

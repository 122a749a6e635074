// The replication listener's wire form: Thrift framed transport (a 4-byte big-endian length,
// then the message), binary protocol, the calls of thrift/replication.thrift. A standard
// generated Thrift client can call a replica; our own code encodes the calls here so that one
// append's bytes are encoded once and the same buffer goes to every follower.
//
// Decoding is bounded by the frame (server/net/thrift_codec.h) and never throws: errors are
// Corruption statuses.
#pragma once

#include <thrift/protocol/TProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/common/status.h"
#include "server/net/thrift_codec.h"

namespace saker::replication {

// Largest frame either side accepts.
inline constexpr uint32_t kMaxFrameBytes = 64u << 20;

// The length of the whole frame at the start of `input` (prefix included) once it is all
// there; 0 while more is needed; Corruption for a frame over kMaxFrameBytes.
Result<size_t> FrameLength(std::string_view input);

struct MessageHead {
  std::string name;
  int type = 0;  // apache::thrift::protocol::TMessageType
  int32_t seqid = 0;
};

namespace wire_internal {
std::string Finish(apache::thrift::transport::TMemoryBuffer* buf);
void WriteHead(apache::thrift::protocol::TProtocol* out, std::string_view name, int type,
               int32_t seqid, int16_t field_id);
void WriteTail(apache::thrift::protocol::TProtocol* out);
// Reads the message head, then the fields of the args/result struct, finding field `field_id`
// (a struct) and reading it with `read`. False (with `error`) on anything malformed.
bool Read(std::string_view frame, MessageHead* head, int16_t field_id,
          const std::function<void(apache::thrift::protocol::TProtocol*)>& read,
          std::string* error);
}  // namespace wire_internal

// The whole frame of a call of `method` with its one argument `request` (field 1).
template <class T>
std::string EncodeCall(std::string_view method, int32_t seqid, const T& request) {
  auto buf = std::make_shared<apache::thrift::transport::TMemoryBuffer>();
  auto out = net::MakeOutputProtocol(buf);
  wire_internal::WriteHead(out.get(), method, apache::thrift::protocol::T_CALL, seqid, 1);
  request.write(out.get());
  wire_internal::WriteTail(out.get());
  return wire_internal::Finish(buf.get());
}

// The whole frame of the reply to `method` (its result's field 0, `success`).
template <class R>
std::string EncodeReply(std::string_view method, int32_t seqid, const R& reply) {
  auto buf = std::make_shared<apache::thrift::transport::TMemoryBuffer>();
  auto out = net::MakeOutputProtocol(buf);
  wire_internal::WriteHead(out.get(), method, apache::thrift::protocol::T_REPLY, seqid, 0);
  reply.write(out.get());
  wire_internal::WriteTail(out.get());
  return wire_internal::Finish(buf.get());
}

// Reads the head of the call in `frame` (prefix included).
Result<MessageHead> DecodeHead(std::string_view frame);

// Decodes the call's argument (field 1) or the reply's result (field 0) from `frame`.
template <class T>
Status DecodeBody(std::string_view frame, int16_t field_id, T* value) {
  MessageHead head;
  std::string error;
  bool ok = wire_internal::Read(
      frame, &head, field_id, [value](apache::thrift::protocol::TProtocol* in) { value->read(in); },
      &error);
  return ok ? Status::OK() : Status::Corruption(error);
}
template <class T>
Status DecodeCall(std::string_view frame, T* request) {
  return DecodeBody(frame, 1, request);
}
template <class R>
Status DecodeReply(std::string_view frame, R* reply) {
  return DecodeBody(frame, 0, reply);
}

}  // namespace saker::replication

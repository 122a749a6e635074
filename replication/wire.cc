// Thrift framed-binary encoding of the replication calls (see the header).
#include "replication/wire.h"

#include <arpa/inet.h>

#include <cstring>
#include <exception>

namespace saker::replication {

using apache::thrift::protocol::TProtocol;
using apache::thrift::protocol::TType;
using apache::thrift::transport::TMemoryBuffer;

Result<size_t> FrameLength(std::string_view input) {
  if (input.size() < 4) return size_t{0};
  uint32_t be = 0;
  std::memcpy(&be, input.data(), 4);
  const uint32_t n = ntohl(be);
  if (n > kMaxFrameBytes) {
    return Status::Corruption("replication frame of " + std::to_string(n) +
                              " bytes is over the limit");
  }
  return input.size() >= 4 + static_cast<size_t>(n) ? 4 + static_cast<size_t>(n) : 0;
}

namespace wire_internal {

std::string Finish(TMemoryBuffer* buf) {
  uint8_t* data = nullptr;
  uint32_t len = 0;
  buf->getBuffer(&data, &len);
  std::string frame(4 + len, '\0');
  const uint32_t be = htonl(len);
  std::memcpy(frame.data(), &be, 4);
  std::memcpy(frame.data() + 4, data, len);
  return frame;
}

void WriteHead(TProtocol* out, std::string_view name, int type, int32_t seqid, int16_t field_id) {
  out->writeMessageBegin(std::string(name),
                         static_cast<apache::thrift::protocol::TMessageType>(type), seqid);
  out->writeStructBegin("args");
  out->writeFieldBegin("value", apache::thrift::protocol::T_STRUCT, field_id);
}

void WriteTail(TProtocol* out) {
  out->writeFieldEnd();
  out->writeFieldStop();
  out->writeStructEnd();
  out->writeMessageEnd();
}

bool Read(std::string_view frame, MessageHead* head, int16_t field_id,
          const std::function<void(TProtocol*)>& read, std::string* error) {
  if (frame.size() < 4) {
    *error = "short replication frame";
    return false;
  }
  try {
    auto in = net::MakeInputProtocol(frame.substr(4));
    apache::thrift::protocol::TMessageType type;
    in->readMessageBegin(head->name, type, head->seqid);
    head->type = type;
    std::string struct_name;
    in->readStructBegin(struct_name);
    bool found = false;
    while (true) {
      std::string field_name;
      TType ftype;
      int16_t fid = 0;
      in->readFieldBegin(field_name, ftype, fid);
      if (ftype == apache::thrift::protocol::T_STOP) break;
      if (fid == field_id && ftype == apache::thrift::protocol::T_STRUCT && !found) {
        read(in.get());
        found = true;
      } else {
        in->skip(ftype);
      }
      in->readFieldEnd();
    }
    in->readStructEnd();
    in->readMessageEnd();
    if (!found) {
      *error = "replication message " + head->name + " lacks its field " + std::to_string(field_id);
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    *error = std::string("malformed replication message: ") + e.what();
    return false;
  }
}

}  // namespace wire_internal

Result<MessageHead> DecodeHead(std::string_view frame) {
  if (frame.size() < 4) return Status::Corruption("short replication frame");
  try {
    auto in = net::MakeInputProtocol(frame.substr(4));
    MessageHead head;
    apache::thrift::protocol::TMessageType type;
    in->readMessageBegin(head.name, type, head.seqid);
    head.type = type;
    return head;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("malformed replication message: ") + e.what());
  }
}

}  // namespace saker::replication

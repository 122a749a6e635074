// The hand-decoded hot calls against the generated code as the oracle: what libthrift writes
// decodes to the same items, and the replies are byte for byte what it would write.
#include "server/net/thrift_hot.h"

#include <gtest/gtest.h>
#include <thrift/TApplicationException.h>
#include <thrift/protocol/TBinaryProtocol.h>

#include <memory>
#include <string>

#include "Kestrel.h"
#include "Saker.h"

namespace saker::net {
namespace {

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TMessageType;
using apache::thrift::transport::TMemoryBuffer;

constexpr int64_t kNow = 1'700'000'000'000;

// Writes `value` with a libthrift TBinaryProtocol; with a method name, as a reply message.
template <typename T>
std::string Written(const T& value, const char* reply_to = nullptr, int32_t seqid = 0) {
  auto buf = std::make_shared<TMemoryBuffer>();
  TBinaryProtocol proto(buf);
  if (reply_to) proto.writeMessageBegin(reply_to, TMessageType::T_REPLY, seqid);
  value.write(&proto);
  if (reply_to) proto.writeMessageEnd();
  return buf->getBufferAsString();
}

// Drops the 4-byte frame length after checking it.
std::string Unframed(const std::string& frame) {
  EXPECT_GE(frame.size(), 4u);
  uint32_t length = (uint32_t(uint8_t(frame[0])) << 24) | (uint32_t(uint8_t(frame[1])) << 16) |
                    (uint32_t(uint8_t(frame[2])) << 8) | uint8_t(frame[3]);
  EXPECT_EQ(length, frame.size() - 4);
  return frame.substr(4);
}

api::Saker_put_items_args NativeArgs() {
  api::Saker_put_items_args a;
  a.queue = "jobs+sub";
  a.items.resize(3);
  a.items[0].data = std::string("payload\0with nul", 16);
  a.items[1].data = "keyed";
  a.items[1].__set_key("k-1");
  a.items[1].ttl_ms = 5000;
  a.items[2].data = "";
  return a;
}

TEST(ThriftHotTest, DecodesWhatLibthriftWritesForPutItems) {
  std::string bytes = Written(NativeArgs());
  PutCall call;
  ASSERT_TRUE(DecodePutItemsArgs(bytes, kNow, &call));
  EXPECT_EQ(call.queue, "jobs+sub");
  ASSERT_EQ(call.items.size(), 3u);
  EXPECT_EQ(call.items[0].payload, std::string("payload\0with nul", 16));
  EXPECT_EQ(call.items[0].key, "");
  EXPECT_EQ(call.items[0].expiry_ms, 0);
  EXPECT_EQ(call.items[1].payload, "keyed");
  EXPECT_EQ(call.items[1].key, "k-1");
  EXPECT_EQ(call.items[1].expiry_ms, kNow + 5000);
  EXPECT_EQ(call.items[2].payload, "");
}

TEST(ThriftHotTest, DecodesWhatLibthriftWritesForKestrelPut) {
  kestrel::Kestrel_put_args a;
  a.queue_name = "q";
  a.items = {"one", "two"};
  a.expiration_msec = 250;
  std::string bytes = Written(a);  // the queue name points into it
  PutCall call;
  ASSERT_TRUE(DecodeKestrelPutArgs(bytes, kNow, &call));
  EXPECT_EQ(call.queue, "q");
  ASSERT_EQ(call.items.size(), 2u);
  EXPECT_EQ(call.items[1].payload, "two");
  EXPECT_EQ(call.items[0].expiry_ms, kNow + 250);
  EXPECT_EQ(call.items[1].expiry_ms, kNow + 250);

  a.expiration_msec = 0;
  PutCall never;
  ASSERT_TRUE(DecodeKestrelPutArgs(Written(a), kNow, &never));
  EXPECT_EQ(never.items[0].expiry_ms, 0);
}

TEST(ThriftHotTest, EveryTruncationIsLeftToTheProcessor) {
  std::string bytes = Written(NativeArgs());
  for (size_t n = 0; n < bytes.size(); ++n) {
    PutCall call;
    EXPECT_FALSE(DecodePutItemsArgs(bytes.substr(0, n), kNow, &call)) << n;
  }
}

TEST(ThriftHotTest, OddShapesAreLeftToTheProcessor) {
  // An unknown field 9 (i32) before the stop: the generated code skips it; we do not decode.
  std::string bytes = Written(NativeArgs());
  bytes.insert(bytes.size() - 1, std::string("\x08\x00\x09\x00\x00\x00\x01", 7));
  PutCall call;
  EXPECT_FALSE(DecodePutItemsArgs(bytes, kNow, &call));

  // A missing items list.
  std::string only_queue = "\x0b\x00\x01\x00\x00\x00\x01q";
  only_queue.push_back('\0');
  EXPECT_FALSE(DecodePutItemsArgs(only_queue, kNow, &call));

  // A list that declares more elements than the frame has bytes.
  std::string huge = "\x0b\x00\x01\x00\x00\x00\x01q\x0f\x00\x02\x0c\x7f\xff\xff\xff";
  EXPECT_FALSE(DecodePutItemsArgs(huge, kNow, &call));

  // Kestrel items declared as structs rather than binaries.
  std::string wrong_elem = "\x0b\x00\x01\x00\x00\x00\x01q\x0f\x00\x02\x0c\x00\x00\x00\x00";
  wrong_elem.push_back('\0');
  EXPECT_FALSE(DecodeKestrelPutArgs(wrong_elem, kNow, &call));
}

TEST(ThriftHotTest, PutItemsReplyIsWhatLibthriftWrites) {
  queue::PutResult r;
  r.accepted = 2;
  r.offsets = {7, 1ull << 40};
  api::Saker_put_items_result expected;
  expected.success.accepted = 2;
  expected.success.offsets = {7, int64_t{1} << 40};
  expected.__isset.success = true;
  std::string frame;
  AppendPutItemsReply(&frame, 42, Result<queue::PutResult>(r));
  EXPECT_EQ(Unframed(frame), Written(expected, "put_items", 42));

  r.refused = Status::Busy("queue q is full");
  expected.success.refused.code = static_cast<int32_t>(StatusCode::kBusy);
  expected.success.refused.message = "queue q is full";
  expected.success.__isset.refused = true;
  frame.clear();
  AppendPutItemsReply(&frame, 43, Result<queue::PutResult>(r));
  EXPECT_EQ(Unframed(frame), Written(expected, "put_items", 43));
}

TEST(ThriftHotTest, PutItemsErrorIsTheDeclaredException) {
  api::Saker_put_items_result expected;
  expected.err.code = static_cast<int32_t>(StatusCode::kInvalidArgument);
  expected.err.message = "bad queue name";
  expected.__isset.err = true;
  std::string frame;
  AppendPutItemsReply(&frame, -1,
                      Result<queue::PutResult>(Status::InvalidArgument("bad queue name")));
  EXPECT_EQ(Unframed(frame), Written(expected, "put_items", -1));
}

TEST(ThriftHotTest, KestrelPutReplyIsWhatLibthriftWrites) {
  kestrel::Kestrel_put_result expected;
  expected.success = 3;
  expected.__isset.success = true;
  std::string frame;
  AppendI32Reply(&frame, "put", 9, 3);
  EXPECT_EQ(Unframed(frame), Written(expected, "put", 9));
}

TEST(ThriftHotTest, DecodesWhatLibthriftWritesForGetItemsAndAck) {
  api::Saker_get_items_args g;
  g.queue = "jobs";
  g.subscription = "audit";
  g.max_items = 32;
  g.wait_ms = 100;
  g.lease_ms = 30000;
  std::string bytes = Written(g);
  GetItemsCall call;
  ASSERT_TRUE(DecodeGetItemsArgs(bytes, &call));
  EXPECT_EQ(call.queue, "jobs");
  EXPECT_EQ(call.subscription, "audit");
  EXPECT_EQ(call.max_items, 32);
  EXPECT_EQ(call.wait_ms, 100);
  EXPECT_EQ(call.lease_ms, 30000);
  for (size_t n = 0; n < bytes.size(); ++n) {
    GetItemsCall cut;
    EXPECT_FALSE(DecodeGetItemsArgs(bytes.substr(0, n), &cut)) << n;
  }

  api::Saker_ack_args a;
  a.queue = "jobs";
  a.lease_ids = {1, int64_t{1} << 50, 3};
  std::vector<uint64_t> ids;
  ASSERT_TRUE(DecodeAckArgs(Written(a), &ids));
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, uint64_t{1} << 50, 3}));
  std::string ack_bytes = Written(a);
  for (size_t n = 0; n < ack_bytes.size(); ++n) {
    EXPECT_FALSE(DecodeAckArgs(ack_bytes.substr(0, n), &ids)) << n;
  }
}

TEST(ThriftHotTest, GetItemsReplyIsWhatLibthriftWrites) {
  std::vector<queue::Delivery> got(2);
  got[0].lease_id = 77;
  got[0].offset = 5;
  got[0].delivery_count = 1;
  got[0].timestamp_ms = kNow;
  got[0].payload = "first";
  got[1].lease_id = uint64_t{1} << 60;
  got[1].offset = 6;
  got[1].delivery_count = 3;
  got[1].timestamp_ms = kNow + 1;
  got[1].expiry_ms = kNow + 60'000;
  got[1].payload = std::string_view("\0bin", 4);
  api::Saker_get_items_result expected;
  for (const queue::Delivery& d : got) {
    api::LeasedItem& i = expected.success.emplace_back();
    i.lease_id = static_cast<int64_t>(d.lease_id);
    i.offset = static_cast<int64_t>(d.offset);
    i.delivery_count = static_cast<int32_t>(d.delivery_count);
    i.data = std::string(d.payload);
    i.put_at_ms = d.timestamp_ms;
    i.expires_at_ms = d.expiry_ms;
  }
  expected.__isset.success = true;
  std::string frame;
  AppendGetItemsReply(&frame, 5, Result<std::vector<queue::Delivery>>(got));
  EXPECT_EQ(Unframed(frame), Written(expected, "get_items", 5));

  std::vector<queue::Delivery> none;
  api::Saker_get_items_result empty;
  empty.__isset.success = true;
  frame.clear();
  AppendGetItemsReply(&frame, 6, Result<std::vector<queue::Delivery>>(none));
  EXPECT_EQ(Unframed(frame), Written(empty, "get_items", 6));

  api::Saker_get_items_result error;
  error.err.code = static_cast<int32_t>(StatusCode::kNotFound);
  error.err.message = "no subscription jobs+x";
  error.__isset.err = true;
  frame.clear();
  AppendGetItemsReply(
      &frame, 7, Result<std::vector<queue::Delivery>>(Status::NotFound("no subscription jobs+x")));
  EXPECT_EQ(Unframed(frame), Written(error, "get_items", 7));
}

TEST(ThriftHotTest, AckReplyIsWhatLibthriftWrites) {
  api::Saker_ack_result expected;
  expected.success = 31;
  expected.__isset.success = true;
  std::string frame;
  AppendI32Reply(&frame, "ack", 11, 31);
  EXPECT_EQ(Unframed(frame), Written(expected, "ack", 11));
  std::string via_result;
  AppendAckReply(&via_result, 11, Result<int32_t>(31));
  EXPECT_EQ(via_result, frame);
}

TEST(ThriftHotTest, AckErrorIsTheDeclaredException) {
  api::Saker_ack_result expected;
  expected.err.code = static_cast<int32_t>(StatusCode::kIOError);
  expected.err.message = "queue q is fail-stop";
  expected.__isset.err = true;
  std::string frame;
  AppendAckReply(&frame, 12, Result<int32_t>(Status::IOError("queue q is fail-stop")));
  EXPECT_EQ(Unframed(frame), Written(expected, "ack", 12));
}

TEST(ThriftHotTest, ApplicationExceptionIsWhatTProcessorWrites) {
  using apache::thrift::TApplicationException;
  auto buf = std::make_shared<TMemoryBuffer>();
  TBinaryProtocol proto(buf);
  proto.writeMessageBegin("confirm", TMessageType::T_EXCEPTION, 5);
  TApplicationException(TApplicationException::INTERNAL_ERROR, "cursor log write failed")
      .write(&proto);
  proto.writeMessageEnd();
  std::string frame;
  AppendApplicationException(&frame, "confirm", 5, "cursor log write failed");
  EXPECT_EQ(Unframed(frame), buf->getBufferAsString());
}

}  // namespace
}  // namespace saker::net

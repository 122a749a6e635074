// The native argument checks over frames built by hand (missing, wrong-typed, truncated and
// unknown fields) and over what libthrift writes (which they must accept).
#include "server/net/thrift_args.h"

#include <gtest/gtest.h>
#include <thrift/protocol/TBinaryProtocol.h>

#include <memory>
#include <string>

#include "Saker.h"
#include "server/net/thrift_binary.h"
#include "server/net/thrift_hot.h"

namespace saker::net {
namespace {

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::transport::TMemoryBuffer;

template <typename T>
std::string Written(const T& value) {
  auto buf = std::make_shared<TMemoryBuffer>();
  TBinaryProtocol proto(buf);
  value.write(&proto);
  return buf->getBufferAsString();
}

// Argument structs written field by field.
class Args {
 public:
  Args& Str(int16_t id, std::string_view s) {
    tbin::AppendFieldHeader(&out_, tbin::kString, id);
    tbin::AppendString(&out_, s);
    return *this;
  }
  Args& I32(int16_t id, int32_t v) {
    tbin::AppendFieldHeader(&out_, tbin::kI32, id);
    tbin::AppendBe32(&out_, static_cast<uint32_t>(v));
    return *this;
  }
  // A list header of `n` elements of `elem`; the elements follow with Raw / the struct helpers.
  Args& List(int16_t id, uint8_t elem, int32_t n) {
    tbin::AppendFieldHeader(&out_, tbin::kList, id);
    out_.push_back(static_cast<char>(elem));
    tbin::AppendBe32(&out_, static_cast<uint32_t>(n));
    return *this;
  }
  Args& Struct(int16_t id) {
    tbin::AppendFieldHeader(&out_, tbin::kStruct, id);
    return *this;
  }
  Args& Stop() {
    out_.push_back(static_cast<char>(tbin::kStop));
    return *this;
  }
  std::string bytes() const { return out_; }

 private:
  std::string out_;
};

std::string Message(const Status& s) { return std::string(s.message()); }

TEST(ThriftArgsTest, AcceptsWhatLibthriftWrites) {
  api::Saker_put_items_args put;
  put.queue = "jobs";
  put.items.resize(2);
  put.items[0].data = "a";
  put.items[1].__set_key("k");
  EXPECT_TRUE(CheckNativeArgs("put_items", Written(put)).ok());

  api::Saker_get_items_args get;
  get.queue = "jobs";
  get.max_items = 1;
  EXPECT_TRUE(CheckNativeArgs("get_items", Written(get)).ok());

  api::Saker_create_subscription_args create;
  create.queue = "jobs";
  create.subscription = "audit";
  create.start.kind = api::StartKind::OFFSET;
  create.start.value = 5;
  EXPECT_TRUE(CheckNativeArgs("create_subscription", Written(create)).ok());

  api::Saker_nack_args nack;
  nack.queue = "jobs";
  nack.lease_ids = {1, 2};
  EXPECT_TRUE(CheckNativeArgs("nack", Written(nack)).ok());
  EXPECT_TRUE(CheckNativeArgs("list_queues", Written(api::Saker_list_queues_args())).ok());
}

TEST(ThriftArgsTest, MissingQueueIsRefused) {
  std::string args = Args().List(2, tbin::kStruct, 1).Str(1, "x").Stop().Stop().bytes();
  Status s = CheckNativeArgs("put_items", args);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(Message(s), "put_items: missing field 1 (queue)");
}

TEST(ThriftArgsTest, MissingItemsIsRefused) {
  Status s = CheckNativeArgs("put_items", Args().Str(1, "jobs").Stop().bytes());
  EXPECT_EQ(Message(s), "put_items: missing field 2 (items)");
}

TEST(ThriftArgsTest, WrongTypedQueueIsRefused) {
  std::string args = Args().I32(1, 7).List(2, tbin::kStruct, 0).Stop().bytes();
  Status s = CheckNativeArgs("put_items", args);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(Message(s), "put_items: field 1 (queue) is i32, want string");
}

TEST(ThriftArgsTest, WrongTypedItemsAreRefused) {
  std::string strings = Args().Str(1, "jobs").Str(2, "not a list").Stop().bytes();
  EXPECT_EQ(Message(CheckNativeArgs("put_items", strings)),
            "put_items: field 2 (items) is string, want list");
  std::string binaries = Args().Str(1, "jobs").List(2, tbin::kString, 1).bytes() +
                         std::string("\0\0\0\x01x", 5) + Args().Stop().bytes();
  EXPECT_EQ(Message(CheckNativeArgs("put_items", binaries)),
            "put_items: items is a list of string, want a list of struct");
}

TEST(ThriftArgsTest, PutItemFieldsAreChecked) {
  // items[1] has a key but no data.
  std::string args = Args()
                         .Str(1, "jobs")
                         .List(2, tbin::kStruct, 2)
                         .Str(1, "a")
                         .Stop()
                         .Str(2, "k")
                         .Stop()
                         .Stop()
                         .bytes();
  EXPECT_EQ(Message(CheckNativeArgs("put_items", args)),
            "put_items: missing field 1 (items[1].data)");
  std::string ttl =
      Args().Str(1, "jobs").List(2, tbin::kStruct, 1).Str(1, "a").Str(3, "5").Stop().Stop().bytes();
  EXPECT_EQ(Message(CheckNativeArgs("put_items", ttl)),
            "put_items: field 3 (items[0].ttl_ms) is string, want i64");
}

TEST(ThriftArgsTest, GetItemsNeedsMaxItems) {
  std::string args = Args().Str(1, "jobs").Str(2, "").Stop().bytes();
  EXPECT_EQ(Message(CheckNativeArgs("get_items", args)), "get_items: missing field 3 (max_items)");
  // wait_ms and lease_ms have defaults in the IDL: they may be left out.
  EXPECT_TRUE(
      CheckNativeArgs("get_items", Args().Str(1, "q").Str(2, "").I32(3, 1).Stop().bytes()).ok());
}

TEST(ThriftArgsTest, StartPositionIsChecked) {
  std::string args = Args().Str(1, "jobs").Str(2, "audit").Str(3, "earliest").Stop().bytes();
  EXPECT_EQ(Message(CheckNativeArgs("create_subscription", args)),
            "create_subscription: field 3 (start) is string, want struct");
  std::string kind =
      Args().Str(1, "jobs").Str(2, "audit").Struct(3).Str(1, "x").Stop().Stop().bytes();
  EXPECT_EQ(Message(CheckNativeArgs("create_subscription", kind)),
            "create_subscription: field 1 (start.kind) is string, want i32");
}

TEST(ThriftArgsTest, UnknownFieldsAreSkipped) {
  std::string args = Args()
                         .Str(1, "jobs")
                         .I32(9, 1)
                         .List(7, tbin::kI64, 0)
                         .Struct(8)
                         .Str(1, "x")
                         .Stop()
                         .List(2, tbin::kI64, 0)
                         .Stop()
                         .bytes();
  EXPECT_TRUE(CheckNativeArgs("ack", args).ok());
}

TEST(ThriftArgsTest, TruncationsAndBadSizesAreRefused) {
  api::Saker_put_items_args put;
  put.queue = "jobs";
  put.items.resize(2);
  std::string bytes = Written(put);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_TRUE(CheckNativeArgs("put_items", bytes.substr(0, n)).IsInvalidArgument()) << n;
  }
  std::string huge = Args().Str(1, "jobs").List(2, tbin::kStruct, 0x7fffffff).bytes();
  EXPECT_EQ(Message(CheckNativeArgs("put_items", huge)), "put_items: items: bad list size");
}

TEST(ThriftArgsTest, DeepNestingIsRefused) {
  Args a;
  a.Str(1, "jobs");
  for (int i = 0; i < 200; ++i) a.Struct(9);
  for (int i = 0; i < 201; ++i) a.Stop();
  EXPECT_TRUE(CheckNativeArgs("queue_info", a.bytes()).IsInvalidArgument());
}

TEST(ThriftArgsTest, KestrelMethodsAreNotChecked) {
  EXPECT_TRUE(CheckNativeArgs("put", "").ok());
  EXPECT_TRUE(CheckNativeArgs("flush_queue", Args().Stop().bytes()).ok());
}

TEST(ThriftArgsTest, ValueChecksSayWhatIsWrong) {
  EXPECT_EQ(Message(CheckQueueArg("put_items", "")),
            "put_items: bad queue name '': 1-200 bytes of [A-Za-z0-9_.:-]");
  EXPECT_TRUE(CheckSubscriptionArg("get_items", "", true).ok());
  EXPECT_TRUE(CheckSubscriptionArg("delete_subscription", "", false).IsInvalidArgument());
  EXPECT_EQ(Message(CheckNotEmpty("put_items", "items", 0)), "put_items: items is empty");
  EXPECT_EQ(Message(CheckRange("get_items", "wait_ms", -1, 0, 10)),
            "get_items: wait_ms is -1, want 0 to 10");
  EXPECT_TRUE(CheckStartArg("seek_subscription", 7, 0).IsInvalidArgument());
  EXPECT_TRUE(CheckStartArg("seek_subscription", 2, -1).IsInvalidArgument());
  EXPECT_TRUE(CheckStartArg("seek_subscription", 1, -1).ok());  // LATEST ignores the value
}

// The hot decoders leave every value the checks refuse to the generated path.
TEST(ThriftArgsTest, HotDecodersLeaveRefusedValuesToTheProcessor) {
  PutCall put;
  EXPECT_FALSE(
      DecodePutItemsArgs(Args().Str(1, "jobs").List(2, tbin::kStruct, 0).Stop().bytes(), 0, &put));
  EXPECT_FALSE(DecodePutItemsArgs(
      Args().Str(1, "").List(2, tbin::kStruct, 1).Str(1, "a").Stop().Stop().bytes(), 0, &put));
  EXPECT_FALSE(DecodePutItemsArgs(
      Args().Str(1, "jobs").List(2, tbin::kStruct, 1).Str(2, "k").Stop().Stop().bytes(), 0, &put));
  api::Saker_put_items_args negative;
  negative.queue = "jobs";
  negative.items.resize(1);
  negative.items[0].ttl_ms = -1;
  EXPECT_FALSE(DecodePutItemsArgs(Written(negative), 0, &put));

  api::Saker_get_items_args get;
  get.queue = "jobs";
  get.max_items = 1;
  GetItemsCall call;
  EXPECT_TRUE(DecodeGetItemsArgs(Written(get), &call));
  for (auto odd : {&api::Saker_get_items_args::wait_ms, &api::Saker_get_items_args::lease_ms}) {
    api::Saker_get_items_args g;  // generated args structs have no copy constructor
    g.queue = "jobs";
    g.max_items = 1;
    g.*odd = -1;
    EXPECT_FALSE(DecodeGetItemsArgs(Written(g), &call));
  }
  get.subscription = "bad name";
  EXPECT_FALSE(DecodeGetItemsArgs(Written(get), &call));

  api::Saker_ack_args ack;
  ack.queue = "jobs";
  std::vector<uint64_t> ids;
  EXPECT_FALSE(DecodeAckArgs(Written(ack), &ids));
  ack.lease_ids = {1};
  ack.queue = "";
  EXPECT_FALSE(DecodeAckArgs(Written(ack), &ids));
}

}  // namespace
}  // namespace saker::net

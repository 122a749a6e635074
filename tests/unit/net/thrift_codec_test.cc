// Frame-bounded Thrift decoding: real calls decode through the generated processor; sizes a
// small frame cannot hold are refused before anything is allocated.
#include "server/net/thrift_codec.h"

#include <gtest/gtest.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TProtocolException.h>

#include <memory>
#include <string>
#include <vector>

#include "Saker.h"

namespace saker::net {
namespace {

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TProtocolException;
using apache::thrift::transport::TMemoryBuffer;

class RecordingHandler : public api::SakerCobSvNull {
 public:
  void put_items(std::function<void(api::PutResult const&)> cob,
                 std::function<void(apache::thrift::TDelayedException*)>, const std::string& queue,
                 const std::vector<api::PutItem>& items) override {
    queue_ = queue;
    items_ = items;
    api::PutResult r;
    r.accepted = static_cast<int32_t>(items.size());
    cob(r);
  }
  void put(std::function<void(int32_t const&)> cob, const std::string& queue,
           const std::vector<std::string>& items, const int32_t) override {
    queue_ = queue;
    items_.clear();
    for (const std::string& s : items) items_.emplace_back().data = s;
    cob(static_cast<int32_t>(items.size()));
  }

  std::string queue_;
  std::vector<api::PutItem> items_;
};

class ThriftCodecTest : public ::testing::Test {
 protected:
  // Runs one frame through the processor; false if decoding threw or the cob said unhealthy.
  bool Process(const std::string& frame) {
    auto in = MakeInputProtocol(frame);
    auto obuf = std::make_shared<TMemoryBuffer>();
    auto out = MakeOutputProtocol(obuf);
    bool healthy = false;
    processor_.process([&healthy, out](bool ok) { healthy = ok; }, in, out);
    reply_ = obuf->getBufferAsString();
    return healthy;
  }

  // Decodes the arguments of one call as the processor does (it turns the exception into
  // cob(false)); returns the TProtocolException type, or -1 if they decoded.
  template <typename Args>
  static int DecodeError(const std::string& frame) {
    auto in = MakeInputProtocol(frame);
    std::string name;
    apache::thrift::protocol::TMessageType type;
    int32_t seqid = 0;
    in->readMessageBegin(name, type, seqid);
    Args args;
    try {
      args.read(in.get());
    } catch (const TProtocolException& e) {
      return e.getType();
    }
    return -1;
  }

  // The call `send` writes with a generated client, in the given header style.
  template <typename Send>
  static std::string Encode(bool strict, Send send) {
    auto buf = std::make_shared<TMemoryBuffer>();
    auto proto = std::make_shared<TBinaryProtocol>(buf, 0, 0, false, strict);
    api::SakerClient client(proto);
    send(client);
    return buf->getBufferAsString();
  }

  static std::string Be32(uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  }

  // A strict CALL header for `method`, then `args` (hand-made argument bytes).
  static std::string Call(const std::string& method, const std::string& args) {
    return Be32(0x80010001u) + Be32(static_cast<uint32_t>(method.size())) + method + Be32(0) + args;
  }

  std::shared_ptr<RecordingHandler> handler_ = std::make_shared<RecordingHandler>();
  api::SakerAsyncProcessor processor_{handler_};
  std::string reply_;
};

TEST_F(ThriftCodecTest, DecodesNativeAndKestrelCallsInBothHeaderStyles) {
  for (bool strict : {true, false}) {
    std::vector<api::PutItem> items(3);
    items[1].data = "payload";
    items[2].__set_key("k");
    ASSERT_TRUE(
        Process(Encode(strict, [&](api::SakerClient& c) { c.send_put_items("q", items); })));
    EXPECT_EQ(handler_->queue_, "q");
    ASSERT_EQ(handler_->items_.size(), 3u);
    EXPECT_EQ(handler_->items_[1].data, "payload");
    EXPECT_EQ(handler_->items_[2].key, "k");
    EXPECT_FALSE(reply_.empty());

    ASSERT_TRUE(Process(Encode(strict, [&](api::SakerClient& c) {
      c.send_put("k", {"a", "b"}, 0);
    })));
    EXPECT_EQ(handler_->queue_, "k");
    EXPECT_EQ(handler_->items_.size(), 2u);
  }
}

TEST_F(ThriftCodecTest, StringLongerThanTheFrameIsRefused) {
  // put_items(1: queue = <string of 2^31-1 bytes>): 5 bytes claim 2 GiB.
  std::string args = std::string("\x0b\x00\x01", 3) + Be32(0x7fffffff) + "q";
  EXPECT_FALSE(Process(Call("put_items", args)));
  EXPECT_EQ(DecodeError<api::Saker_put_items_args>(Call("put_items", args)),
            TProtocolException::SIZE_LIMIT);
}

TEST_F(ThriftCodecTest, ListOfStructsLongerThanTheFrameIsRefused) {
  // put_items(2: items = list<PutItem> of 50,000,000 empty structs): a struct counts as
  // 0 bytes to libthrift's own check.
  std::string args = std::string("\x0f\x00\x02\x0c", 4) + Be32(50'000'000) + std::string(8, '\0');
  EXPECT_FALSE(Process(Call("put_items", args)));
  EXPECT_EQ(DecodeError<api::Saker_put_items_args>(Call("put_items", args)),
            TProtocolException::SIZE_LIMIT);
}

TEST_F(ThriftCodecTest, HugeSetSizeDoesNotOverflow) {
  // confirm(2: ids = set<i64> of 2^30 ids): size * 8 overflows an int in libthrift's check.
  std::string args = std::string("\x0e\x00\x02\x0a", 4) + Be32(1u << 30) + std::string(8, '\0');
  EXPECT_FALSE(Process(Call("confirm", args)));
  EXPECT_EQ(DecodeError<kestrel::Kestrel_confirm_args>(Call("confirm", args)),
            TProtocolException::SIZE_LIMIT);
}

TEST_F(ThriftCodecTest, ContainerAtTheFrameBoundIsDecoded) {
  // A list of 4 empty binaries needs 4 * 4 bytes: allowed.
  std::string args = std::string("\x0b\x00\x01", 3) + Be32(1) + "q" +
                     std::string("\x0f\x00\x02\x0b", 4) + Be32(4) + Be32(0) + Be32(0) + Be32(0) +
                     Be32(0) + std::string("\x00", 1);
  ASSERT_TRUE(Process(Call("put", args)));
  EXPECT_EQ(handler_->items_.size(), 4u);
}

}  // namespace
}  // namespace saker::net

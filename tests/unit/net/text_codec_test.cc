// Text codec: Kestrel's text protocol requests, put blocks, errors, splits, limits, replies.
#include "server/net/text_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace saker::net::text {
namespace {

using Events = std::vector<std::string>;

class Driver {
 public:
  explicit Driver(Limits limits = {}) : parser_(limits) {}

  void Feed(std::string_view bytes) {
    if (closed_) return;
    buf_.append(bytes);
    for (;;) {
      ParseResult r = parser_.Parse(buf_);
      if (r.kind == ParseResult::Kind::kRequest) events_.push_back(Describe(r.request));
      if (r.kind == ParseResult::Kind::kError) {
        std::string out;
        AppendProtocolError(&out, r.error);
        out.pop_back();
        if (r.error.close) {
          out += " +close";
          closed_ = true;
        }
        events_.push_back(out);
        if (closed_) return;
      }
      ASSERT_LE(r.consumed, buf_.size());
      buf_.erase(0, r.consumed);
      if (r.kind == ParseResult::Kind::kNeedMore) break;
    }
  }

  static std::string Describe(const Request& r) {
    static const char* kNames[] = {"put",    "get",    "peek",    "monitor",  "confirm", "flush",
                                   "delete", "status", "version", "shutdown", "quit"};
    std::string s = kNames[static_cast<int>(r.command)];
    if (!r.queue.empty()) s += " " + std::string(r.queue);
    if (r.has_timeout) s += " t=" + std::to_string(r.timeout_ms);
    if (r.has_expiry) s += " e=" + std::to_string(r.expiry_ms);
    if (r.command == Command::kConfirm) s += " n=" + std::to_string(r.count);
    if (r.status) s += " s=" + std::string(queue::ServerStatusName(*r.status));
    if (r.command == Command::kPut) {
      s += " " + std::to_string(r.item_count) + "[";
      ForEachItem(r.items, [&](std::string_view item) { s += std::string(item) + ","; });
      s += "]";
    }
    return s;
  }

  const Events& events() const { return events_; }
  const std::string& buffered() const { return buf_; }
  bool closed() const { return closed_; }

 private:
  Parser parser_;
  std::string buf_;
  Events events_;
  bool closed_ = false;
};

Events ParseAll(std::string_view bytes, Limits limits = {}) {
  Driver d(limits);
  d.Feed(bytes);
  return d.events();
}

TEST(TextParserTest, PutBlock) {
  EXPECT_EQ(ParseAll("put q:\none\ntwo\r\n\n"), Events{"put q 2[one,two,]"});
  EXPECT_EQ(ParseAll("put q 500:\r\nx\r\n\r\n"), Events{"put q e=500 1[x,]"});
  EXPECT_EQ(ParseAll("put q:\n\n"), Events{"put q 0[]"});
}

TEST(TextParserTest, PutErrors) {
  EXPECT_EQ(ParseAll("put:\nx\n\nput q abc:\nx\n\n"),
            (Events{"-Queue name required.", "-Error parsing expiration time."}));
}

TEST(TextParserTest, PutWithoutColonHasNoItems) {
  EXPECT_EQ(ParseAll("put q\n"), Events{"put q 0[]"});
}

TEST(TextParserTest, PutStopsAfter1024ItemsAndDropsTheNextLine) {
  std::string in = "put q:\n";
  for (int i = 0; i < 1030; ++i) in += "i" + std::to_string(i) + "\n";
  in += "\nversion\n";
  Events events = ParseAll(in);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events[0].starts_with("put q 1024[i0,")) << events[0];
  EXPECT_TRUE(events[0].ends_with("i1023,]"));
  // Kestrel then reads "i1025".."i1029" and the empty line as commands.
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events[1], "-Unknown command: i1025");
  EXPECT_EQ(events[6], "-Unknown command: ");
  EXPECT_EQ(events[7], "version");
}

TEST(TextParserTest, Commands) {
  EXPECT_EQ(ParseAll("get q\nGET q 100\npeek q\npeek q -1\nmonitor q 1000\nconfirm q 2\n"
                     "flush q\ndelete q\nstatus\nstatus Quiescent\nversion\nshutdown\nquit\n"),
            (Events{"get q", "get q t=100", "peek q", "peek q t=-1", "monitor q t=1000",
                    "confirm q n=2", "flush q", "delete q", "status", "status s=QUIESCENT",
                    "version", "shutdown", "quit"}));
}

TEST(TextParserTest, ErrorTexts) {
  EXPECT_EQ(ParseAll("get\npeek\nget q x\nmonitor q\nmonitor q x\nconfirm q\nconfirm q x\n"
                     "flush\ndelete\nstatus bogus\nBOGUS cmd\n\n"),
            (Events{"-Queue name required.", "-Queue name required.", "-Error parsing timeout.",
                    "-Queue name & timeout required.", "-Error parsing timeout.",
                    "-Queue name & timeout required.", "-Error parsing count.",
                    "-Queue name required.", "-Queue name required.", "-Unknown status.",
                    "-Unknown command: bogus", "-Unknown command: "}));
}

TEST(TextParserTest, SplitAtEveryByte) {
  const std::string in =
      "put q 10:\r\nalpha\nbeta\r\n\nget q 5\r\nconfirm q 1\nput r:\n\nbogus\nversion\n";
  const Events want = ParseAll(in);
  ASSERT_EQ(want.size(), 6u);
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    Driver d;
    d.Feed(in.substr(0, cut));
    d.Feed(in.substr(cut));
    EXPECT_EQ(d.events(), want) << "cut at " << cut;
  }
  Driver bytewise;
  for (char c : in) bytewise.Feed(std::string_view(&c, 1));
  EXPECT_EQ(bytewise.events(), want);
}

TEST(TextParserTest, PartialPutIsKept) {
  Driver d;
  d.Feed("put q:\na\nb\n");
  EXPECT_TRUE(d.events().empty());
  EXPECT_EQ(d.buffered(), "put q:\na\nb\n");
  d.Feed("\n");
  EXPECT_EQ(d.events(), Events{"put q 2[a,b,]"});
  EXPECT_EQ(d.buffered(), "");
}

TEST(TextParserTest, UnconsumedRequestParsesAgain) {
  Parser parser;
  const std::string in = "put q:\na\nb\n\nget q\n";
  ParseResult first = parser.Parse(in);
  ASSERT_EQ(first.kind, ParseResult::Kind::kRequest);
  ParseResult again = parser.Parse(in);
  ASSERT_EQ(again.kind, ParseResult::Kind::kRequest);
  EXPECT_EQ(again.consumed, first.consumed);
  EXPECT_EQ(again.request.item_count, 2u);
  ParseResult next = parser.Parse(std::string_view(in).substr(first.consumed));
  ASSERT_EQ(next.kind, ParseResult::Kind::kRequest);
  EXPECT_EQ(next.request.command, Command::kGet);
}

TEST(TextParserTest, LongLineCloses) {
  Limits limits;
  limits.max_request_bytes = 32;
  Driver d(limits);
  d.Feed(std::string(32, 'x'));
  EXPECT_TRUE(d.events().empty());
  d.Feed("x");
  EXPECT_EQ(d.events(), Events{"-Request too large. +close"});
  EXPECT_EQ(ParseAll("get " + std::string(40, 'q') + "\n", limits),
            Events{"-Request too large. +close"});
}

TEST(TextParserTest, BigPutBlockCloses) {
  Limits limits;
  limits.max_request_bytes = 64;
  std::string in = "put q:\n";
  for (int i = 0; i < 20; ++i) in += "item\n";
  EXPECT_EQ(ParseAll(in, limits), Events{"-Request too large. +close"});
}

TEST(TextParserTest, BigItemCloses) {
  Limits limits;
  limits.max_item_size = 4;
  EXPECT_EQ(ParseAll("put q:\n1234\n\n", limits), Events{"put q 1[1234,]"});
  EXPECT_EQ(ParseAll("put q:\n12345\n\n", limits), Events{"-Item too large. +close"});
  Driver d(limits);
  d.Feed("put q:\n123456");
  EXPECT_EQ(d.events(), Events{"-Item too large. +close"});
}

TEST(TextParserTest, GarbageNeverCrashes) {
  std::string junk;
  uint32_t x = 7;
  for (int i = 0; i < 20000; ++i) {
    x = x * 1103515245 + 12345;
    junk.push_back(static_cast<char>(x >> 16));
  }
  Limits limits;
  limits.max_request_bytes = 300;
  limits.max_item_size = 100;
  size_t pos = 0;
  while (pos < junk.size()) {
    Driver d(limits);
    for (; pos < junk.size() && !d.closed(); pos += 61) {
      d.Feed(std::string_view(junk).substr(pos, 61));
      EXPECT_LE(d.buffered().size(), 300u + 61u);
    }
  }
}

TEST(TextCodecTest, ReplyTexts) {
  std::string out;
  AppendItem(&out, "hello");
  AppendNoItem(&out);
  AppendCount(&out, 3);
  AppendString(&out, "UP");
  AppendError(&out, kNotThatManyOpen);
  EXPECT_EQ(out, ":hello\n*\n+3\n:UP\n-Not that many transactions open.\n");
}

}  // namespace
}  // namespace saker::net::text

// Memcache codec: Kestrel's framing, every command's arguments, every error and close rule,
// requests split at every byte, pipelining, limits, and every reply text.
#include "server/net/memcache_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace saker::net::memcache {
namespace {

// Feeds bytes the way a connection does (unread bytes stay at the front) and records every
// request and error as text.
class Driver {
 public:
  explicit Driver(Limits limits = {}) : parser_(limits) {}

  // Bytes after a close are dropped, as the connection would.
  void Feed(std::string_view bytes) {
    if (closed_) return;
    buf_.append(bytes);
    while (!closed_) {
      ParseResult r = parser_.Parse(buf_);
      if (r.kind == ParseResult::Kind::kRequest) events_.push_back(Describe(r.request));
      if (r.kind == ParseResult::Kind::kError) {
        // Every CLIENT_ERROR says what was wrong (AppendProtocolError sends the reason).
        EXPECT_FALSE(r.error.reason.empty());
        std::string e = r.error.reply == ErrorReply::kNotStored ? "NOT_STORED" : "CLIENT_ERROR";
        if (r.error.close) {
          e += " +close";
          closed_ = true;
        }
        events_.push_back(e);
      }
      ASSERT_LE(r.consumed, buf_.size());
      buf_.erase(0, r.consumed);
      if (r.kind == ParseResult::Kind::kNeedMore) break;
    }
  }

  static std::string Describe(const Request& r) {
    std::string s;
    switch (r.command) {
      case Command::kGet:
        s = "get " + std::string(r.queue) + " t=" + std::to_string(r.get.timeout_ms);
        if (r.get.open) s += " open";
        if (r.get.close) s += " close";
        if (r.get.abort) s += " abort";
        if (r.get.peek) s += " peek";
        return s;
      case Command::kSet:
        return "set " + std::string(r.queue) + " " + std::to_string(r.flags) + " " +
               std::to_string(r.exptime) + " [" + std::string(r.data) + "]";
      case Command::kDelete:
        return "delete " + std::string(r.queue);
      case Command::kFlush:
        return "flush " + std::string(r.queue);
      case Command::kFlushAll:
        return "flush_all";
      case Command::kFlushExpired:
        return "flush_expired " + std::string(r.queue);
      case Command::kFlushAllExpired:
        return "flush_all_expired";
      case Command::kVersion:
        return "version";
      case Command::kStats:
        return "stats";
      case Command::kDumpStats:
        return "dump_stats [" + std::string(r.args) + "]";
      case Command::kMonitor:
        return "monitor " + std::string(r.queue) + " " + std::to_string(r.seconds) + " " +
               std::to_string(r.max_items);
      case Command::kConfirm:
        return "confirm " + std::string(r.queue) + " " + std::to_string(r.count);
      case Command::kStatus:
        return r.status ? "status " + std::string(queue::ServerStatusName(*r.status)) : "status";
      case Command::kReload:
        return "reload";
      case Command::kShutdown:
        return "shutdown";
      case Command::kQuit:
        return "quit";
    }
    return "?";
  }

  const std::vector<std::string>& events() const { return events_; }
  const std::string& buffered() const { return buf_; }
  bool skipping() const { return parser_.skipping(); }
  bool closed() const { return closed_; }

 private:
  Parser parser_;
  std::string buf_;
  std::vector<std::string> events_;
  bool closed_ = false;
};

std::vector<std::string> ParseAll(std::string_view bytes, Limits limits = {}) {
  Driver d(limits);
  d.Feed(bytes);
  return d.events();
}

using Events = std::vector<std::string>;

TEST(MemcacheParserTest, SetWithData) {
  EXPECT_EQ(ParseAll("set q 0 0 5\r\nhello\r\n"), Events{"set q 0 0 [hello]"});
}

TEST(MemcacheParserTest, LfOnlyLineEndingsWork) {
  EXPECT_EQ(ParseAll("set q 3 100 2\nhi\r\nget q\n"), (Events{"set q 3 100 [hi]", "get q t=0"}));
}

TEST(MemcacheParserTest, DataTrailerIsSkippedUnchecked) {
  EXPECT_EQ(ParseAll("set q 0 0 2\r\nhiXYget q\r\n"), (Events{"set q 0 0 [hi]", "get q t=0"}));
}

TEST(MemcacheParserTest, DataMayContainCrlf) {
  EXPECT_EQ(ParseAll("set q 0 0 4\r\n\r\n\r\n\r\n"), Events{"set q 0 0 [\r\n\r\n]"});
}

TEST(MemcacheParserTest, EmptyItem) {
  EXPECT_EQ(ParseAll("set q 0 0 0\r\n\r\n"), Events{"set q 0 0 []"});
}

TEST(MemcacheParserTest, CommandIsCaseInsensitiveQueueIsNot) {
  EXPECT_EQ(ParseAll("GET MyQ\r\nSeT Q 0 0 1\r\nx\r\n"), (Events{"get MyQ t=0", "set Q 0 0 [x]"}));
}

TEST(MemcacheParserTest, GetsIsGet) { EXPECT_EQ(ParseAll("gets q\r\n"), Events{"get q t=0"}); }

TEST(MemcacheParserTest, GetOptionsAnyOrder) {
  EXPECT_EQ(ParseAll("get q/t=500/close/open\r\n"), Events{"get q t=500 open close"});
  EXPECT_EQ(ParseAll("get q/open/t=2147483647\r\n"), Events{"get q t=2147483647 open"});
  EXPECT_EQ(ParseAll("get q/abort\r\n"), Events{"get q t=0 abort"});
  EXPECT_EQ(ParseAll("get q/peek/t=10\r\n"), Events{"get q t=10 peek"});
  EXPECT_EQ(ParseAll("get q/t=1/t=2\r\n"), Events{"get q t=2"});
}

TEST(MemcacheParserTest, UnknownAndEmptyGetOptionsAreIgnored) {
  EXPECT_EQ(ParseAll("get q/bogus//OPEN/\r\n"), Events{"get q t=0"});
}

TEST(MemcacheParserTest, NegativeTimeoutMeansNoWait) {
  EXPECT_EQ(ParseAll("get q/t=-5\r\n"), Events{"get q t=0"});
}

TEST(MemcacheParserTest, OnlyFirstGetKeyIsUsed) {
  EXPECT_EQ(ParseAll("get a b c\r\n"), Events{"get a t=0"});
}

TEST(MemcacheParserTest, IllegalGetOptionMixesCloseTheConnection) {
  for (const char* line : {"get q/peek/open\r\n", "get q/peek/close\r\n", "get q/abort/open\r\n",
                           "get q/abort/close\r\n", "get q/peek/abort\r\n", "get /open\r\n",
                           "get /\r\n", "get q/t=abc\r\n", "get q/t=99999999999\r\n"}) {
    EXPECT_EQ(ParseAll(line), Events{"CLIENT_ERROR +close"}) << line;
  }
}

TEST(MemcacheParserTest, MissingArgumentsGetClientErrorWithoutClose) {
  EXPECT_EQ(ParseAll("get\r\ndelete\r\nflush\r\nflush_expired\r\nmonitor q\r\nconfirm q\r\n"
                     "version\r\n"),
            (Events{"CLIENT_ERROR", "CLIENT_ERROR", "CLIENT_ERROR", "CLIENT_ERROR", "CLIENT_ERROR",
                    "CLIENT_ERROR", "version"}));
}

TEST(MemcacheParserTest, BadNumbersGetClientErrorWithoutClose) {
  EXPECT_EQ(ParseAll("monitor q x\r\nmonitor q 1 x\r\nconfirm q x\r\nconfirm q -1\r\nversion\r\n"),
            (Events{"CLIENT_ERROR", "CLIENT_ERROR", "CLIENT_ERROR", "CLIENT_ERROR", "version"}));
}

TEST(MemcacheParserTest, SetWithBadFlagsOrExptimeConsumesTheBlockAndKeepsGoing) {
  EXPECT_EQ(ParseAll("set q x 0 2\r\nhi\r\nset q 0 y 2\r\nhi\r\nset q 0 0 2\r\nok\r\n"),
            (Events{"CLIENT_ERROR", "CLIENT_ERROR", "set q 0 0 [ok]"}));
}

TEST(MemcacheParserTest, SetWithEmptyQueueNameIsClientError) {
  EXPECT_EQ(ParseAll("set  0 0 2\r\nhi\r\nversion\r\n"), (Events{"CLIENT_ERROR", "version"}));
}

TEST(MemcacheParserTest, SignedNumbersAsJava) {
  EXPECT_EQ(ParseAll("set q +7 -1 1\r\nx\r\n"), Events{"set q 7 -1 [x]"});
}

TEST(MemcacheParserTest, ShortStorageCommandCloses) {
  EXPECT_EQ(ParseAll("set q 0 0\r\n"), Events{"CLIENT_ERROR +close"});
}

TEST(MemcacheParserTest, BadDataLengthCloses) {
  EXPECT_EQ(ParseAll("set q 0 0 x\r\n"), Events{"CLIENT_ERROR +close"});
  EXPECT_EQ(ParseAll("set q 0 0 -1\r\n"), Events{"CLIENT_ERROR +close"});
}

TEST(MemcacheParserTest, OtherStorageCommandsClose) {
  for (const char* line :
       {"add q 0 0 1\r\nx\r\n", "replace q 0 0 1\r\nx\r\n", "append q 0 0 1\r\nx\r\n",
        "prepend q 0 0 1\r\nx\r\n", "cas q 0 0 1 5\r\nx\r\n"}) {
    EXPECT_EQ(ParseAll(line), Events{"CLIENT_ERROR +close"}) << line;
  }
}

TEST(MemcacheParserTest, UnknownCommandsClose) {
  for (const char* line : {"incr q 1\r\n", "touch q 1\r\n", "dump_config\r\n", "\r\n", "\n",
                           " get q\r\n", "   \r\n", "\x01\x02\xff\r\n"}) {
    EXPECT_EQ(ParseAll(line), Events{"CLIENT_ERROR +close"}) << line;
  }
}

TEST(MemcacheParserTest, NothingIsParsedAfterAClose) {
  EXPECT_EQ(ParseAll("bogus\r\nget q\r\n"), Events{"CLIENT_ERROR +close"});
}

TEST(MemcacheParserTest, EveryOtherCommand) {
  EXPECT_EQ(ParseAll("delete q\r\nflush q\r\nflush_all\r\nflush_expired q\r\n"
                     "flush_all_expired\r\nversion\r\nstats\r\nstats detail\r\n"),
            (Events{"delete q", "flush q", "flush_all", "flush_expired q", "flush_all_expired",
                    "version", "stats", "stats"}));
  EXPECT_EQ(
      ParseAll("monitor q 5\r\nmonitor q 5 10\r\nconfirm q 3\r\nreload\r\nshutdown\r\n"
               "quit\r\n"),
      (Events{"monitor q 5 -1", "monitor q 5 10", "confirm q 3", "reload", "shutdown", "quit"}));
}

TEST(MemcacheParserTest, DumpStatsArgs) {
  EXPECT_EQ(ParseAll("dump_stats\r\ndump_stats a b  \r\n"),
            (Events{"dump_stats []", "dump_stats [a b]"}));
}

TEST(MemcacheParserTest, StatusNames) {
  EXPECT_EQ(ParseAll("status\r\nstatus up\r\nstatus ReadOnly\r\nstatus QUIESCENT\r\n"
                     "status writeavoid\r\n"),
            (Events{"status", "status UP", "status READONLY", "status QUIESCENT", "status UP"}));
  EXPECT_EQ(ParseAll("status sideways\r\n"), Events{"CLIENT_ERROR +close"});
}

TEST(MemcacheParserTest, PipelinedRequestsInOrder) {
  std::string in;
  Events want;
  for (int i = 0; i < 100; ++i) {
    std::string item = "item" + std::to_string(i);
    in += "set q 0 0 " + std::to_string(item.size()) + "\r\n" + item + "\r\n";
    want.push_back("set q 0 0 [" + item + "]");
    in += "get q/open\r\n";
    want.push_back("get q t=0 open");
  }
  EXPECT_EQ(ParseAll(in), want);
}

// Every split point of a pipeline that covers every kind of request gives the same requests.
TEST(MemcacheParserTest, SplitAtEveryByte) {
  const std::string in =
      "set q 0 0 5\r\nhello\r\nget q/t=10/open\r\nset q2 1 2 0\r\n\r\nmonitor q 1 2\n"
      "dump_stats a b\r\nset q 0 0 3\r\nabc\r\nconfirm q 1\r\nstatus up\r\nbogus\r\n";
  const Events want = ParseAll(in);
  ASSERT_EQ(want.size(), 9u);
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

TEST(MemcacheParserTest, PartialLineIsKeptUntilComplete) {
  Driver d;
  d.Feed("get q/op");
  EXPECT_TRUE(d.events().empty());
  EXPECT_EQ(d.buffered(), "get q/op");
  d.Feed("en\r\n");
  EXPECT_EQ(d.events(), Events{"get q t=0 open"});
  EXPECT_EQ(d.buffered(), "");
}

TEST(MemcacheParserTest, PartialDataBlockIsNeverAPartialItem) {
  Driver d;
  d.Feed("set q 0 0 10\r\n01234");
  EXPECT_TRUE(d.events().empty());
  d.Feed("56789\r");
  EXPECT_TRUE(d.events().empty());
  d.Feed("\n");
  EXPECT_EQ(d.events(), Events{"set q 0 0 [0123456789]"});
}

TEST(MemcacheParserTest, UnconsumedRequestParsesAgain) {
  Parser parser;
  const std::string in = "set q 0 0 2\r\nhi\r\nget q\r\n";
  ParseResult first = parser.Parse(in);
  ASSERT_EQ(first.kind, ParseResult::Kind::kRequest);
  ParseResult again = parser.Parse(in);
  ASSERT_EQ(again.kind, ParseResult::Kind::kRequest);
  EXPECT_EQ(again.consumed, first.consumed);
  EXPECT_EQ(again.request.data, "hi");
  ParseResult next = parser.Parse(std::string_view(in).substr(first.consumed));
  ASSERT_EQ(next.kind, ParseResult::Kind::kRequest);
  EXPECT_EQ(next.request.command, Command::kGet);
}

TEST(MemcacheParserTest, LongLineWithoutLfCloses) {
  Limits limits;
  limits.max_request_bytes = 64;
  Driver d(limits);
  d.Feed(std::string(64, 'a'));
  EXPECT_TRUE(d.events().empty());
  d.Feed("a");
  EXPECT_EQ(d.events(), Events{"CLIENT_ERROR +close"});
}

TEST(MemcacheParserTest, LongLineWithLfCloses) {
  Limits limits;
  limits.max_request_bytes = 16;
  EXPECT_EQ(ParseAll("get " + std::string(20, 'q') + "\r\n", limits),
            Events{"CLIENT_ERROR +close"});
  EXPECT_EQ(ParseAll("get " + std::string(10, 'q') + "\r\n", limits), Events{"get qqqqqqqqqq t=0"});
}

TEST(MemcacheParserTest, OversizedItemIsSkippedWithoutBuffering) {
  Limits limits;
  limits.max_item_size = 8;
  Driver d(limits);
  d.Feed("set q 0 0 100\r\n");
  EXPECT_EQ(d.events(), Events{"NOT_STORED"});
  EXPECT_TRUE(d.skipping());
  for (int i = 0; i < 10; ++i) {
    d.Feed(std::string(10, 'x'));
    EXPECT_EQ(d.buffered(), "");  // dropped as it arrives
  }
  d.Feed("\r\nset q 0 0 2\r\nok\r\n");
  EXPECT_FALSE(d.skipping());
  EXPECT_EQ(d.events(), (Events{"NOT_STORED", "set q 0 0 [ok]"}));
}

TEST(MemcacheParserTest, ItemAtTheSizeLimitIsAccepted) {
  Limits limits;
  limits.max_item_size = 8;
  EXPECT_EQ(ParseAll("set q 0 0 8\r\n12345678\r\n", limits), Events{"set q 0 0 [12345678]"});
  EXPECT_EQ(ParseAll("set q 0 0 9\r\n123456789\r\nversion\r\n", limits),
            (Events{"NOT_STORED", "version"}));
}

TEST(MemcacheParserTest, SetOverRequestLimitIsNotStored) {
  Limits limits;
  limits.max_request_bytes = 32;
  EXPECT_EQ(ParseAll("set q 0 0 20\r\n" + std::string(20, 'x') + "\r\nversion\r\n", limits),
            (Events{"NOT_STORED", "version"}));
}

TEST(MemcacheParserTest, HugeDeclaredLengthIsSkippedIncrementally) {
  Driver d;
  d.Feed("set q 0 0 2147483647\r\n");
  EXPECT_EQ(d.events(), Events{"NOT_STORED"});
  d.Feed(std::string(1000, 'x'));
  EXPECT_EQ(d.buffered(), "");
  EXPECT_TRUE(d.skipping());
}

TEST(MemcacheParserTest, GarbageNeverCrashes) {
  std::string junk;
  uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 1103515245 + 12345;
    junk.push_back(static_cast<char>(x >> 16));
  }
  Limits limits;
  limits.max_request_bytes = 512;
  limits.max_item_size = 256;
  // A fresh parser after each close, so that the whole input is parsed.
  size_t pos = 0;
  int connections = 0;
  while (pos < junk.size()) {
    Driver d(limits);
    ++connections;
    for (; pos < junk.size() && !d.closed(); pos += 97) {
      d.Feed(std::string_view(junk).substr(pos, 97));
      EXPECT_LE(d.buffered().size(), 512u + 97u);
    }
  }
  EXPECT_GT(connections, 1);
}

TEST(MemcacheCodecTest, ExpiryRule) {
  const int64_t now = 1'700'000'000'000;
  EXPECT_EQ(ExpiryFromExptime(0, now), 0);
  EXPECT_EQ(ExpiryFromExptime(10, now), now + 10'000);
  EXPECT_EQ(ExpiryFromExptime(999'999, now), now + 999'999'000);
  EXPECT_EQ(ExpiryFromExptime(1'000'000, now), 1'000'000'000);
  EXPECT_EQ(ExpiryFromExptime(1'800'000'000, now), 1'800'000'000'000);
}

TEST(MemcacheCodecTest, ReplyTexts) {
  std::string out;
  AppendValue(&out, "q", "hello");
  EXPECT_EQ(out, "VALUE q 0 5\r\nhello\r\nEND\r\n");
  out.clear();
  AppendValue(&out, "q", "");
  EXPECT_EQ(out, "VALUE q 0 0\r\n\r\nEND\r\n");
  out.clear();
  AppendEnd(&out);
  AppendStored(&out);
  AppendNotStored(&out);
  AppendDeleted(&out);
  AppendFlushedAll(&out);
  AppendCount(&out, 42);
  AppendVersion(&out, "0.1.0");
  AppendReloaded(&out);
  AppendStatus(&out, "UP");
  AppendError(&out);
  AppendClientError(&out, "bad");
  AppendServerError(&out);
  AppendServerError(&out, "read only");
  EXPECT_EQ(out,
            "END\r\nSTORED\r\nNOT_STORED\r\nDELETED\r\nFlushed all queues.\r\n42\r\n"
            "VERSION 0.1.0\r\nReloaded config.\r\nUP\r\nERROR\r\n"
            "CLIENT_ERROR bad\r\nSERVER_ERROR\r\nSERVER_ERROR read only\r\n");
}

TEST(MemcacheCodecTest, ProtocolErrorReplies) {
  std::string out;
  AppendProtocolError(&out, ProtocolError{ErrorReply::kClientError, true, "unknown command"});
  AppendProtocolError(&out, ProtocolError{ErrorReply::kNotStored, false, "item too large"});
  EXPECT_EQ(out, "CLIENT_ERROR unknown command\r\nNOT_STORED\r\n");
}

TEST(MemcacheCodecTest, StatsLines) {
  std::string out;
  AppendStat(&out, "uptime", int64_t{12});
  AppendStat(&out, "version", "0.1.0");
  AppendQueueStat(&out, "jobs", "items", int64_t{-1});
  AppendQueueStat(&out, "jobs", "children", "jobs+a,jobs+b");
  AppendEnd(&out);
  EXPECT_EQ(out,
            "STAT uptime 12\r\nSTAT version 0.1.0\r\nSTAT queue_jobs_items -1\r\n"
            "STAT queue_jobs_children jobs+a,jobs+b\r\nEND\r\n");
}

TEST(MemcacheCodecTest, DumpStats) {
  std::string out;
  AppendDumpStatsBegin(&out, "jobs");
  AppendDumpStat(&out, "items", int64_t{3});
  AppendDumpStat(&out, "children", "");
  AppendDumpStatsEnd(&out);
  AppendEnd(&out);
  EXPECT_EQ(out, "queue 'jobs' {\r\n  items=3\r\n  children=\r\n}\r\nEND\r\n");
}

}  // namespace
}  // namespace saker::net::memcache

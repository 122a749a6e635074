// History and CheckHistory: one bad history per violation kind, and good histories that must
// pass, allowed redeliveries and unknown puts included.
#include "tests/testutil/history_checker.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil/history.h"
#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

using Kind = Violation::Kind;

Delivery At(std::string session, std::string value, uint64_t offset, std::string sub = "") {
  Delivery d;
  d.queue = "q";
  d.subscription = std::move(sub);
  d.session = std::move(session);
  d.value = std::move(value);
  d.offset = offset;
  return d;
}

class HistoryCheckerTest : public ::testing::Test {
 protected:
  // Puts p0-0 .. p0-<n-1> at offsets 0 .. n-1, all ok.
  void PutOk(int n) {
    for (int i = 0; i < n; i++) h_.Put("q", MakeValueId(0, i), PutOutcome::kOk, i);
  }
  CheckResult Check(CheckOptions options = {}) { return CheckHistory(h_, options); }

  History h_;
};

TEST(ValueIdTest, RoundTrips) {
  EXPECT_EQ(MakeValueId(3, 17), "p3-17");
  auto id = ParseValueId("p3-17");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->producer, 3u);
  EXPECT_EQ(id->seq, 17u);
  for (const char* bad :
       {"", "p", "p3", "p3-", "p-1", "q3-17", "p3-17x", "p3-1-7", "p+3-1", "p99999999999-1"}) {
    EXPECT_FALSE(ParseValueId(bad).has_value()) << bad;
  }
}

TEST_F(HistoryCheckerTest, GoodHistoryPasses) {
  PutOk(4);
  h_.Put("q", "p1-0", PutOutcome::kFailed);
  h_.Put("q", "p1-1", PutOutcome::kUnknown);  // appears, at offset 4
  h_.Put("q", "p1-2", PutOutcome::kUnknown);  // never appears
  // A retried unknown put counts once, as ok.
  h_.Put("q", "p1-3", PutOutcome::kUnknown);
  h_.Put("q", "p1-3", PutOutcome::kOk, 5);
  // Two workers share the default subscription: each sees rising offsets.
  h_.Read(At("w1", "p0-0", 0));
  h_.Read(At("w2", "p0-1", 1));
  h_.Read(At("w1", "p0-2", 2));
  h_.Ack("q", "", "p0-0", true);
  h_.Ack("q", "", "p0-1", true);
  // p0-2's ack was never answered: it may come again, and out of order.
  h_.Ack("q", "", "p0-2", false);
  h_.Read(At("w2", "p0-3", 3));
  h_.Read(At("w2", "p0-2", 2));
  h_.Read(At("w1", "p1-1", 4));
  // w1 dies holding p1-1; w2 gets it.
  h_.SessionLost("w1");
  h_.Read(At("w2", "p1-1", 4));
  // The test aborted p0-3.
  Delivery again = At("w2", "p0-3", 3);
  again.redelivery_allowed = true;
  h_.Read(again);
  // The server reports a second attempt (an expired lease).
  Delivery first = At("w2", "p1-3", 5);
  first.attempt = 1;
  h_.Read(first);
  Delivery second = At("w2", "p1-3", 5);
  second.attempt = 2;
  h_.Read(second);
  // A failover loses confirmed acks (cursors are not replicated yet).
  h_.Failover("q");
  h_.Read(At("w3", "p0-0", 0));
  h_.Drained("q", "");
  // Acknowledged after the drain: not required.
  h_.Put("q", "p0-9", PutOutcome::kOk, 9);

  CheckResult r = Check();
  EXPECT_TRUE(r.passed()) << r;
  EXPECT_EQ(r.ok, 6u);
  EXPECT_EQ(r.failed, 1u);
  EXPECT_EQ(r.unknown, 2u);
  EXPECT_EQ(r.unknown_delivered, 1u);
  EXPECT_EQ(r.reads, 11u);
  EXPECT_EQ(r.duplicates, 5u);
}

TEST_F(HistoryCheckerTest, FanOutSubscriptionsAreCheckedApart) {
  PutOk(2);
  for (const char* sub : {"a", "b"}) {
    h_.Read(At(std::string("s-") + sub, "p0-0", 0, sub));
    h_.Read(At(std::string("s-") + sub, "p0-1", 1, sub));
    h_.Drained("q", sub);
  }
  EXPECT_TRUE(Check().passed());
  h_.Drained("q", "c");  // c read nothing
  CheckResult r = Check();
  EXPECT_EQ(r.Count(Kind::kLostPut), 2u) << r;
}

TEST_F(HistoryCheckerTest, AcknowledgedPutNotReadIsLost) {
  PutOk(3);
  h_.Read(At("w1", "p0-0", 0));
  h_.Read(At("w1", "p0-2", 2));
  h_.Drained("q", "");
  h_.Read(At("w2", "p0-1", 1));  // after the drain: the drain missed it
  CheckResult r = Check();
  ASSERT_EQ(r.violations.size(), 1u) << r;
  EXPECT_EQ(r.violations[0].kind, Kind::kLostPut);
  EXPECT_NE(r.violations[0].message.find("p0-1"), std::string::npos) << r;
}

TEST_F(HistoryCheckerTest, AcknowledgedPutsWithoutADrainAreReported) {
  PutOk(2);
  h_.Read(At("w1", "p0-0", 0));
  h_.Read(At("w1", "p0-1", 1));
  CheckResult r = Check();
  ASSERT_EQ(r.violations.size(), 1u) << r;
  EXPECT_EQ(r.violations[0].kind, Kind::kLostPut);
  EXPECT_NE(r.violations[0].message.find("no drain"), std::string::npos) << r;
}

TEST_F(HistoryCheckerTest, FailedPutDelivered) {
  h_.Put("q", "p0-0", PutOutcome::kFailed);
  h_.Put("q", "p0-0", PutOutcome::kFailed);
  h_.Read(At("w1", "p0-0", 0));
  h_.Drained("q", "");
  CheckResult r = Check();
  ASSERT_EQ(r.violations.size(), 1u) << r;
  EXPECT_EQ(r.violations[0].kind, Kind::kFailedPutRead);
}

TEST_F(HistoryCheckerTest, ReadOfAValueNeverPut) {
  PutOk(1);
  h_.Read(At("w1", "p0-0", 0));
  h_.Read(At("w1", "p7-7", 1));
  h_.Drained("q", "");
  CheckResult r = Check();
  ASSERT_EQ(r.violations.size(), 1u) << r;
  EXPECT_EQ(r.violations[0].kind, Kind::kPhantomRead);
}

TEST_F(HistoryCheckerTest, ReadBeforeItsPutAnswerIsFine) {
  h_.Read(At("w1", "p0-0", 0));
  h_.Put("q", "p0-0", PutOutcome::kOk, 0);
  h_.Drained("q", "");
  EXPECT_TRUE(Check().passed()) << Check();
}

TEST_F(HistoryCheckerTest, OffsetWithTwoValues) {
  PutOk(2);
  h_.Read(At("w1", "p0-0", 0));
  h_.Read(At("w2", "p0-1", 0));  // a divergent log: offset 0 read as p0-1 too
  h_.Drained("q", "");
  CheckResult r = Check();
  EXPECT_GE(r.Count(Kind::kOffsetConflict), 1u) << r;
  EXPECT_EQ(r.Count(Kind::kOffsetConflict), r.violations.size()) << r;
}

TEST_F(HistoryCheckerTest, ValueAtTwoOffsets) {
  h_.Put("q", "p0-0", PutOutcome::kUnknown);
  h_.Put("q", "p0-0", PutOutcome::kOk, 3);  // a retry that was not deduplicated
  h_.Read(At("w1", "p0-0", 1));
  h_.Read(At("w1", "p0-0", 3));
  h_.Drained("q", "");
  CheckResult r = Check();
  EXPECT_GE(r.Count(Kind::kOffsetConflict), 1u) << r;
}

TEST_F(HistoryCheckerTest, SessionReadsGoingBackwards) {
  PutOk(3);
  h_.Read(At("w1", "p0-0", 0));
  h_.Read(At("w1", "p0-2", 2));
  h_.Read(At("w1", "p0-1", 1));  // a first delivery below the last one
  h_.Drained("q", "");
  CheckResult r = Check();
  ASSERT_EQ(r.violations.size(), 1u) << r;
  EXPECT_EQ(r.violations[0].kind, Kind::kOrder);
}

TEST_F(HistoryCheckerTest, DuplicateWithNoReason) {
  PutOk(1);
  h_.Read(At("w1", "p0-0", 0));
  h_.Read(At("w2", "p0-0", 0));  // two holders of one lease
  h_.Drained("q", "");
  CheckResult r = Check();
  ASSERT_EQ(r.violations.size(), 1u) << r;
  EXPECT_EQ(r.violations[0].kind, Kind::kDuplicate);
  EXPECT_EQ(r.duplicates, 1u);
}

TEST_F(HistoryCheckerTest, RedeliveryAfterAConfirmedAck) {
  PutOk(1);
  h_.Read(At("w1", "p0-0", 0));
  h_.Ack("q", "", "p0-0", true);
  h_.SessionLost("w1");  // a lost session does not excuse a confirmed ack
  Delivery again = At("w2", "p0-0", 0);
  again.redelivery_allowed = true;
  h_.Read(again);
  h_.Drained("q", "");
  CheckResult r = Check();
  ASSERT_EQ(r.violations.size(), 1u) << r;
  EXPECT_EQ(r.violations[0].kind, Kind::kDuplicate);
}

TEST_F(HistoryCheckerTest, FailoverBeforeTheAckDoesNotExcuseIt) {
  PutOk(1);
  h_.Read(At("w1", "p0-0", 0));
  h_.Failover("q");
  h_.Ack("q", "", "p0-0", true);
  h_.Read(At("w2", "p0-0", 0));
  h_.Drained("q", "");
  CheckResult r = Check();
  EXPECT_EQ(r.Count(Kind::kDuplicate), 1u) << r;
}

TEST_F(HistoryCheckerTest, CursorBelowAConfirmedAckAfterFailover) {
  PutOk(1);
  h_.Read(At("w1", "p0-0", 0));
  h_.Ack("q", "", "p0-0", true);
  h_.Failover("q");
  h_.Read(At("w2", "p0-0", 0));
  h_.Drained("q", "");
  EXPECT_TRUE(Check().passed()) << Check();
  CheckOptions strict;
  strict.cursor_survives_failover = true;
  CheckResult r = Check(strict);
  ASSERT_EQ(r.violations.size(), 1u) << r;
  EXPECT_EQ(r.violations[0].kind, Kind::kCursorRegressed);
}

TEST_F(HistoryCheckerTest, RecordsFromManyThreadsInOneOrder) {
  std::vector<std::thread> producers;
  for (uint32_t p = 0; p < 4; p++) {
    producers.emplace_back([this, p] {
      for (uint64_t i = 0; i < 500; i++) h_.Put("q", MakeValueId(p, i), PutOutcome::kUnknown);
    });
  }
  for (std::thread& t : producers) t.join();
  std::vector<HistoryOp> ops = h_.ops();
  ASSERT_EQ(ops.size(), 2000u);
  for (size_t i = 0; i < ops.size(); i++) EXPECT_EQ(ops[i].index, i);
  CheckResult r = Check();
  EXPECT_TRUE(r.passed()) << r;
  EXPECT_EQ(r.unknown, 2000u);
}

TEST_F(HistoryCheckerTest, DumpWritesOneLinePerOp) {
  h_.Put("q", "p0-0", PutOutcome::kOk, 5);
  Delivery d = At("w1", "p0-0", 5, "audit");
  d.attempt = 2;
  d.redelivery_allowed = true;
  h_.Read(d);
  h_.Ack("q", "audit", "p0-0", false);
  h_.SessionLost("w1");
  h_.Failover("q");
  h_.Drained("q", "");
  TempDir dir;
  ASSERT_TRUE(h_.DumpToFile(dir.Join("history.txt")).ok());
  std::ifstream in(dir.Join("history.txt"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0].substr(0, 3), "#0 ");
  EXPECT_NE(lines[0].find("put q=q value=p0-0 ok offset=5"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("read q=q sub=audit session=w1 value=p0-0 offset=5 attempt=2 "
                          "redelivery-allowed"),
            std::string::npos)
      << lines[1];
  EXPECT_NE(lines[2].find("ack q=q sub=audit value=p0-0 unconfirmed"), std::string::npos);
  EXPECT_NE(lines[3].find("session-lost session=w1"), std::string::npos);
  EXPECT_NE(lines[4].find("failover q=q"), std::string::npos);
  EXPECT_NE(lines[5].find("drained q=q sub=(default)"), std::string::npos);
}

TEST_F(HistoryCheckerTest, DumpToAMissingFolderFails) {
  h_.Failover("q");
  Status s = h_.DumpToFile("/nonexistent-saker-dir/history.txt");
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find("/nonexistent-saker-dir/history.txt"), std::string::npos);
}

}  // namespace
}  // namespace saker::test

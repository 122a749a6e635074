// Admission (server/queue/admission.cc): every call naming a queue is served only where the
// Replicator admits it. A queue led elsewhere answers NotLeader and nothing changes here; one whose
// leader is not known yet answers Unavailable at once from the calls that answer at once (and has
// it looked up), while a put or get waits for the answer; flush_all leaves other nodes' queues.
#include <gtest/gtest.h>

#include "server/queue/queue_manager.h"
#include "tests/unit/queue/queue_test_util.h"

namespace saker::queue {
namespace {

using Strings = std::vector<std::string>;

bool IsNotLeader(const Status& st) { return st.code() == StatusCode::kNotLeader; }

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.AdmitBy(admissions_);
    h_.Start();
  }

  // `q` with items a, b, c and subscription "audit", two of its items leased to `kOwner` while
  // this node led it; then another node leads it.
  void LeaseThenLoseLeadership(const std::string& q) {
    h_.PutOk(q, {"a", "b", "c"});
    ASSERT_TRUE(h_->CreateSubscription(q, "audit", StartPosition::Earliest()).ok());
    h_.Lease(q, 1, 0, kOwner);
    h_.Lease(q, 1, 0, kOwner);
    admissions_->LedElsewhere(q);
  }

  static constexpr uint64_t kOwner = 7;
  saker::test::TempDir dir_;
  std::shared_ptr<test::Admissions> admissions_ = std::make_shared<test::Admissions>();
  test::EngineHarness h_{dir_.path()};
};

TEST_F(AdmissionTest, AdmitAnswersAsTheReplicatorDoes) {
  admissions_->LedElsewhere("theirs");
  admissions_->answers["orphan"] = Status::Unavailable("queue orphan has no leader yet");
  EXPECT_TRUE(h_->Admit("mine").ok());
  EXPECT_TRUE(h_->Admit("mine+sub").ok());
  Status st = h_->Admit("theirs+sub");  // a subscription is admitted by its queue
  EXPECT_TRUE(IsNotLeader(st));
  EXPECT_EQ(st.message(), test::Admissions::LeaderMessage("theirs"));
  EXPECT_EQ(h_->Admit("orphan").message(), "queue orphan has no leader yet");
  EXPECT_TRUE(h_->Admit("bad name").IsInvalidArgument());
  EXPECT_FALSE(h_->ServesEveryQueue());
  EXPECT_EQ(admissions_->lookups, 0);
}

TEST_F(AdmissionTest, SingleNodeServesEveryQueue) {
  saker::test::TempDir dir;
  test::EngineHarness single(dir.path());
  single.Start();
  EXPECT_TRUE(single->ServesEveryQueue());
  EXPECT_TRUE(single->Admit("anything+sub").ok());
  EXPECT_TRUE(single->Admit("a/b").IsInvalidArgument());
}

TEST_F(AdmissionTest, CursorCallsOnAQueueLedElsewhereAnswerNotLeaderAndChangeNothing) {
  LeaseThenLoseLeadership("q");
  bool durable_ran = false;
  auto durable = [&](Status) { durable_ran = true; };
  EXPECT_TRUE(IsNotLeader(h_->Flush("q", durable)));
  EXPECT_TRUE(IsNotLeader(h_->Flush("q+audit", durable)));
  EXPECT_TRUE(IsNotLeader(h_->FlushExpired("q").status()));
  EXPECT_TRUE(IsNotLeader(h_->Seek("q+audit", StartPosition::Latest())));
  EXPECT_TRUE(IsNotLeader(h_->CreateSubscription("q", "new", StartPosition::Earliest())));
  EXPECT_TRUE(IsNotLeader(h_->DeleteSubscription("q", "audit")));
  EXPECT_TRUE(IsNotLeader(h_->DeleteQueue("q", durable)));
  EXPECT_TRUE(IsNotLeader(h_->DeleteQueue("q+audit", durable)));
  EXPECT_TRUE(IsNotLeader(h_->ConfirmOldest(kOwner, "q", durable).status()));
  EXPECT_TRUE(IsNotLeader(h_->AbortOldest(kOwner, "q", durable).status()));
  EXPECT_TRUE(IsNotLeader(h_->ConfirmCount(kOwner, "q", 1, durable).status()));
  h_.Settle();
  EXPECT_FALSE(durable_ran);

  // Led here again: everything is as it was.
  admissions_->Answer("q", Status::OK());
  EXPECT_EQ(h_->OwnerLeaseCount(kOwner, "q"), 2u);
  auto subs = h_->ListSubscriptions("q");
  ASSERT_TRUE(subs.ok()) << subs.status().ToString();
  ASSERT_EQ(subs->size(), 2u);
  EXPECT_EQ((*subs)[0].name, "");
  EXPECT_EQ((*subs)[0].leased, 2u);
  EXPECT_EQ((*subs)[0].items, 1u);
  EXPECT_EQ((*subs)[1].name, "audit");
  EXPECT_EQ((*subs)[1].items, 3u);
  EXPECT_TRUE(h_->ConfirmOldest(kOwner, "q").value());
  EXPECT_EQ(h_.Take("q+audit"), (Strings{"a", "b", "c"}));
}

TEST_F(AdmissionTest, StatsOfAQueueLedElsewhereAnswerNotLeader) {
  LeaseThenLoseLeadership("q");
  EXPECT_TRUE(IsNotLeader(h_->GetQueueStats("q").status()));
  EXPECT_TRUE(IsNotLeader(h_->GetQueueStats("q+audit").status()));
  EXPECT_TRUE(IsNotLeader(h_->ListSubscriptions("q").status()));
  // Stats of the whole node stay local.
  ASSERT_EQ(h_->AllStats().size(), 1u);
  EXPECT_EQ(h_->AllStats()[0].name, "q");
}

TEST_F(AdmissionTest, AQueueNamedFirstElsewhereIsNotCreatedHere) {
  admissions_->LedElsewhere("theirs");
  EXPECT_TRUE(IsNotLeader(h_->GetQueueStats("theirs").status()));
  EXPECT_TRUE(IsNotLeader(h_->CreateSubscription("theirs", "s", StartPosition::Latest())));
  EXPECT_TRUE(IsNotLeader(h_->Flush("theirs")));
  EXPECT_TRUE(IsNotLeader(h_.Put("theirs", Strings{"x"}).status()));
  EXPECT_TRUE(IsNotLeader(h_.Get("theirs").status()));
  EXPECT_TRUE(h_->ListQueues().empty());
}

TEST_F(AdmissionTest, ImmediateCallsOnAnUnknownQueueAnswerUnavailableAndLookItUp) {
  admissions_->Unknown("new");
  Status st = h_->Flush("new");
  EXPECT_TRUE(st.IsUnavailable());
  EXPECT_EQ(st.message(), "queue new: no leader known yet, retry");
  EXPECT_EQ(admissions_->lookups, 1);
  EXPECT_TRUE(h_->GetQueueStats("new+sub").status().IsUnavailable());
  EXPECT_TRUE(h_->ConfirmCount(kOwner, "new", 0).status().IsUnavailable());
  EXPECT_EQ(admissions_->lookups, 3);
  EXPECT_TRUE(h_->ListQueues().empty());

  // The lookup answers: the retry is served.
  admissions_->Answer("new", Status::OK());
  EXPECT_TRUE(h_->Flush("new").ok());
  EXPECT_TRUE(h_->GetQueueStats("new").ok());
}

TEST_F(AdmissionTest, PutAndGetWaitForAnUnknownQueuesLeader) {
  admissions_->Unknown("new");
  std::optional<Result<PutResult>> put;
  h_->Put("new", {PutItem{"x", 0, ""}}, [&](Result<PutResult> r) { put.emplace(std::move(r)); });
  h_.Settle();
  EXPECT_FALSE(put.has_value());
  ASSERT_EQ(admissions_->waiting["new"].size(), 1u);
  admissions_->Answer("new", Status::OK());
  h_.RunUntil([&] { return put.has_value(); });
  ASSERT_TRUE(put->ok()) << put->status().ToString();
  EXPECT_EQ((*put)->accepted, 1u);

  admissions_->Unknown("new");
  std::optional<Result<std::vector<Delivery>>> got;
  GetOptions o;
  o.max_items = 1;
  h_->Get("new", o, [&](Result<std::vector<Delivery>> r) { got.emplace(std::move(r)); });
  h_.Settle();
  EXPECT_FALSE(got.has_value());
  admissions_->Answer("new", Status::NotLeader(test::Admissions::LeaderMessage("new")));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(IsNotLeader(got->status()));
}

TEST_F(AdmissionTest, FlushAllLeavesQueuesLedElsewhere) {
  h_.PutOk("mine", {"a", "b"});
  h_.PutOk("theirs", {"c", "d"});
  admissions_->LedElsewhere("theirs");
  std::optional<Status> durable;
  ASSERT_TRUE(h_->FlushAll([&](Status st) { durable = st; }).ok());
  h_.RunUntil([&] { return durable.has_value(); });
  EXPECT_TRUE(durable->ok());
  EXPECT_TRUE(h_.Take("mine").empty());
  admissions_->Answer("theirs", Status::OK());
  EXPECT_EQ(h_.Take("theirs"), (Strings{"c", "d"}));
}

TEST_F(AdmissionTest, FlushAllExpiredLeavesQueuesLedElsewhere) {
  for (const char* q : {"mine", "theirs"}) {
    ASSERT_TRUE(h_.Put(q, std::vector<PutItem>{{"x", h_.clock().NowWallMs() + 10, ""}}).ok());
  }
  h_.clock().Advance(20);
  admissions_->LedElsewhere("theirs");
  auto n = h_->FlushAllExpired();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  admissions_->Answer("theirs", Status::OK());
  EXPECT_EQ(*h_->FlushExpired("theirs"), 1u);
}

}  // namespace
}  // namespace saker::queue

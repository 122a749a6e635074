// Tests of the engine's recovery without a trustworthy meta.db (server/queue/recovery.cc): a
// missing or damaged meta.db is rebuilt from the queue folders, a folder meta.db does not know is
// adopted, an interrupted deletion is finished, and the QUEUE file follows the subscriptions.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "server/queue/queue_manager.h"
#include "server/storage/queue_identity.h"
#include "tests/unit/queue/queue_test_util.h"

namespace saker::queue {
namespace {

using Strings = std::vector<std::string>;
namespace fs = std::filesystem;

class MetaRebuildTest : public ::testing::Test {
 protected:
  void SetUp() override { h_.Start(); }

  // q+s subscribed, a..e put, a and b taken (acked) on q's default subscription.
  void Fill() {
    ASSERT_TRUE(h_->CreateSubscription("q", "s", StartPosition::Earliest()).ok());
    h_.PutOk("q", {"a", "b", "c", "d", "e"});
    h_.PutOk("other", {"x"});
    EXPECT_EQ(h_.Take("q", 2), (Strings{"a", "b"}));
    h_.Commit();
  }
  // What every rebuild keeps: every item not acked, and the subscription with all of its items.
  void ExpectNothingLost() {
    Strings q = h_.Take("q");
    for (const char* item : {"c", "d", "e"}) {
      EXPECT_NE(std::find(q.begin(), q.end(), item), q.end()) << item;
    }
    EXPECT_EQ(h_.Take("q+s"), (Strings{"a", "b", "c", "d", "e"}));
    EXPECT_EQ(h_.Take("other"), (Strings{"x"}));
  }
  std::string Meta() const { return dir_.Join("meta.db"); }
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Meta().c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  size_t SetAsideFiles() const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      if (e.path().filename().string().rfind("meta.db.corrupt-", 0) == 0) n++;
    }
    return n;
  }

  saker::test::TempDir dir_;
  test::EngineHarness h_{dir_.path()};
};

TEST_F(MetaRebuildTest, RemovedMetaDbIsRebuiltFromTheFolders) {
  Fill();
  h_.Stop();
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(Meta() + suffix);
  h_.Start();
  ExpectNothingLost();
  EXPECT_EQ(h_->status(), ServerStatus::kUp);
  // The rebuilt meta.db is the one the next start reads.
  h_.Restart();
  EXPECT_EQ(h_.Take("other"), Strings{});
  EXPECT_EQ(h_->ListQueues(), (Strings{"other", "q"}));
}

TEST_F(MetaRebuildTest, GarbageMetaDbIsSetAsideAndRebuilt) {
  Fill();
  h_->SetStatus(ServerStatus::kReadOnly);
  h_.Stop();
  std::ofstream(Meta(), std::ios::binary | std::ios::trunc) << std::string(9000, 'g');
  h_.Start();
  EXPECT_EQ(SetAsideFiles(), 1u);
  EXPECT_EQ(h_->status(), ServerStatus::kUp);
  ExpectNothingLost();
}

TEST_F(MetaRebuildTest, TruncatedMetaDbIsSetAsideAndRebuilt) {
  Fill();
  h_.Stop();
  fs::resize_file(Meta(), fs::file_size(Meta()) / 2);
  h_.Start();
  EXPECT_EQ(SetAsideFiles(), 1u);
  ExpectNothingLost();
}

TEST_F(MetaRebuildTest, AFolderUnknownToMetaDbIsAdoptedNotRemoved) {
  Fill();
  const uint64_t id = h_->GetQueueStats("q")->id;
  h_.Stop();
  Sql("DELETE FROM queues WHERE name = 'q'; DELETE FROM subscriptions WHERE queue_id = " +
      std::to_string(id));
  h_.Start();
  EXPECT_EQ(SetAsideFiles(), 0u);
  EXPECT_EQ(h_->GetQueueStats("q")->id, id);
  ExpectNothingLost();
}

TEST_F(MetaRebuildTest, AnInterruptedRemovalIsFinishedAtStart) {
  Fill();
  const uint64_t id = h_->GetQueueStats("q")->id;
  h_.Stop();
  // As a crash leaves it between the deletion's commit and the folder's removal.
  Sql("INSERT INTO deleted_queues SELECT id, name, incarnation, 1 FROM queues WHERE name = 'q';"
      "DELETE FROM queues WHERE name = 'q';");
  ASSERT_TRUE(fs::exists(dir_.Join(std::to_string(id))));
  h_.Start();
  EXPECT_FALSE(fs::exists(dir_.Join(std::to_string(id))));
  EXPECT_EQ(h_->ListQueues(), (Strings{"other"}));
}

TEST_F(MetaRebuildTest, AnsweredDeleteStaysDeletedAfterACrash) {
  Fill();
  const uint64_t id = h_->GetQueueStats("q")->id;
  std::optional<Status> deleted;
  ASSERT_TRUE(h_->DeleteQueue("q", [&](Status s) { deleted = s; }).ok());
  h_.RunUntil([&] { return deleted.has_value(); });
  ASSERT_TRUE(deleted.value_or(Status::Timeout("delete")).ok());
  h_.Crash();
  h_.Start();
  EXPECT_FALSE(fs::exists(dir_.Join(std::to_string(id))));
  EXPECT_EQ(h_->ListQueues(), (Strings{"other"}));
}

TEST_F(MetaRebuildTest, ADeleteWhoseCommitFailsAnswersAnErrorAndKeepsTheQueue) {
  Fill();
  const uint64_t id = h_->GetQueueStats("q")->id;
  // Another connection holds meta.db's write lock: the deletion's commit fails (busy).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Meta().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::optional<Status> deleted;
  ASSERT_TRUE(h_->DeleteQueue("q", [&](Status s) { deleted = s; }).ok());
  h_.RunUntil([&] { return deleted.has_value(); });
  EXPECT_TRUE(deleted.value_or(Status::OK()).IsIOError());
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_TRUE(fs::exists(dir_.Join(std::to_string(id))));
  EXPECT_EQ(h_->GetQueueStats("q")->id, id);
  h_.Restart();
  ExpectNothingLost();
}

TEST_F(MetaRebuildTest, QueueFileFollowsSubscriptionsAndConfig) {
  Fill();
  const std::string folder = dir_.Join(std::to_string(h_->GetQueueStats("q")->id));
  auto id = storage::ReadQueueIdentity(folder);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->name, "q");
  EXPECT_EQ(id->subscriptions, (std::set<std::string>{"s"}));
  EXPECT_EQ(id->config.at("sync"), "never");
  EXPECT_NE(id->created_ms, 0);
  ASSERT_TRUE(h_->DeleteSubscription("q", "s").ok());
  QueueConfig config = h_.config().defaults;
  config.max_items = 7;
  ASSERT_TRUE(h_->SetQueueConfig("q", config).ok());
  h_.Commit();
  id = storage::ReadQueueIdentity(folder);
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(id->subscriptions.empty());
  EXPECT_EQ(id->config.at("max_items"), "7");
}

}  // namespace
}  // namespace saker::queue

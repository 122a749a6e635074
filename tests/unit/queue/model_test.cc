// Model-based test of the queue engine: seeded random sequences of put / get / lease / ack /
// abort / seek / flush / subscription changes / clean restarts, each checked against a small
// in-memory model of docs/SEMANTICS.md. A failure prints the seed and the step.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "tests/unit/queue/queue_test_util.h"

namespace saker::queue {
namespace {

struct ModelSub {
  std::set<uint64_t> acked;  // offsets done (all below `floor` are done too)
  uint64_t floor = 1;
  std::map<uint64_t, uint64_t> leases;  // lease id -> offset
  std::set<uint64_t> leased;
};

class Model {
 public:
  uint64_t end() const { return payloads_.size() + 1; }
  void Put(const std::string& p) { payloads_.push_back(p); }
  const std::string& Payload(uint64_t offset) const { return payloads_[offset - 1]; }
  // The offsets a get of n should hand out, lowest first.
  std::vector<uint64_t> Available(const ModelSub& s, size_t n) const {
    std::vector<uint64_t> out;
    for (uint64_t o = s.floor; o < end() && out.size() < n; o++) {
      if (s.acked.count(o) == 0 && s.leased.count(o) == 0) out.push_back(o);
    }
    return out;
  }
  std::map<std::string, ModelSub> subs{{"", ModelSub{}}};

 private:
  std::vector<std::string> payloads_;
};

std::string Name(const std::string& sub) { return sub.empty() ? "q" : "q+" + sub; }

void RunModel(uint64_t seed, int steps) {
  saker::test::TempDir dir;
  test::EngineHarness h(dir.path());
  h.Start();
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  Model m;
  uint64_t next_payload = 0;
  const std::vector<std::string> sub_names = {"a", "b", "c"};

  for (int step = 0; step < steps; step++) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " step " + std::to_string(step));
    auto sit = m.subs.begin();
    std::advance(sit, pick(m.subs.size()));
    const std::string sub = sit->first;
    ModelSub& ms = sit->second;
    const int op = static_cast<int>(pick(100));
    if (op < 30) {  // put 1-3 items
      std::vector<std::string> items;
      for (size_t i = 0, n = 1 + pick(3); i < n; i++) {
        items.push_back("p" + std::to_string(next_payload++));
      }
      auto r = h.Put("q", items);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->accepted, items.size());
      for (size_t i = 0; i < items.size(); i++) {
        ASSERT_EQ(r->offsets[i], m.end());
        m.Put(items[i]);
      }
    } else if (op < 60) {  // get, plain or leased
      const bool reliable = pick(3) != 0;
      const uint32_t n = 1 + static_cast<uint32_t>(pick(4));
      GetOptions o;
      o.max_items = n;
      o.reliable = reliable;
      auto g = h.Get(Name(sub), o);
      ASSERT_TRUE(g.ok()) << g.status().ToString();
      std::vector<uint64_t> want = m.Available(ms, n);
      ASSERT_EQ(g->offsets, want);
      for (size_t i = 0; i < want.size(); i++) {
        ASSERT_EQ(g->payloads[i], m.Payload(want[i]));
        if (reliable) {
          ms.leases[g->leases[i]] = want[i];
          ms.leased.insert(want[i]);
        } else {
          ms.acked.insert(want[i]);
        }
      }
    } else if (op < 75) {  // ack some leases
      std::vector<uint64_t> ids;
      for (auto it = ms.leases.begin(); it != ms.leases.end();) {
        if (pick(2) == 0) {
          ids.push_back(it->first);
          ms.acked.insert(it->second);
          ms.leased.erase(it->second);
          it = ms.leases.erase(it);
        } else {
          ++it;
        }
      }
      ASSERT_EQ(h->Ack(ids), ids.size());
    } else if (op < 85) {  // abort one lease
      if (ms.leases.empty()) continue;
      auto it = ms.leases.begin();
      std::advance(it, pick(ms.leases.size()));
      ASSERT_EQ(h->Abort(std::vector<uint64_t>{it->first}, 0), 1u);
      ms.leased.erase(it->second);
      ms.leases.erase(it);
    } else if (op < 89) {  // seek to a random offset
      uint64_t to = 1 + pick(m.end());
      ASSERT_TRUE(h->Seek(Name(sub), StartPosition::Offset(to)).ok());
      ms.acked.clear();
      ms.leases.clear();
      ms.leased.clear();
      ms.floor = to;
    } else if (op < 91) {  // flush
      ASSERT_TRUE(h->Flush(Name(sub)).ok());
      ms.acked.clear();
      ms.leases.clear();
      ms.leased.clear();
      ms.floor = m.end();
    } else if (op < 95) {  // create or delete a named subscription
      const std::string name = sub_names[pick(sub_names.size())];
      if (m.subs.count(name) > 0) {
        ASSERT_TRUE(h->DeleteSubscription("q", name).ok());
        m.subs.erase(name);
      } else {
        const bool earliest = pick(2) == 0;
        ASSERT_TRUE(h->CreateSubscription(
                         "q", name, earliest ? StartPosition::Earliest() : StartPosition::Latest())
                        .ok());
        ModelSub fresh;
        fresh.floor = earliest ? 1 : m.end();
        m.subs[name] = fresh;
      }
    } else if (op < 97) {  // commit cursors early now and then: restarts see both timings
      if (pick(2) == 0) h.Commit();
    } else {  // clean restart: acks survive, open leases come back
      h.Restart();
      for (auto& [name, s] : m.subs) {
        s.leases.clear();
        s.leased.clear();
      }
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
  // Drain every subscription: each sees exactly what the model says is left.
  for (auto& [name, s] : m.subs) {
    std::vector<uint64_t> want = m.Available(s, SIZE_MAX);
    std::vector<uint64_t> got;
    while (true) {
      GetOptions o;
      o.max_items = 64;
      auto g = h.Get(Name(name), o);
      ASSERT_TRUE(g.ok());
      if (g->offsets.empty()) break;
      got.insert(got.end(), g->offsets.begin(), g->offsets.end());
    }
    ASSERT_EQ(got, want) << "subscription '" << name << "' seed " << seed;
  }
}

TEST(QueueModelTest, Seed1) { RunModel(1, 2000); }
TEST(QueueModelTest, Seed2) { RunModel(2, 2000); }
TEST(QueueModelTest, Seed3) { RunModel(3, 2000); }

}  // namespace
}  // namespace saker::queue

// CheckHistory: one pass over the puts to learn each value's outcome (reads may be recorded
// before their put's answer), then one pass over everything in history order.
#include "tests/testutil/history_checker.h"

#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

namespace saker::test {
namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
constexpr size_t kPrintedViolations = 20;

using QueueValue = std::pair<std::string, std::string>;
using SubValue = std::tuple<std::string, std::string, std::string>;    // queue, sub, value
using SubSession = std::tuple<std::string, std::string, std::string>;  // queue, sub, session

struct PutState {
  bool any_ok = false;
  bool any_unknown = false;
  uint64_t first_ok = kNever;  // index of the first ok answer

  PutOutcome Combined() const {
    return any_ok ? PutOutcome::kOk : any_unknown ? PutOutcome::kUnknown : PutOutcome::kFailed;
  }
};

// What one subscription has seen of one value.
struct DeliveryState {
  uint64_t count = 0;
  uint64_t first = kNever;  // index of the first delivery
  uint64_t last = kNever;   // index of the latest delivery
  std::string last_session;
  std::optional<uint32_t> last_attempt;
  uint64_t last_confirmed_ack = kNever;
  uint64_t last_unconfirmed_ack = kNever;
};

struct Binding {
  std::string value;  // or the offset, printed
  uint64_t index;
  HistoryOp::Kind kind;
};

struct LastRead {
  std::string value;
  uint64_t index;
  uint64_t offset;
};

// "#12 read" / "#3 put": where a fact came from.
std::string Where(uint64_t index, HistoryOp::Kind kind) {
  return "#" + std::to_string(index) + (kind == HistoryOp::Kind::kPut ? " put" : " read");
}

std::string QueueSub(const std::string& queue, const std::string& subscription) {
  return "queue " + queue + " sub " + (subscription.empty() ? "(default)" : subscription);
}

// An index recorded after `since` (kNever = never recorded).
bool After(uint64_t index, uint64_t since) { return index != kNever && index > since; }

uint64_t LastIn(const std::map<std::string, uint64_t>& marks, const std::string& key) {
  auto it = marks.find(key);
  return it == marks.end() ? kNever : it->second;
}

class Checker {
 public:
  explicit Checker(const CheckOptions& options) : options_(options) {}

  CheckResult Run(const std::vector<HistoryOp>& ops) {
    for (const HistoryOp& op : ops) {
      if (op.kind == HistoryOp::Kind::kPut) LearnPut(op);
    }
    for (const HistoryOp& op : ops) {
      switch (op.kind) {
        case HistoryOp::Kind::kPut:
          if (op.offset) Bind(op.queue, *op.offset, op.value, op);
          break;
        case HistoryOp::Kind::kRead:
          OnRead(op);
          break;
        case HistoryOp::Kind::kAck: {
          DeliveryState& d = deliveries_[{op.queue, op.subscription, op.value}];
          (op.confirmed ? d.last_confirmed_ack : d.last_unconfirmed_ack) = op.index;
          break;
        }
        case HistoryOp::Kind::kSessionLost:
          session_lost_[op.session] = op.index;
          break;
        case HistoryOp::Kind::kFailover:
          failover_[op.queue] = op.index;
          break;
        case HistoryOp::Kind::kDrained:
          drains_.push_back(&op);
          break;
      }
    }
    CheckDrains();
    CountPuts();
    return std::move(result_);
  }

 private:
  void Report(Violation::Kind kind, std::string message) {
    result_.violations.push_back(Violation{kind, std::move(message)});
  }

  void LearnPut(const HistoryOp& op) {
    PutState& p = puts_[{op.queue, op.value}];
    if (op.outcome == PutOutcome::kOk && !p.any_ok) p.first_ok = op.index;
    p.any_ok |= op.outcome == PutOutcome::kOk;
    p.any_unknown |= op.outcome == PutOutcome::kUnknown;
  }

  // Check 3. Each conflicting pair is reported once, at the op that first shows it.
  void Bind(const std::string& queue, uint64_t offset, const std::string& value,
            const HistoryOp& op) {
    auto [at, fresh] = value_at_.try_emplace({queue, offset}, Binding{value, op.index, op.kind});
    if (!fresh && at->second.value != value &&
        reported_.insert("o\n" + queue + "\n" + std::to_string(offset) + "\n" + value).second) {
      Report(Violation::Kind::kOffsetConflict,
             "queue " + queue + ": offset " + std::to_string(offset) + " holds " +
                 at->second.value + " (" + Where(at->second.index, at->second.kind) + ") and " +
                 value + " (" + Where(op.index, op.kind) + ")");
    }
    std::string printed = std::to_string(offset);
    auto [of, vfresh] = offset_of_.try_emplace({queue, value}, Binding{printed, op.index, op.kind});
    if (!vfresh && of->second.value != printed &&
        reported_.insert("v\n" + queue + "\n" + value + "\n" + printed).second) {
      Report(Violation::Kind::kOffsetConflict,
             "queue " + queue + ": " + value + " is at offset " + of->second.value + " (" +
                 Where(of->second.index, of->second.kind) + ") and at offset " + printed + " (" +
                 Where(op.index, op.kind) + ")");
    }
  }

  void OnRead(const HistoryOp& op) {
    result_.reads++;
    std::string where = QueueSub(op.queue, op.subscription) + " session " + op.session;
    std::string what = op.value + " (#" + std::to_string(op.index) + ")";
    auto put = puts_.find({op.queue, op.value});
    if (put == puts_.end()) {
      Report(Violation::Kind::kPhantomRead, where + " read " + what + ", which no put recorded");
    } else if (put->second.Combined() == PutOutcome::kFailed) {
      Report(Violation::Kind::kFailedPutRead, where + " read " + what + ", whose put failed");
    }
    read_values_.insert({op.queue, op.value});
    if (op.offset) Bind(op.queue, *op.offset, op.value, op);

    DeliveryState& d = deliveries_[{op.queue, op.subscription, op.value}];
    bool attempt_rose = op.attempt && d.last_attempt && *op.attempt > *d.last_attempt;
    if (d.count > 0) {
      result_.duplicates++;
      CheckRedelivery(op, d, attempt_rose, where + " got " + what + " again");
    }
    bool exempt = d.count > 0 || op.redelivery_allowed || (op.attempt && *op.attempt > 1);
    if (op.offset && !exempt) CheckOrder(op, where);

    d.count++;
    if (d.first == kNever) d.first = op.index;
    d.last = op.index;
    d.last_session = op.session;
    d.last_attempt = op.attempt;
  }

  // Check 4.
  void CheckOrder(const HistoryOp& op, const std::string& where) {
    LastRead current{op.value, op.index, *op.offset};
    auto [prev, fresh] =
        last_first_read_.try_emplace({op.queue, op.subscription, op.session}, current);
    if (fresh) return;
    if (current.offset <= prev->second.offset) {
      Report(Violation::Kind::kOrder, where + " read offset " + std::to_string(current.offset) +
                                          " (" + op.value + ", #" + std::to_string(op.index) +
                                          ") after offset " + std::to_string(prev->second.offset) +
                                          " (" + prev->second.value + ", #" +
                                          std::to_string(prev->second.index) + ")");
    }
    prev->second = current;
  }

  // Checks 5 and 6, for a delivery of a value the subscription has had before (at d.last).
  void CheckRedelivery(const HistoryOp& op, const DeliveryState& d, bool attempt_rose,
                       const std::string& what) {
    uint64_t failover = LastIn(failover_, op.queue);
    if (After(d.last_confirmed_ack, d.last)) {
      std::string acked =
          " after its ack was confirmed (#" + std::to_string(d.last_confirmed_ack) + ")";
      if (!After(failover, d.last_confirmed_ack)) {
        Report(Violation::Kind::kDuplicate, what + acked + ", with no failover since");
      } else if (options_.cursor_survives_failover) {
        Report(
            Violation::Kind::kCursorRegressed,
            what + acked + ": the cursor went below it at failover #" + std::to_string(failover));
      }
      return;
    }
    bool allowed = op.redelivery_allowed || attempt_rose || After(d.last_unconfirmed_ack, d.last) ||
                   After(LastIn(session_lost_, d.last_session), d.last) || After(failover, d.last);
    if (!allowed) {
      Report(Violation::Kind::kDuplicate,
             what + "; delivered before at #" + std::to_string(d.last) + " to session " +
                 d.last_session +
                 ", with no abort, expiry, unconfirmed ack, lost session or failover since");
    }
  }

  // Check 1.
  void CheckDrains() {
    std::set<std::string> drained_queues;
    for (const HistoryOp* drain : drains_) {
      drained_queues.insert(drain->queue);
      for (const auto& [key, put] : puts_) {
        if (key.first != drain->queue || put.first_ok >= drain->index) continue;
        auto d = deliveries_.find({drain->queue, drain->subscription, key.second});
        if (d == deliveries_.end() || d->second.first >= drain->index) {
          Report(Violation::Kind::kLostPut,
                 QueueSub(drain->queue, drain->subscription) + ": acknowledged put " + key.second +
                     " (#" + std::to_string(put.first_ok) + ") was not read before drain #" +
                     std::to_string(drain->index));
        }
      }
    }
    std::map<std::string, uint64_t> undrained;
    for (const auto& [key, put] : puts_) {
      if (put.any_ok && !drained_queues.count(key.first)) undrained[key.first]++;
    }
    for (const auto& [queue, count] : undrained) {
      Report(Violation::Kind::kLostPut, "queue " + queue + ": " + std::to_string(count) +
                                            " acknowledged puts, but no drain was recorded");
    }
  }

  void CountPuts() {
    for (const auto& [key, put] : puts_) {
      switch (put.Combined()) {
        case PutOutcome::kOk:
          result_.ok++;
          break;
        case PutOutcome::kFailed:
          result_.failed++;
          break;
        case PutOutcome::kUnknown:
          result_.unknown++;
          if (read_values_.count(key)) result_.unknown_delivered++;
          break;
      }
    }
  }

  const CheckOptions options_;
  CheckResult result_;
  std::map<QueueValue, PutState> puts_;
  std::map<std::pair<std::string, uint64_t>, Binding> value_at_;  // (queue, offset) -> value
  std::map<QueueValue, Binding> offset_of_;                       // (queue, value) -> offset
  std::set<std::string> reported_;
  std::set<QueueValue> read_values_;
  std::map<SubValue, DeliveryState> deliveries_;
  std::map<SubSession, LastRead> last_first_read_;  // check 4: the latest first delivery
  std::map<std::string, uint64_t> session_lost_;    // session -> latest mark
  std::map<std::string, uint64_t> failover_;        // queue -> latest mark
  std::vector<const HistoryOp*> drains_;
};

}  // namespace

size_t CheckResult::Count(Violation::Kind kind) const {
  size_t n = 0;
  for (const Violation& v : violations) n += v.kind == kind;
  return n;
}

std::string CheckResult::ToString() const {
  std::ostringstream out;
  out << "puts ok=" << ok << " failed=" << failed << " unknown=" << unknown
      << " (delivered=" << unknown_delivered << "), reads=" << reads << " duplicates=" << duplicates
      << ", violations=" << violations.size();
  for (size_t i = 0; i < violations.size() && i < kPrintedViolations; i++) {
    out << "\n  " << violations[i].message;
  }
  if (violations.size() > kPrintedViolations) {
    out << "\n  ... and " << violations.size() - kPrintedViolations << " more";
  }
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const CheckResult& result) {
  return out << result.ToString();
}

CheckResult CheckHistory(const std::vector<HistoryOp>& ops, const CheckOptions& options) {
  return Checker(options).Run(ops);
}

CheckResult CheckHistory(const History& history, const CheckOptions& options) {
  return CheckHistory(history.ops(), options);
}

}  // namespace saker::test

// History: recording ops from many threads, their one-line form and the dump file.
#include "tests/testutil/history.h"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <utility>

namespace saker::test {
namespace {

bool ParseDigits(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// "HH:MM:SS.mmm" in UTC, as the server logs print it.
std::string WallTime(int64_t wall_ms) {
  std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(wall_ms % 1000));
  return buf;
}

std::string SubscriptionName(const std::string& subscription) {
  return subscription.empty() ? "(default)" : subscription;
}

const char* OutcomeName(PutOutcome outcome) {
  switch (outcome) {
    case PutOutcome::kOk:
      return "ok";
    case PutOutcome::kFailed:
      return "failed";
    case PutOutcome::kUnknown:
      return "unknown";
  }
  return "?";
}

}  // namespace

std::string MakeValueId(uint32_t producer, uint64_t seq) {
  return "p" + std::to_string(producer) + "-" + std::to_string(seq);
}

std::optional<ValueId> ParseValueId(std::string_view text) {
  size_t dash = text.find('-');
  if (text.size() < 4 || text[0] != 'p' || dash == std::string_view::npos) return std::nullopt;
  uint64_t producer = 0;
  uint64_t seq = 0;
  if (!ParseDigits(text.substr(1, dash - 1), &producer) || producer > UINT32_MAX ||
      !ParseDigits(text.substr(dash + 1), &seq)) {
    return std::nullopt;
  }
  return ValueId{static_cast<uint32_t>(producer), seq};
}

std::string HistoryOp::ToString() const {
  std::string s = "#" + std::to_string(index) + " " + WallTime(wall_ms) + " ";
  switch (kind) {
    case Kind::kPut:
      s += "put q=" + queue + " value=" + value + " " + OutcomeName(outcome);
      break;
    case Kind::kRead:
      s += "read q=" + queue + " sub=" + SubscriptionName(subscription) + " session=" + session +
           " value=" + value;
      break;
    case Kind::kAck:
      s += "ack q=" + queue + " sub=" + SubscriptionName(subscription) + " value=" + value +
           (confirmed ? " confirmed" : " unconfirmed");
      break;
    case Kind::kSessionLost:
      s += "session-lost session=" + session;
      break;
    case Kind::kFailover:
      s += "failover q=" + queue;
      break;
    case Kind::kDrained:
      s += "drained q=" + queue + " sub=" + SubscriptionName(subscription);
      break;
  }
  if (offset) s += " offset=" + std::to_string(*offset);
  if (attempt) s += " attempt=" + std::to_string(*attempt);
  if (redelivery_allowed) s += " redelivery-allowed";
  return s;
}

void History::Append(HistoryOp op) {
  op.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  std::lock_guard lock(mu_);
  op.index = ops_.size();
  ops_.push_back(std::move(op));
}

void History::Put(std::string_view queue, std::string_view value, PutOutcome outcome,
                  std::optional<uint64_t> offset) {
  HistoryOp op;
  op.kind = HistoryOp::Kind::kPut;
  op.queue = queue;
  op.value = value;
  op.outcome = outcome;
  if (outcome == PutOutcome::kOk) op.offset = offset;
  Append(std::move(op));
}

void History::Read(Delivery delivery) {
  HistoryOp op;
  op.kind = HistoryOp::Kind::kRead;
  op.queue = std::move(delivery.queue);
  op.subscription = std::move(delivery.subscription);
  op.session = std::move(delivery.session);
  op.value = std::move(delivery.value);
  op.offset = delivery.offset;
  op.attempt = delivery.attempt;
  op.redelivery_allowed = delivery.redelivery_allowed;
  Append(std::move(op));
}

void History::Ack(std::string_view queue, std::string_view subscription, std::string_view value,
                  bool confirmed) {
  HistoryOp op;
  op.kind = HistoryOp::Kind::kAck;
  op.queue = queue;
  op.subscription = subscription;
  op.value = value;
  op.confirmed = confirmed;
  Append(std::move(op));
}

void History::SessionLost(std::string_view session) {
  HistoryOp op;
  op.kind = HistoryOp::Kind::kSessionLost;
  op.session = session;
  Append(std::move(op));
}

void History::Failover(std::string_view queue) {
  HistoryOp op;
  op.kind = HistoryOp::Kind::kFailover;
  op.queue = queue;
  Append(std::move(op));
}

void History::Drained(std::string_view queue, std::string_view subscription) {
  HistoryOp op;
  op.kind = HistoryOp::Kind::kDrained;
  op.queue = queue;
  op.subscription = subscription;
  Append(std::move(op));
}

std::vector<HistoryOp> History::ops() const {
  std::lock_guard lock(mu_);
  return ops_;
}

void History::Dump(std::ostream& out) const {
  for (const HistoryOp& op : ops()) out << op.ToString() << '\n';
}

Status History::DumpToFile(const std::string& path) const {
  std::ofstream out(path, std::ios::trunc);
  if (out) Dump(out);
  out.flush();
  if (!out) return Status::FromErrno("write history " + path, errno);
  return Status::OK();
}

}  // namespace saker::test

// Queue and subscription name rules (docs/SEMANTICS.md) and status names.
#include "server/queue/queue_manager.h"

namespace saker::queue {

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<QueueName> ParseQueueName(std::string_view name) {
  QueueName out;
  size_t plus = name.find('+');
  out.queue = name.substr(0, plus);
  if (plus != std::string_view::npos) out.subscription = name.substr(plus + 1);
  if (!IsValidName(out.queue)) {
    return Status::InvalidArgument("bad queue name '" + std::string(name.substr(0, 200)) +
                                   "': 1-200 bytes of [A-Za-z0-9_.:-]");
  }
  if (plus != std::string_view::npos && !IsValidName(out.subscription)) {
    return Status::InvalidArgument("bad subscription name in '" + std::string(name.substr(0, 200)) +
                                   "': 1-200 bytes of [A-Za-z0-9_.:-] after '+'");
  }
  return out;
}

std::string_view ServerStatusName(ServerStatus status) {
  switch (status) {
    case ServerStatus::kUp:
      return "UP";
    case ServerStatus::kReadOnly:
      return "READONLY";
    case ServerStatus::kQuiescent:
      return "QUIESCENT";
  }
  return "UP";
}

}  // namespace saker::queue

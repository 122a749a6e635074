// SyncPolicy: when appended batches become durable (docs/SEMANTICS.md):
//   always       fdatasync before an append is reported done (the default)
//   interval:MS  reported done once written; fdatasync at most MS later
//   never        reported done once written; the OS decides when it reaches the disk
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "server/common/status.h"

namespace saker::storage {

struct SyncPolicy {
  enum class Mode { kAlways, kInterval, kNever };
  Mode mode = Mode::kAlways;
  uint32_t interval_ms = 0;  // with kInterval

  // Parses "always", "never" or "interval:<ms>" (ms >= 1).
  static Result<SyncPolicy> Parse(std::string_view text);
  std::string ToString() const;
  bool operator==(const SyncPolicy&) const = default;
};

}  // namespace saker::storage

// SyncPolicy text form: "always", "never", "interval:<ms>".
#include "server/storage/sync_policy.h"

#include <charconv>

namespace saker::storage {

Result<SyncPolicy> SyncPolicy::Parse(std::string_view text) {
  SyncPolicy p;
  if (text == "always") return p;
  if (text == "never") {
    p.mode = Mode::kNever;
    return p;
  }
  constexpr std::string_view kInterval = "interval:";
  if (text.starts_with(kInterval)) {
    std::string_view num = text.substr(kInterval.size());
    uint32_t ms = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), ms);
    if (ec == std::errc() && end == num.data() + num.size() && !num.empty() && ms >= 1) {
      p.mode = Mode::kInterval;
      p.interval_ms = ms;
      return p;
    }
  }
  return Status::InvalidArgument("bad sync policy \"" + std::string(text) +
                                 "\": want always, never or interval:<ms> with ms >= 1");
}

std::string SyncPolicy::ToString() const {
  switch (mode) {
    case Mode::kAlways:
      return "always";
    case Mode::kNever:
      return "never";
    case Mode::kInterval:
      return "interval:" + std::to_string(interval_ms);
  }
  return "always";
}

}  // namespace saker::storage

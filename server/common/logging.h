// spdlog setup: named loggers (net, queue, storage, repl, zk, mirror, client, server) behind
// one asynchronous stderr sink, so the loop thread never waits on log I/O.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace saker::logging {

// Sets every logger's level and switches to the async sink. Call once, early in main().
// Without it (unit tests, tools) loggers write synchronously to stderr at `warn`.
void Init(spdlog::level::level_enum level);

// Parses "trace|debug|info|warn|error|critical|off". False if unknown.
bool ParseLevel(std::string_view text, spdlog::level::level_enum* level);

// The named logger, created on first use. Keep the reference: `static auto& log = Get("net");`
spdlog::logger& Get(std::string_view name);

// Flushes every logger (before exit).
void Flush();

// Lets a repeating error through at most once per `interval`, so a fault that every request
// meets logs a line now and then instead of thousands a second. Any thread. Typical use, one
// static limiter per message:
//   static logging::RateLimit limit(std::chrono::seconds(10));
//   if (uint64_t skipped; limit.Allow(&skipped)) log.error("... ({} more since)", skipped);
class RateLimit {
 public:
  explicit RateLimit(std::chrono::milliseconds interval) : interval_(interval) {}
  // True when the caller should log now; *suppressed is how many calls were refused since the
  // last one that was let through.
  bool Allow(uint64_t* suppressed);

 private:
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point next_;  // guarded by mu_
  uint64_t suppressed_ = 0;                     // guarded by mu_
};

}  // namespace saker::logging

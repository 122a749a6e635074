// spdlog setup: named loggers (net, queue, storage, repl, zk, mirror, client, server) behind
// one asynchronous stderr sink, so the loop thread never waits on log I/O.
#pragma once

#include <spdlog/spdlog.h>

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

}  // namespace saker::logging

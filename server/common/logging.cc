// Named spdlog loggers sharing one sink: synchronous stderr until Init() makes it async.
#include "server/common/logging.h"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

#include "server/common/check.h"

namespace saker::logging {
namespace {

std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::warn;
bool g_async = false;

std::shared_ptr<spdlog::logger> Make(const std::string& name) {
  std::shared_ptr<spdlog::logger> logger;
  if (g_async) {
    logger = std::make_shared<spdlog::async_logger>(
        name, std::make_shared<spdlog::sinks::stderr_sink_mt>(), spdlog::thread_pool(),
        spdlog::async_overflow_policy::overrun_oldest);
    spdlog::register_logger(logger);
  } else {
    logger =
        std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
    spdlog::register_logger(logger);
  }
  logger->set_level(g_level);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %n: %v");
  logger->flush_on(spdlog::level::err);
  return logger;
}

}  // namespace

void Init(spdlog::level::level_enum level) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_level = level;
  g_async = true;
  spdlog::init_thread_pool(8192, 1);
  spdlog::drop_all();
}

bool ParseLevel(std::string_view text, spdlog::level::level_enum* level) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
      {"off", spdlog::level::off}};
  for (const auto& [name, value] : kLevels) {
    if (name == text) {
      *level = value;
      return true;
    }
  }
  return false;
}

spdlog::logger& Get(std::string_view name) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::string key(name);
  auto logger = spdlog::get(key);
  if (!logger) logger = Make(key);
  // The registry keeps every logger alive until Flush()/exit.
  return *logger;
}

void Flush() {
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
}

bool RateLimit::Allow(uint64_t* suppressed) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (now < next_) {
    suppressed_++;
    return false;
  }
  next_ = now + interval_;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace saker::logging

namespace saker {

void CheckFailed(const char* file, int line, const char* expr) {
  logging::Get("server").critical("check failed at {}:{}: {}", file, line, expr);
  logging::Flush();
  std::abort();
}

}  // namespace saker

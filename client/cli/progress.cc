// Progress line for `saker put` and `saker get --out`. On a terminal it redraws one line in place
// (carriage return, erase to end of line); when forced onto a pipe or file it appends a line per
// second instead, so a log stays readable.
#include "client/cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace saker::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::string Bytes(double n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (n >= 1024 && unit < 4) {
    n /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), unit == 0 ? "%.0f %s" : "%.1f %s", n, units[unit]);
  return buf;
}

std::string Duration(double seconds) {
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

Progress::Progress(ProgressMode mode, bool json, bool quiet, std::string label, int64_t total_items,
                   int64_t total_bytes)
    : label_(std::move(label)),
      total_items_(total_items),
      total_bytes_(total_bytes),
      start_(Clock::now()),
      last_draw_(start_) {
  tty_ = isatty(STDERR_FILENO) == 1;
  forced_ = mode == ProgressMode::kOn;
  enabled_ = forced_ || (mode == ProgressMode::kAuto && tty_ && !json && !quiet);
}

void Progress::Add(int64_t items, int64_t bytes) {
  items_ += items;
  bytes_ += bytes;
  if (!enabled_) return;
  auto interval = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(1000);
  auto now = Clock::now();
  if (now - last_draw_ < interval) return;
  last_draw_ = now;
  Draw(false);
}

void Progress::Clear() {
  if (!visible_) return;
  std::fputs("\r\x1b[K", stderr);
  visible_ = false;
}

void Progress::Finish() {
  if (!enabled_ || !(drawn_ || forced_)) return;
  Draw(true);
  enabled_ = false;
}

std::string Progress::Line(bool final) const {
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  std::string line = label_ + " " + std::to_string(items_);
  if (total_items_ >= 0) line += "/" + std::to_string(total_items_);
  line += " items, " + Bytes(static_cast<double>(bytes_));
  if (total_bytes_ >= 0) line += " / " + Bytes(static_cast<double>(total_bytes_));
  // The fraction follows bytes when their total is known (items may differ in size a lot).
  double fraction = -1;
  if (total_bytes_ > 0) {
    fraction = static_cast<double>(bytes_) / static_cast<double>(total_bytes_);
  } else if (total_items_ > 0) {
    fraction = static_cast<double>(items_) / static_cast<double>(total_items_);
  }
  if (fraction >= 0) {
    fraction = std::min(fraction, 1.0);
    constexpr int kWidth = 20;
    int filled = static_cast<int>(fraction * kWidth);
    line += "  [" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    char pct[8];
    std::snprintf(pct, sizeof(pct), "%3d%%", static_cast<int>(fraction * 100));
    line += pct;
  }
  if (elapsed > 0) {
    line += "  " + Bytes(static_cast<double>(bytes_) / elapsed) + "/s";
  }
  if (final) {
    line += "  in " + Duration(elapsed);
  } else if (fraction > 0) {
    line += "  ETA " + Duration(elapsed * (1 - fraction) / fraction);
  }
  return line;
}

void Progress::Draw(bool final) {
  std::string line = Line(final);
  if (tty_) {
    std::fprintf(stderr, "\r%s\x1b[K%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
  drawn_ = true;
  visible_ = tty_ && !final;
}

}  // namespace saker::cli

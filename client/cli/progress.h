// A one-line progress display on stderr for the CLI's bulk transfers (put, get --out): items and
// bytes done of the total, rate and ETA.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace saker::cli {

// Whether to show progress: --progress (kOn) / --no-progress (kOff), or kAuto: only when stderr
// is a terminal and the output is neither --json nor --quiet.
enum class ProgressMode { kAuto, kOn, kOff };

class Progress {
 public:
  // `label` starts the line ("put", "get"). A total < 0 is unknown: that column shows only what
  // is done. Draws nothing when `mode` says no.
  Progress(ProgressMode mode, bool json, bool quiet, std::string label, int64_t total_items,
           int64_t total_bytes);

  // Counts finished work; redraws at most every 100 ms on a terminal, every second otherwise.
  // In kAuto mode nothing appears before the first interval, so quick commands stay silent.
  void Add(int64_t items, int64_t bytes);
  // Erases the line from a terminal before other output; the next Add draws it again.
  void Clear();
  // Draws the final line (if anything was drawn, or always when forced with kOn) and ends it.
  // Call once, before writing anything else to stderr.
  void Finish();

 private:
  std::string Line(bool final) const;
  void Draw(bool final);

  bool enabled_ = false;
  bool forced_ = false;
  bool tty_ = false;
  bool drawn_ = false;
  // A terminal line is on screen and not ended.
  bool visible_ = false;
  std::string label_;
  int64_t total_items_;
  int64_t total_bytes_;
  int64_t items_ = 0;
  int64_t bytes_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace saker::cli

// Test helpers: temporary directories, waiting on a condition with a deadline, payloads.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <functional>
#include <string>

namespace saker::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Scales every test deadline by $SAKER_TEST_TIMEOUT_MULTIPLIER (default 1; sanitizer builds
// and slow machines set more).
std::chrono::milliseconds Scaled(std::chrono::milliseconds timeout);

// Polls `pred` (every ms, backing off to 20 ms) until it is true or `timeout` (scaled) has
// passed. Returns the last value of `pred`.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// A deterministic payload of `size` bytes derived from `seed`; CheckPayload verifies one.
std::string MakePayload(uint64_t seed, size_t size);

// True when `dir`'s filesystem takes O_DIRECT (tmpfs does not: logs there write through the
// page cache only).
bool DirectIoWorks(const std::string& dir);

// 127.0.0.1:`port`, for bind and connect.
sockaddr_in Loopback(uint16_t port);
// A port no listener on 127.0.0.1 holds right now (bound to port 0, then released).
int FreePort();

}  // namespace saker::test

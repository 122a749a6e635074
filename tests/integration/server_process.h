// ServerProcess: runs a real sakerd (or another of our binaries) on 127.0.0.1 for integration
// tests: fork+exec with a fresh data dir, waits for the "sakerd ready ..." line on stdout,
// parses the bound ports, keeps stderr in a log file that is printed when a test fails, and
// stops the process (SIGTERM, or SIGKILL for crash tests) on request or destruction.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace saker::test {

class ServerProcess {
 public:
  // `args` are passed after the binary; by default the server listens on 127.0.0.1 with
  // port 0 for every listener and serves `data_dir`.
  ServerProcess(std::string data_dir, std::vector<std::string> extra_args = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts sakerd and waits (bounded) for its ready line. False, with the log printed, if it
  // exited or timed out.
  bool Start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGTERM and wait; returns the exit status (as from waitpid), or -1 on timeout (then killed).
  int Stop(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits for the process to exit by itself; false on timeout (it keeps running).
  bool WaitExit(std::chrono::milliseconds timeout, int* status);
  // SIGKILL and reap.
  void Kill();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Bound port of a listener named in the ready line ("memcache", "thrift", "text", "admin").
  int port(const std::string& listener) const;
  const std::string& ready_line() const { return ready_line_; }
  // The server's stderr so far.
  std::string Log() const;

 private:
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::string log_path_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string ready_line_;
  std::map<std::string, int> ports_;
};

// A blocking TCP client on 127.0.0.1 for exact-bytes protocol tests.
class RawClient {
 public:
  explicit RawClient(int port);
  ~RawClient();
  bool connected() const { return fd_ >= 0; }
  bool Send(const std::string& bytes);
  // Reads until `delim` has been seen (returns everything up to and including it) or the
  // timeout passes / the peer closes (returns what came).
  std::string ReadUntil(const std::string& delim,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads exactly n bytes (or less on timeout / close).
  std::string ReadN(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True if the peer closed the connection within the timeout.
  bool WaitClosed(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void Close();

 private:
  bool Fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string buf_;
};

}  // namespace saker::test

#include "tests/integration/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "tests/testutil/testutil.h"

namespace saker::test {

ServerProcess::ServerProcess(std::string data_dir, std::vector<std::string> extra_args)
    : data_dir_(std::move(data_dir)), extra_args_(std::move(extra_args)) {
  log_path_ = data_dir_ + ".sakerd.log";
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
  std::remove(log_path_.c_str());
}

bool ServerProcess::Start(std::chrono::milliseconds timeout) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return false;
  std::vector<std::string> args = {std::string(SAKER_BIN_DIR) + "/sakerd",
                                   "--data-dir",
                                   data_dir_,
                                   "--listen",
                                   "127.0.0.1",
                                   "--memcache-port",
                                   "0",
                                   "--thrift-port",
                                   "0",
                                   "--text-port",
                                   "0",
                                   "--admin-port",
                                   "0"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // Dies with the test, even when the test is SIGKILLed (a ctest timeout).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    dup2(out[1], STDOUT_FILENO);
    int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) dup2(log, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  pid_ = pid;
  stdout_fd_ = out[0];
  auto deadline = std::chrono::steady_clock::now() + Scaled(timeout);
  std::string line;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char c;
    ssize_t n = read(stdout_fd_, &c, 1);
    if (n <= 0) break;  // exited
    if (c != '\n') {
      line += c;
      continue;
    }
    if (line.rfind("sakerd ready", 0) == 0) {
      ready_line_ = line;
      std::istringstream words(line);
      std::string w;
      while (words >> w) {
        size_t eq = w.find('='), colon = w.rfind(':');
        if (eq != std::string::npos && colon != std::string::npos && colon > eq) {
          ports_[w.substr(0, eq)] = std::stoi(w.substr(colon + 1));
        }
      }
      return true;
    }
    line.clear();
  }
  std::cerr << "sakerd did not become ready; its log:\n" << Log() << std::endl;
  Kill();
  return false;
}

int ServerProcess::Stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  if (WaitExit(timeout, &status)) return status;
  Kill();
  return -1;
}

bool ServerProcess::WaitExit(std::chrono::milliseconds timeout, int* status) {
  if (pid_ <= 0) return false;
  auto deadline = std::chrono::steady_clock::now() + Scaled(timeout);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, status, WNOHANG) == pid_) {
      pid_ = -1;
      close(stdout_fd_);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  close(stdout_fd_);
}

int ServerProcess::port(const std::string& listener) const {
  auto it = ports_.find(listener);
  return it == ports_.end() ? -1 : it->second;
}

std::string ServerProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RawClient::RawClient(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(static_cast<uint16_t>(port));
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawClient::~RawClient() { Close(); }

void RawClient::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool RawClient::Send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool RawClient::Fill(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char tmp[65536];
  ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf_.append(tmp, static_cast<size_t>(n));
  return true;
}

std::string RawClient::ReadUntil(const std::string& delim, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + Scaled(timeout);
  while (true) {
    size_t pos = buf_.find(delim);
    if (pos != std::string::npos) {
      std::string out = buf_.substr(0, pos + delim.size());
      buf_.erase(0, pos + delim.size());
      return out;
    }
    if (!Fill(deadline)) {
      std::string out;
      out.swap(buf_);
      return out;
    }
  }
}

std::string RawClient::ReadN(size_t n, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + Scaled(timeout);
  while (buf_.size() < n && Fill(deadline)) {
  }
  std::string out = buf_.substr(0, std::min(n, buf_.size()));
  buf_.erase(0, out.size());
  return out;
}

bool RawClient::WaitClosed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + Scaled(timeout);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    char tmp[4096];
    ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n == 0) return true;
    if (n < 0) return true;
    buf_.append(tmp, static_cast<size_t>(n));
  }
  return false;
}

}  // namespace saker::test

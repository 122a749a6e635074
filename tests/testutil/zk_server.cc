#include "tests/testutil/zk_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

ZkServer::ZkServer(std::string dir, int port)
    : dir_(std::move(dir)), port_(port > 0 ? port : FreePort()) {}

ZkServer::~ZkServer() {
  if (pid_ > 0) Kill();
}

bool ZkServer::Start(std::chrono::milliseconds timeout) {
  {
    std::ofstream cfg(dir_ + "/zoo.cfg");
    cfg << "tickTime=200\n"
        << "dataDir=" << dir_ << "/data\n"
        << "clientPort=" << port_ << "\n"
        << "clientPortAddress=127.0.0.1\n"
        << "admin.enableServer=false\n"
        << "4lw.commands.whitelist=srvr,ruok\n"
        << "forceSync=no\n";
  }
  std::vector<std::string> args = {
      "java",
      "-Xmx128m",
      "-XX:+UseSerialGC",
      "-cp",
      "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar",
      "org.apache.zookeeper.server.ZooKeeperServerMain",
      dir_ + "/zoo.cfg"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = dir_ + "/zk.log";
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    std::cerr << "cannot fork for ZooKeeper: " << std::strerror(errno) << std::endl;
    return false;
  }
  if (pid == 0) {
    // Dies with the test, even when the test is SIGKILLed (a ctest timeout).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    int null = open("/dev/null", O_RDONLY);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (null < 0 || out < 0) _exit(127);
    dup2(null, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  const bool ready = WaitFor(
      [&] {
        int status;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          return true;
        }
        return FourLetter("srvr").find("Mode:") != std::string::npos;
      },
      timeout);
  if (ready && pid_ > 0) return true;
  std::cerr << "ZooKeeper did not become ready; its log:\n" << Log() << std::endl;
  Kill();
  return false;
}

void ZkServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void ZkServer::Pause() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}

void ZkServer::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

std::string ZkServer::address() const { return "127.0.0.1:" + std::to_string(port_); }

std::string ZkServer::FourLetter(const std::string& word) const {
  int fd = Connect(port_);
  if (fd < 0) return "";
  std::string out;
  if (write(fd, word.data(), word.size()) == static_cast<ssize_t>(word.size())) {
    char buf[1024];
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 1000) <= 0) break;
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

std::string ZkServer::Log() const {
  std::ifstream in(dir_ + "/zk.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace saker::test

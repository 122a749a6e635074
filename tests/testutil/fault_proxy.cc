// FaultProxy's thread: one poll() loop over the listening socket, a wakeup eventfd and both
// sockets of every connection. Connections and their held bytes live on that thread only; the
// control calls change Settings under the mutex and wait for the loop to apply them.
#include "tests/testutil/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <list>
#include <string>
#include <vector>

#include "tests/testutil/testutil.h"

namespace saker::test {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t kReadBytes = 64 * 1024;
// Per direction. Past this the proxy stops reading from the sender, which then meets TCP
// backpressure instead of the proxy growing without bound (a delay holds delay x rate bytes).
constexpr size_t kMaxHeldBytes = 4 * 1024 * 1024;

struct Chunk {
  SteadyClock::time_point due;
  std::string bytes;
  size_t sent = 0;
};

// One direction of a connection: bytes read from the sender, waiting to go to the receiver.
struct Flow {
  std::deque<Chunk> chunks;
  size_t held = 0;
  bool eof = false;   // the sender's FIN was read
  bool shut = false;  // ... and forwarded (shutdown(SHUT_WR)) after every byte before it

  bool Due(SteadyClock::time_point now) const {
    return !chunks.empty() && chunks.front().due <= now;
  }
  bool WantsRead() const { return !eof && held < kMaxHeldBytes; }
};

struct Conn {
  int client = -1;
  int target = -1;
  bool connecting = true;
  bool dead = false;
  int client_slot = -1;  // index in this iteration's pollfd array, -1 when not polled
  int target_slot = -1;
  Flow up;    // client -> target
  Flow down;  // target -> client
};

// Closes with a RST (SO_LINGER 0): the peer sees ECONNRESET, not an orderly end of stream.
void ResetFd(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

void ResetBoth(Conn& c) {
  ResetFd(c.client);
  ResetFd(c.target);
  c.client = c.target = -1;
  c.dead = true;
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int AddFd(std::vector<pollfd>& fds, int fd, short events) {
  if (events == 0) return -1;
  fds.push_back(pollfd{fd, events, 0});
  return static_cast<int>(fds.size()) - 1;
}

short Revents(const std::vector<pollfd>& fds, int slot) { return slot < 0 ? 0 : fds[slot].revents; }

short ClientEvents(const Conn& c, SteadyClock::time_point now) {
  if (c.connecting) return 0;
  return static_cast<short>((c.up.WantsRead() ? POLLIN : 0) | (c.down.Due(now) ? POLLOUT : 0));
}

short TargetEvents(const Conn& c, SteadyClock::time_point now) {
  if (c.connecting) return POLLOUT;
  return static_cast<short>((c.down.WantsRead() ? POLLIN : 0) | (c.up.Due(now) ? POLLOUT : 0));
}

// Reads what `from` has while the flow has room; each read becomes a chunk due at `due`.
// False on a socket error (a reset).
bool ReadInto(Flow& flow, int from, SteadyClock::time_point due, char* buf) {
  while (flow.WantsRead()) {
    ssize_t n = recv(from, buf, kReadBytes, 0);
    if (n > 0) {
      flow.chunks.push_back(Chunk{due, std::string(buf, static_cast<size_t>(n))});
      flow.held += static_cast<size_t>(n);
    } else if (n == 0) {
      flow.eof = true;
    } else if (errno != EINTR) {
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }
  return true;
}

// Writes the flow's due bytes to `to`, then forwards the sender's FIN once nothing is held
// before it. Returns the bytes written, or -1 on a socket error.
int64_t WriteDue(Flow& flow, int to, SteadyClock::time_point now) {
  int64_t written = 0;
  while (flow.Due(now)) {
    Chunk& c = flow.chunks.front();
    ssize_t n = send(to, c.bytes.data() + c.sent, c.bytes.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    c.sent += static_cast<size_t>(n);
    flow.held -= static_cast<size_t>(n);
    written += n;
    if (c.sent == c.bytes.size()) flow.chunks.pop_front();
  }
  if (flow.eof && flow.chunks.empty() && !flow.shut) {
    flow.shut = true;
    if (shutdown(to, SHUT_WR) != 0) return -1;
  }
  return written;
}

// Milliseconds until the earliest held chunk that is not yet due, or -1 if there is none.
int PollTimeoutMs(const std::list<Conn>& conns, SteadyClock::time_point now) {
  int timeout = -1;
  for (const Conn& c : conns) {
    for (const Flow* f : {&c.up, &c.down}) {
      if (f->chunks.empty() || f->chunks.front().due <= now) continue;
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(f->chunks.front().due - now);
      int ms = static_cast<int>(wait.count());
      timeout = timeout < 0 ? ms : std::min(timeout, ms);
    }
  }
  return timeout;
}

}  // namespace

Result<std::unique_ptr<FaultProxy>> FaultProxy::Start(uint16_t target_port, uint16_t listen_port) {
  std::string where = "fault proxy on 127.0.0.1:" + std::to_string(listen_port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(where + ": socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = Loopback(listen_port);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 512) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    close(fd);
    return Status::FromErrno(where + ": bind/listen", err);
  }
  int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    int err = errno;
    close(fd);
    return Status::FromErrno(where + ": eventfd", err);
  }
  return std::unique_ptr<FaultProxy>(new FaultProxy(fd, wake, ntohs(addr.sin_port), target_port));
}

FaultProxy::FaultProxy(int listen_fd, int wake_fd, uint16_t port, uint16_t target_port)
    : listen_fd_(listen_fd), wake_fd_(wake_fd), port_(port) {
  settings_.target_port = target_port;
  thread_ = std::thread([this] { Run(); });
}

FaultProxy::~FaultProxy() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

FaultProxy::Counters FaultProxy::counters() const {
  return Counters{accepted_.load(), refused_.load(), open_.load(), bytes_to_target_.load(),
                  bytes_to_client_.load()};
}

template <typename F>
void FaultProxy::Change(F change) {
  std::unique_lock lock(mu_);
  change(settings_);
  uint64_t generation = ++requested_;
  // An eventfd write fails only when the counter would overflow, and then it is non-zero: the
  // thread is woken either way.
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  applied_cv_.wait(lock, [&] { return applied_ >= generation; });
}

void FaultProxy::SetTarget(uint16_t target_port) {
  Change([&](Settings& s) { s.target_port = target_port; });
}
void FaultProxy::Cut() {
  Change([](Settings& s) { s.fault = Fault::kCut; });
}
void FaultProxy::Blackhole() {
  Change([](Settings& s) { s.fault = Fault::kBlackhole; });
}
void FaultProxy::SetDelay(std::chrono::milliseconds delay) {
  Change([&](Settings& s) { s.delay = delay; });
}
void FaultProxy::Heal() {
  Change([](Settings& s) {
    s.fault = Fault::kNone;
    s.delay = std::chrono::milliseconds(0);
  });
}

void FaultProxy::Run() {
  std::list<Conn> conns;
  std::vector<pollfd> fds;
  std::vector<char> buf(kReadBytes);
  while (true) {
    // Apply the settings first, so that everything after a control call returns sees them.
    Settings s;
    uint64_t generation;
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
      s = settings_;
      generation = requested_;
    }
    if (s.fault == Fault::kCut) {
      for (Conn& c : conns) ResetBoth(c);
      conns.clear();
    }
    open_ = conns.size();
    {
      std::lock_guard lock(mu_);
      applied_ = generation;
    }
    applied_cv_.notify_all();

    // A blackhole polls neither the connections nor the listening socket: nothing is read,
    // written or accepted until Heal().
    const bool flowing = s.fault != Fault::kBlackhole;
    auto now = SteadyClock::now();
    fds.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    int listen_slot = flowing ? AddFd(fds, listen_fd_, POLLIN) : -1;
    for (Conn& c : conns) {
      c.client_slot = flowing ? AddFd(fds, c.client, ClientEvents(c, now)) : -1;
      c.target_slot = flowing ? AddFd(fds, c.target, TargetEvents(c, now)) : -1;
    }
    int timeout_ms = flowing ? PollTimeoutMs(conns, now) : -1;
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) continue;  // EINTR
    if (fds[0].revents != 0) {
      uint64_t n;
      (void)!read(wake_fd_, &n, sizeof n);
    }
    if (!flowing) continue;

    now = SteadyClock::now();
    for (Conn& c : conns) {
      short client_events = Revents(fds, c.client_slot);
      short target_events = Revents(fds, c.target_slot);
      if (c.connecting) {
        if (target_events == 0) continue;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.target, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          refused_++;  // before the reset, so a client that sees the reset sees the count
          ResetBoth(c);
          continue;
        }
        c.connecting = false;
        accepted_++;
      }
      bool ok = true;
      if (client_events != 0) ok = ReadInto(c.up, c.client, now + s.delay, buf.data());
      if (ok && target_events != 0) ok = ReadInto(c.down, c.target, now + s.delay, buf.data());
      int64_t up = ok ? WriteDue(c.up, c.target, now) : -1;
      int64_t down = up >= 0 ? WriteDue(c.down, c.client, now) : -1;
      if (up > 0) bytes_to_target_ += static_cast<uint64_t>(up);
      if (down > 0) bytes_to_client_ += static_cast<uint64_t>(down);
      if (down < 0) {
        ResetBoth(c);
      } else if (c.up.shut && c.down.shut) {
        close(c.client);
        close(c.target);
        c.dead = true;
      }
    }
    conns.remove_if([](const Conn& c) { return c.dead; });

    if (listen_slot >= 0 && fds[listen_slot].revents != 0) {
      // Drain the backlog. An accept error (EMFILE) leaves the rest for the next wakeup.
      int fd;
      while ((fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        int target = s.fault == Fault::kCut || s.target_port == 0
                         ? -1
                         : socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in addr = Loopback(s.target_port);
        int rc = target < 0 ? -1 : connect(target, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        if (target < 0 || (rc != 0 && errno != EINPROGRESS)) {
          refused_++;
          ResetFd(fd);
          ResetFd(target);
          continue;
        }
        NoDelay(fd);
        NoDelay(target);
        Conn& c = conns.emplace_back();
        c.client = fd;
        c.target = target;
        c.connecting = rc != 0;
        if (!c.connecting) accepted_++;
      }
    }
    open_ = conns.size();
  }
  for (Conn& c : conns) ResetBoth(c);
  open_ = 0;
}

}  // namespace saker::test

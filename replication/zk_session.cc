// The C client runs two threads per handle; everything it calls back (completions, watches,
// session events) runs on its completion thread. Those callbacks only copy the result and
// Post() it; the Post'ed closure checks the session is still alive and then runs the owner's
// callback on the loop. The chroot is ours (a path prefix), not the C client's, so that it can
// be created on connect.
#include "replication/zk_session.h"

#include <spdlog/spdlog.h>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "server/common/logging.h"

namespace saker::replication {

std::string_view ZkCodeName(ZkCode code) {
  switch (code) {
    case ZkCode::kOk:
      return "ok";
    case ZkCode::kNoNode:
      return "no node";
    case ZkCode::kNodeExists:
      return "node exists";
    case ZkCode::kBadVersion:
      return "bad version";
    case ZkCode::kNotEmpty:
      return "not empty";
    case ZkCode::kConnectionLoss:
      return "connection loss";
    case ZkCode::kSessionExpired:
      return "session expired";
    case ZkCode::kOther:
      return "error";
  }
  return "error";
}

namespace {

ZkCode CodeOf(int rc) {
  if (rc == ZOK) return ZkCode::kOk;
  if (rc == ZNONODE) return ZkCode::kNoNode;
  if (rc == ZNODEEXISTS) return ZkCode::kNodeExists;
  if (rc == ZBADVERSION) return ZkCode::kBadVersion;
  if (rc == ZNOTEMPTY) return ZkCode::kNotEmpty;
  if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT) return ZkCode::kConnectionLoss;
  if (rc == ZSESSIONEXPIRED || rc == ZCLOSING || rc == ZINVALIDSTATE) {
    return ZkCode::kSessionExpired;
  }
  return ZkCode::kOther;
}

ZkResult ResultOf(int rc, const std::string& path) {
  ZkResult r;
  r.code = CodeOf(rc);
  if (!r.ok()) r.message = std::string(zerror(rc)) + " (" + path + ")";
  return r;
}

// saker's named logger (spdlog's default one is dropped by logging::Init). Any thread.
spdlog::logger& Log() {
  static auto& log = logging::Get("zookeeper");
  return log;
}

// The C client's own log lines (WARN and up: connection trouble, expiry), from its threads.
void LogFromClient(const char* message) { Log().warn("client: {}", message); }

}  // namespace

// State shared with the C client's threads. `mu` guards `watches`; everything else is loop-only.
struct ZkSession::Impl {
  struct Watch {
    Impl* impl;
    WatchFn fn;
  };
  // One handle's session watcher context; freed after zookeeper_close of that handle.
  struct HandleCtx {
    std::shared_ptr<Impl*> self;  // *self is null once the session is destroyed
    EventLoop* loop;
    uint64_t generation;
  };

  ZkSession* owner;
  EventLoop* loop;
  ZkOptions options;
  std::string connect_hosts;  // options.hosts without the chroot
  std::string chroot;         // "" or "/saker"
  StateFn on_state;
  zhandle_t* zh = nullptr;
  HandleCtx* handle_ctx = nullptr;
  uint64_t generation = 0;
  std::shared_ptr<Impl*> self;
  std::mutex mu;
  std::unordered_map<Watch*, std::unique_ptr<Watch>> watches;  // guarded by mu

  std::string Full(const std::string& path) const {
    if (chroot.empty()) return path;
    return path == "/" ? chroot : chroot + path;
  }
  std::string Strip(const char* path) const {
    std::string p = path ? path : "";
    if (!chroot.empty() && p.compare(0, chroot.size(), chroot) == 0) p.erase(0, chroot.size());
    return p.empty() ? "/" : p;
  }

  // Runs `fn` on the loop if the session still exists then.
  void PostAlive(std::function<void(Impl*)> fn) {
    loop->Post([self = self, fn = std::move(fn)] {
      if (*self) fn(*self);
    });
  }

  Watch* AddWatch(WatchFn fn) {
    if (!fn) return nullptr;
    auto w = std::make_unique<Watch>(Watch{this, std::move(fn)});
    Watch* raw = w.get();
    std::lock_guard<std::mutex> lock(mu);
    watches.emplace(raw, std::move(w));
    return raw;
  }
  // Completion thread or loop: the watch will never fire (its request failed).
  void DropWatch(Watch* w) {
    if (!w) return;
    std::lock_guard<std::mutex> lock(mu);
    watches.erase(w);
  }

  static void OnWatch(zhandle_t*, int type, int state, const char* path, void* ctx) {
    (void)state;
    if (type == ZOO_SESSION_EVENT) return;  // session changes reach the handle's own watcher
    auto* w = static_cast<Watch*>(ctx);
    Impl* impl = w->impl;
    std::unique_ptr<Watch> owned;
    {
      std::lock_guard<std::mutex> lock(impl->mu);
      auto it = impl->watches.find(w);
      if (it == impl->watches.end()) return;
      owned = std::move(it->second);
      impl->watches.erase(it);
    }
    ZkEvent event = ZkEvent::kChanged;
    if (type == ZOO_CREATED_EVENT) event = ZkEvent::kCreated;
    if (type == ZOO_DELETED_EVENT) event = ZkEvent::kDeleted;
    if (type == ZOO_CHILD_EVENT) event = ZkEvent::kChildren;
    std::string raw_path = path ? path : "";
    impl->loop->Post(
        [self = impl->self, owned = std::shared_ptr<Watch>(std::move(owned)), event, raw_path] {
          if (*self) owned->fn(event, (*self)->Strip(raw_path.c_str()));
        });
  }

  static void OnSession(zhandle_t* zh, int type, int state, const char*, void* ctx) {
    if (type != ZOO_SESSION_EVENT) return;
    auto* hc = static_cast<HandleCtx*>(ctx);
    int64_t id = 0;
    int timeout = 0;
    if (state == ZOO_CONNECTED_STATE) {
      id = zoo_client_id(zh)->client_id;
      timeout = zoo_recv_timeout(zh);
    }
    uint64_t generation = hc->generation;
    hc->loop->Post([self = hc->self, generation, state, id, timeout] {
      Impl* impl = *self;
      if (!impl || impl->generation != generation) return;
      impl->OnSessionState(state, id, timeout);
    });
  }

  void OnSessionState(int state, int64_t id, int timeout) {
    if (state == ZOO_CONNECTED_STATE) {
      owner->negotiated_timeout_ms_ = timeout;
      EnsureChroot([this, id] {
        if (!zh || zoo_state(zh) != ZOO_CONNECTED_STATE) return;
        bool was = owner->connected_;
        owner->connected_ = true;
        owner->session_id_ = id;
        if (!was) on_state(ZkState::kConnected, id);
      });
      return;
    }
    if (state == ZOO_EXPIRED_SESSION_STATE) {
      Log().warn("session 0x{:x} expired", owner->session_id_);
      owner->connected_ = false;
      CloseHandle(/*fire_watches=*/true);
      on_state(ZkState::kExpired, 0);
      std::string error;
      if (*self == this && !Open(&error)) Log().error("{}", error);
      return;
    }
    if (owner->connected_) {
      owner->connected_ = false;
      on_state(ZkState::kLost, owner->session_id_);
    }
  }

  // Creates the chroot's nodes (each may exist), then runs `then`.
  void EnsureChroot(std::function<void()> then) {
    if (chroot.empty()) return then();
    std::vector<std::string> prefixes;
    for (size_t i = 1; i <= chroot.size(); ++i) {
      if (i == chroot.size() || chroot[i] == '/') prefixes.push_back(chroot.substr(0, i));
    }
    CreateChain(std::move(prefixes), 0, std::move(then), nullptr);
  }

  // Creates prefixes[i..] as empty persistent nodes (existing ones are fine), then `then`;
  // on another error reports it to `fail` (or logs it, when `fail` is empty).
  void CreateChain(std::vector<std::string> prefixes, size_t i, std::function<void()> then,
                   std::function<void(const ZkResult&)> fail) {
    if (i == prefixes.size()) return then();
    std::string path = prefixes[i];
    RawCreate(path, "", ZOO_PERSISTENT,
              [this, prefixes = std::move(prefixes), i, then = std::move(then),
               fail = std::move(fail)](const ZkResult& r, const std::string&) mutable {
                if (!r.ok() && r.code != ZkCode::kNodeExists) {
                  if (fail) return fail(r);
                  Log().error("cannot create {}: {}", prefixes[i], r.message);
                  return;
                }
                CreateChain(std::move(prefixes), i + 1, std::move(then), std::move(fail));
              });
  }

  // The C calls below take raw (chroot-included) paths and report on the loop.
  void RawCreate(const std::string& path, const std::string& data, int flags, CreateFn done) {
    struct Ctx {
      Impl* impl;
      std::string path;
      CreateFn done;
    };
    auto* ctx = new Ctx{this, path, std::move(done)};
    auto complete = [](int rc, const char* value, const void* data) {
      std::unique_ptr<Ctx> c(static_cast<Ctx*>(const_cast<void*>(data)));
      std::string created = value ? value : "";
      c->impl->loop->Post(
          [self = c->impl->self, c = std::shared_ptr<Ctx>(std::move(c)), rc, created] {
            if (*self) c->done(ResultOf(rc, c->path), (*self)->Strip(created.c_str()));
          });
    };
    int rc = zh ? zoo_acreate(zh, path.c_str(), data.data(), static_cast<int>(data.size()),
                              &ZOO_OPEN_ACL_UNSAFE, flags, complete, ctx)
                : ZINVALIDSTATE;
    if (rc != ZOK) complete(rc, nullptr, ctx);
  }

  bool Open(std::string* error) {
    ++generation;
    handle_ctx = new HandleCtx{self, loop, generation};
    zh = zookeeper_init2(connect_hosts.c_str(), &Impl::OnSession, options.session_timeout_ms,
                         nullptr, handle_ctx, 0, &LogFromClient);
    if (!zh) {
      delete handle_ctx;
      handle_ctx = nullptr;
      *error = "cannot start a ZooKeeper client for '" + options.hosts +
               "': " + std::string(zerror(errno == EINVAL ? ZBADARGUMENTS : ZSYSTEMERROR));
      return false;
    }
    return true;
  }

  // Closes the handle (blocks while the C client stops). Watches it held never fire now:
  // with `fire_watches` their owners hear kSessionLost.
  void CloseHandle(bool fire_watches) {
    if (zh) zookeeper_close(zh);
    zh = nullptr;
    delete handle_ctx;
    handle_ctx = nullptr;
    std::unordered_map<Watch*, std::unique_ptr<Watch>> lost;
    {
      std::lock_guard<std::mutex> lock(mu);
      lost.swap(watches);
    }
    if (!fire_watches) return;
    for (auto& [raw, w] : lost) {
      PostAlive(
          [w = std::shared_ptr<Watch>(std::move(w))](Impl*) { w->fn(ZkEvent::kSessionLost, ""); });
    }
  }
};

ZkSession::ZkSession(EventLoop* loop, ZkOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  impl_->loop = loop;
  impl_->options = std::move(options);
  impl_->self = std::make_shared<Impl*>(impl_.get());
}

ZkSession::~ZkSession() {
  *impl_->self = nullptr;
  impl_->CloseHandle(/*fire_watches=*/false);
}

bool ZkSession::Start(StateFn on_state, std::string* error) {
  const std::string& hosts = impl_->options.hosts;
  size_t slash = hosts.find('/');
  impl_->connect_hosts = hosts.substr(0, slash);
  impl_->chroot = slash == std::string::npos ? "" : hosts.substr(slash);
  while (impl_->chroot.size() > 1 && impl_->chroot.back() == '/') impl_->chroot.pop_back();
  if (impl_->chroot == "/") impl_->chroot.clear();
  if (impl_->connect_hosts.empty() || impl_->connect_hosts.find(':') == std::string::npos) {
    *error = "bad ZooKeeper address '" + hosts + "': want host:port[,host:port...][/chroot]";
    return false;
  }
  if (impl_->chroot.find("//") != std::string::npos) {
    *error = "bad ZooKeeper chroot in '" + hosts + "'";
    return false;
  }
  static std::once_flag level_once;
  std::call_once(level_once, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); });
  impl_->on_state = std::move(on_state);
  return impl_->Open(error);
}

void ZkSession::Create(const std::string& path, std::string data, Mode mode, CreateFn done,
                       bool make_parents) {
  int flags = ZOO_PERSISTENT;
  if (mode == Mode::kEphemeral) flags = ZOO_EPHEMERAL;
  if (mode == Mode::kPersistentSequential) flags = ZOO_PERSISTENT_SEQUENTIAL;
  if (mode == Mode::kEphemeralSequential) flags = ZOO_EPHEMERAL_SEQUENTIAL;
  std::string full = impl_->Full(path);
  if (!make_parents) return impl_->RawCreate(full, data, flags, std::move(done));
  std::vector<std::string> parents;
  for (size_t i = impl_->chroot.size() + 1; i < full.size(); ++i) {
    if (full[i] == '/') parents.push_back(full.substr(0, i));
  }
  auto shared_done = std::make_shared<CreateFn>(std::move(done));
  Impl* impl = impl_.get();
  impl_->CreateChain(
      std::move(parents), 0,
      [impl, full, data = std::move(data), flags, shared_done] {
        impl->RawCreate(full, data, flags, std::move(*shared_done));
      },
      [shared_done](const ZkResult& r) { (*shared_done)(r, ""); });
}

void ZkSession::Get(const std::string& path, GetFn done, WatchFn watch) {
  struct Ctx {
    Impl* impl;
    std::string path;
    GetFn done;
    Impl::Watch* watch;
  };
  auto* ctx =
      new Ctx{impl_.get(), impl_->Full(path), std::move(done), impl_->AddWatch(std::move(watch))};
  auto complete = [](int rc, const char* value, int len, const Stat* stat, const void* data) {
    std::unique_ptr<Ctx> c(static_cast<Ctx*>(const_cast<void*>(data)));
    if (rc != ZOK) c->impl->DropWatch(c->watch);
    std::string bytes = value && len > 0 ? std::string(value, static_cast<size_t>(len)) : "";
    int32_t version = rc == ZOK && stat ? stat->version : -1;
    c->impl->loop->Post([self = c->impl->self, c = std::shared_ptr<Ctx>(std::move(c)), rc,
                         bytes = std::move(bytes), version] {
      if (*self) c->done(ResultOf(rc, c->path), bytes, version);
    });
  };
  int rc = impl_->zh ? zoo_awget(impl_->zh, ctx->path.c_str(),
                                 ctx->watch ? &Impl::OnWatch : nullptr, ctx->watch, complete, ctx)
                     : ZINVALIDSTATE;
  if (rc != ZOK) complete(rc, nullptr, 0, nullptr, ctx);
}

void ZkSession::Exists(const std::string& path, ExistsFn done, WatchFn watch) {
  struct Ctx {
    Impl* impl;
    std::string path;
    ExistsFn done;
    Impl::Watch* watch;
  };
  auto* ctx =
      new Ctx{impl_.get(), impl_->Full(path), std::move(done), impl_->AddWatch(std::move(watch))};
  auto complete = [](int rc, const Stat* stat, const void* data) {
    std::unique_ptr<Ctx> c(static_cast<Ctx*>(const_cast<void*>(data)));
    // A watch on a missing node stays set: it fires when the node is created.
    if (rc != ZOK && rc != ZNONODE) c->impl->DropWatch(c->watch);
    int32_t version = rc == ZOK && stat ? stat->version : -1;
    c->impl->loop->Post(
        [self = c->impl->self, c = std::shared_ptr<Ctx>(std::move(c)), rc, version] {
          if (!*self) return;
          if (rc == ZNONODE) return c->done(ZkResult{}, false, -1);
          c->done(ResultOf(rc, c->path), rc == ZOK, version);
        });
  };
  int rc = impl_->zh
               ? zoo_awexists(impl_->zh, ctx->path.c_str(), ctx->watch ? &Impl::OnWatch : nullptr,
                              ctx->watch, complete, ctx)
               : ZINVALIDSTATE;
  if (rc != ZOK) complete(rc, nullptr, ctx);
}

void ZkSession::Children(const std::string& path, ChildrenFn done, WatchFn watch) {
  struct Ctx {
    Impl* impl;
    std::string path;
    ChildrenFn done;
    Impl::Watch* watch;
  };
  auto* ctx =
      new Ctx{impl_.get(), impl_->Full(path), std::move(done), impl_->AddWatch(std::move(watch))};
  auto complete = [](int rc, const String_vector* strings, const void* data) {
    std::unique_ptr<Ctx> c(static_cast<Ctx*>(const_cast<void*>(data)));
    if (rc != ZOK) c->impl->DropWatch(c->watch);
    std::vector<std::string> names;
    if (rc == ZOK && strings) {
      for (int i = 0; i < strings->count; ++i) names.emplace_back(strings->data[i]);
    }
    std::sort(names.begin(), names.end());
    c->impl->loop->Post([self = c->impl->self, c = std::shared_ptr<Ctx>(std::move(c)), rc,
                         names = std::move(names)] {
      if (*self) c->done(ResultOf(rc, c->path), names);
    });
  };
  int rc = impl_->zh ? zoo_awget_children(impl_->zh, ctx->path.c_str(),
                                          ctx->watch ? &Impl::OnWatch : nullptr, ctx->watch,
                                          complete, ctx)
                     : ZINVALIDSTATE;
  if (rc != ZOK) complete(rc, nullptr, ctx);
}

void ZkSession::Set(const std::string& path, std::string data, int32_t version, SetFn done) {
  struct Ctx {
    Impl* impl;
    std::string path;
    SetFn done;
  };
  auto* ctx = new Ctx{impl_.get(), impl_->Full(path), std::move(done)};
  auto complete = [](int rc, const Stat* stat, const void* data) {
    std::unique_ptr<Ctx> c(static_cast<Ctx*>(const_cast<void*>(data)));
    int32_t new_version = rc == ZOK && stat ? stat->version : -1;
    c->impl->loop->Post(
        [self = c->impl->self, c = std::shared_ptr<Ctx>(std::move(c)), rc, new_version] {
          if (*self) c->done(ResultOf(rc, c->path), new_version);
        });
  };
  int rc = impl_->zh ? zoo_aset(impl_->zh, ctx->path.c_str(), data.data(),
                                static_cast<int>(data.size()), version, complete, ctx)
                     : ZINVALIDSTATE;
  if (rc != ZOK) complete(rc, nullptr, ctx);
}

void ZkSession::Delete(const std::string& path, int32_t version, DoneFn done) {
  struct Ctx {
    Impl* impl;
    std::string path;
    DoneFn done;
  };
  auto* ctx = new Ctx{impl_.get(), impl_->Full(path), std::move(done)};
  auto complete = [](int rc, const void* data) {
    std::unique_ptr<Ctx> c(static_cast<Ctx*>(const_cast<void*>(data)));
    c->impl->loop->Post([self = c->impl->self, c = std::shared_ptr<Ctx>(std::move(c)), rc] {
      if (*self) c->done(ResultOf(rc, c->path));
    });
  };
  int rc =
      impl_->zh ? zoo_adelete(impl_->zh, ctx->path.c_str(), version, complete, ctx) : ZINVALIDSTATE;
  if (rc != ZOK) complete(rc, ctx);
}

}  // namespace saker::replication

// ZkSession: one ZooKeeper session (libzookeeper-mt) whose every callback runs on the loop
// thread. The C client's completion thread only copies what a callback needs and Posts it to
// the EventLoop, so the loop never blocks on ZooKeeper and no ZooKeeper type escapes this file.
//
// Session life: Start() connects; OnState reports kConnected (with the session id), kLost
// (disconnected: ephemerals still exist until the session times out; the client reconnects by
// itself) and kExpired (the session and its ephemerals are gone: a new session is started at
// once, and kConnected follows with a new id, so owners re-create their ephemerals then).
// Requests made while not connected fail with kConnectionLoss; requests in flight when the
// session expires fail with kSessionExpired.
//
// Watches fire once, on the loop, with the path's event; re-arm by reading again. A watch on an
// expired session fires with kSessionLost.
//
// Loop thread only (but the destructor, which may block while the C client closes).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/event_loop.h"

namespace saker::replication {

enum class ZkCode : int {
  kOk = 0,
  kNoNode,          // the path (or, for Create, its parent) does not exist
  kNodeExists,      // Create of a path that exists
  kBadVersion,      // Set / Delete with a version that is not the node's
  kNotEmpty,        // Delete of a node with children
  kConnectionLoss,  // not connected, or the connection dropped with the request in flight
  kSessionExpired,
  kOther,
};
std::string_view ZkCodeName(ZkCode code);

struct ZkResult {
  ZkCode code = ZkCode::kOk;
  std::string message;  // the C client's zerror() text and the path, when not kOk
  bool ok() const { return code == ZkCode::kOk; }
};

enum class ZkState : int { kConnected, kLost, kExpired };

enum class ZkEvent : int { kCreated, kDeleted, kChanged, kChildren, kSessionLost };

struct ZkOptions {
  // "host:port[,host:port...][/chroot]"; the chroot is created (with parents) if missing.
  std::string hosts;
  int session_timeout_ms = 2000;  // asked for; the server clamps it (negotiated_timeout_ms())
};

class ZkSession {
 public:
  using StateFn = std::function<void(ZkState state, int64_t session_id)>;
  using WatchFn = std::function<void(ZkEvent event, const std::string& path)>;
  using DoneFn = std::function<void(const ZkResult& r)>;
  using CreateFn = std::function<void(const ZkResult& r, const std::string& created_path)>;
  // data, and the node's version (for Set/Delete compare-and-set); -1 on error.
  using GetFn = std::function<void(const ZkResult& r, const std::string& data, int32_t version)>;
  using ExistsFn = std::function<void(const ZkResult& r, bool exists, int32_t version)>;
  using ChildrenFn =
      std::function<void(const ZkResult& r, const std::vector<std::string>& children)>;
  using SetFn = std::function<void(const ZkResult& r, int32_t new_version)>;

  ZkSession(EventLoop* loop, ZkOptions options);
  ~ZkSession();
  ZkSession(const ZkSession&) = delete;
  ZkSession& operator=(const ZkSession&) = delete;

  // Starts connecting; `on_state` reports every state change on the loop. Fails (InvalidArgument)
  // only for an unusable host string; an unreachable server is retried for ever.
  bool Start(StateFn on_state, std::string* error);
  bool connected() const { return connected_; }
  int64_t session_id() const { return session_id_; }
  int negotiated_timeout_ms() const { return negotiated_timeout_ms_; }

  enum class Mode : int { kPersistent, kEphemeral, kPersistentSequential, kEphemeralSequential };
  // Paths are absolute below the chroot ("/queues/q"). `make_parents`: missing parents are
  // created as empty persistent nodes first (an existing one is fine).
  void Create(const std::string& path, std::string data, Mode mode, CreateFn done,
              bool make_parents = false);
  // `watch` (may be empty) fires once on the next change of the node's data or its deletion.
  void Get(const std::string& path, GetFn done, WatchFn watch = {});
  // `watch` fires on creation, deletion or change.
  void Exists(const std::string& path, ExistsFn done, WatchFn watch = {});
  // Names only, sorted; `watch` fires once when the children list changes or the node goes.
  void Children(const std::string& path, ChildrenFn done, WatchFn watch = {});
  // Compare-and-set: `version` -1 sets whatever the version.
  void Set(const std::string& path, std::string data, int32_t version, SetFn done);
  void Delete(const std::string& path, int32_t version, DoneFn done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool connected_ = false;
  int64_t session_id_ = 0;
  int negotiated_timeout_ms_ = 0;
};

}  // namespace saker::replication

// A queue folder's identity file, `QUEUE` (FORMAT.md "Directory"): what is needed to know the
// folder without meta.db — the queue's name, its incarnation id, when it was created, its
// subscriptions and its config. The incarnation (64 random bits) tells one life of a queue from
// another of the same name — after a delete and re-create, or on another node — so cursors and
// replicated batches are never applied to the wrong log. Written when the folder is made and
// rewritten whole whenever the subscriptions or the config change; recovery adopts a folder that
// meta.db does not know from it (and rebuilds a lost meta.db from every folder's).
//
// Any thread; blocking file I/O (the meta thread, or recovery before the loop serves).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "server/common/status.h"

namespace saker::storage {

struct QueueIdentity {
  std::string name;
  uint64_t incarnation = 0;
  int64_t created_ms = 0;  // 0 in a file written before it was stored
  // The named subscriptions (not the default one, which every queue has).
  std::set<std::string> subscriptions;
  // The queue's resolved config as `key -> value`, keys as in saker.toml's queue tables.
  std::map<std::string, std::string> config;

  bool operator==(const QueueIdentity&) const = default;
};

inline constexpr char kQueueIdentityFile[] = "QUEUE";

// The file's text (FORMAT.md), and its parse: Corruption if a line is not `key=value`, a key is
// unknown, or name= or incarnation= is missing or bad. A file of an older sakerd (name and
// incarnation only) parses with the other fields empty.
std::string EncodeQueueIdentity(const QueueIdentity& identity);
Result<QueueIdentity> DecodeQueueIdentity(const std::string& text);

// Writes `dir`/QUEUE durably: a temporary file, fdatasync, rename, fsync of `dir`. IOError.
Status WriteQueueIdentity(const std::string& dir, const QueueIdentity& identity);
// Reads `dir`/QUEUE: NotFound if there is none, Corruption if it does not parse.
Result<QueueIdentity> ReadQueueIdentity(const std::string& dir);
// Removes a deleted queue's folder: its QUEUE file first, durably (unlink, fsync of `dir`), then
// the rest. A crash part way leaves a folder that no longer says which queue it was, so a start
// without meta.db never adopts the deleted queue back. IOError (the folder may be partly gone).
Status RemoveQueueFolder(const std::string& dir);
// 64 random bits, never 0.
uint64_t NewIncarnation();

}  // namespace saker::storage

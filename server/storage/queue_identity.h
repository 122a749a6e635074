// A queue folder's identity file, `QUEUE` (FORMAT.md "Directory"): the queue's name and its
// incarnation id, written once when the folder is made. The incarnation (64 random bits) tells
// one life of a queue from another of the same name — after a delete and re-create, or on another
// node — so cursors and replicated batches are never applied to the wrong log.
//
// Any thread; blocking file I/O (the meta thread, or recovery before the loop serves).
#pragma once

#include <cstdint>
#include <string>

#include "server/common/status.h"

namespace saker::storage {

struct QueueIdentity {
  std::string name;
  uint64_t incarnation = 0;
};

inline constexpr char kQueueIdentityFile[] = "QUEUE";

// Writes `dir`/QUEUE durably: a temporary file, fdatasync, rename, fsync of `dir`. IOError.
Status WriteQueueIdentity(const std::string& dir, const QueueIdentity& identity);
// Reads `dir`/QUEUE: NotFound if there is none, Corruption if it does not parse.
Result<QueueIdentity> ReadQueueIdentity(const std::string& dir);
// 64 random bits, never 0.
uint64_t NewIncarnation();

}  // namespace saker::storage

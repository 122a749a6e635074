// saker-dump: verifies a data directory or prints one queue folder's segments, offline (cf.
// redis-check-aof). On a data directory: meta.db (PRAGMA integrity_check, its rows against the
// folders) and every queue folder (QUEUE file, every batch's CRC in the log and the cursor log),
// name <-> folder <-> incarnation for each queue, and each problem by name. On a queue folder:
// its QUEUE identity file, every batch with its offsets, size, epoch and CRC status, the checks
// recovery makes, and the ops of a cursor log's records (FORMAT.md; run it on `<queue
// dir>/cursors` for the cursor log). Exit status: 0 clean, 1 corruption, 2 usage or I/O error,
// 3 only a torn tail of the last segment (which opening the log cuts).
#include <dirent.h>
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "server/common/coding.h"
#include "server/storage/batch.h"
#include "server/storage/cursor_op.h"
#include "server/storage/queue_identity.h"

namespace saker::storage {
namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

bool AllZero(const std::string& s, size_t from) {
  return std::all_of(s.begin() + static_cast<long>(from), s.end(), [](char c) { return c == 0; });
}

// Decodes every record of a cursor-log batch; prints each op unless `quiet` and every bad one.
// Returns the number of bad records.
int PrintCursorOps(const Batch& batch, bool quiet) {
  int bad = 0;
  for (const RecordView& r : batch.records()) {
    auto op = DecodeCursorOp(r.payload);
    if (!op.ok()) {
      std::printf("    offset %" PRIu64 ": BAD cursor op: %s\n", r.offset,
                  op.status().ToString().c_str());
      bad++;
    } else if (!quiet) {
      std::printf("    offset %" PRIu64 ": cursor op type=%u sub=\"%s\" offset=%" PRIu64
                  " count=%u\n",
                  r.offset, static_cast<unsigned>(op->type), op->subscription.c_str(), op->offset,
                  op->count);
    }
  }
  return bad;
}

// Prints and checks the segments of the log in `dir`: 0 clean, 1 corruption, 2 I/O error, 3
// only a torn tail of the last segment.
int DumpLog(const std::string& dir, bool quiet) {
  std::vector<std::pair<uint64_t, std::string>> segments;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    std::perror(dir.c_str());
    return 2;
  }
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() == 24 && name.ends_with(".log") &&
        std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; })) {
      segments.emplace_back(std::stoull(name.substr(0, 20)), name);
    }
  }
  ::closedir(d);
  std::sort(segments.begin(), segments.end());
  std::printf("log %s: %zu segments\n", dir.c_str(), segments.size());

  int corrupt = 0;
  bool torn = false;
  uint64_t expected = segments.empty() ? 0 : segments.front().first;
  uint64_t items = 0;
  for (size_t s = 0; s < segments.size(); s++) {
    const auto& [base, name] = segments[s];
    bool last = s + 1 == segments.size();
    std::string path = dir + "/" + name;
    std::string data;
    if (!ReadFile(path, &data)) {
      std::perror(path.c_str());
      return 2;
    }
    std::string idx;
    std::string idx_note = "no index";
    if (ReadFile(dir + "/" + name.substr(0, 20) + ".idx", &idx)) {
      idx_note = std::to_string(idx.size() / 16) + " index entries" +
                 (idx.size() % 16 ? " (torn index, ignored)" : "");
    }
    std::printf("segment %s base=%" PRIu64 " bytes=%zu %s%s\n", name.c_str(), base, data.size(),
                idx_note.c_str(), last ? " (tail)" : "");
    if (base != expected) {
      std::printf("  CORRUPTION: segment base %" PRIu64 " but the previous one ends at %" PRIu64
                  "\n",
                  base, expected);
      corrupt++;
      expected = base;
    }
    size_t pos = 0;
    while (pos < data.size()) {
      if (AllZero(data, pos)) {
        std::printf("  position %zu: %zu zero bytes to end of file (%s)\n", pos, data.size() - pos,
                    last ? "preallocated" : "CORRUPTION: sealed segment");
        if (!last) corrupt++;
        break;
      }
      std::string problem;
      auto h = data.size() - pos < kBatchHeaderBytes
                   ? Result<BatchHeader>(Status::Corruption("torn batch header"))
                   : BatchHeader::Decode(std::string_view(data).substr(pos, kBatchHeaderBytes));
      if (!h.ok()) {
        std::printf("  position %zu: BAD %s; %zu bytes not readable\n", pos,
                    h.status().ToString().c_str(), data.size() - pos);
        if (last) {
          torn = true;
        } else {
          corrupt++;
        }
        break;
      }
      if (h->length > data.size() - pos) {
        std::printf("  position %zu: BAD batch of %u bytes runs past end of file (%zu left)\n", pos,
                    h->length, data.size() - pos);
        if (last) {
          torn = true;
        } else {
          corrupt++;
        }
        break;
      }
      auto batch = Batch::Parse(data.substr(pos, h->length));
      bool ok = batch.ok();
      bool in_order = h->base_offset == expected;
      if (!quiet || !ok || !in_order) {
        std::printf("  position %zu: offsets %" PRIu64 "..%" PRIu64
                    " count=%u bytes=%u "
                    "epoch=%" PRIu64 " flags=%u crc=%s%s\n",
                    pos, h->base_offset, h->base_offset + h->count - 1, h->count, h->length,
                    h->epoch, h->flags, ok ? "ok" : "BAD", in_order ? "" : " OUT OF ORDER");
      }
      if (!ok) {
        std::printf("    %s\n", batch.status().ToString().c_str());
        // A bad last batch of the tail is a torn write; anything else is corruption.
        if (last && pos + h->length == data.size()) {
          torn = true;
        } else {
          corrupt++;
        }
      } else if (!in_order) {
        corrupt++;
      } else if ((*batch)->flags() & kBatchFlagCursor) {
        corrupt += PrintCursorOps(**batch, quiet);
      }
      expected = h->base_offset + h->count;
      if (ok) items += h->count;
      pos += h->length;
    }
  }
  std::printf("%" PRIu64 " items, next offset %" PRIu64 ": %s\n", items, expected,
              corrupt ? "CORRUPT"
              : torn  ? "torn tail (cut when the log opens)"
                      : "clean");
  if (corrupt) return 1;
  return torn ? 3 : 0;
}

// Prints `dir`/QUEUE; false if it is there but does not parse.
bool PrintIdentity(const std::string& dir) {
  if (auto id = ReadQueueIdentity(dir); id.ok()) {
    std::printf("identity: name=%s incarnation=%016" PRIx64 " subscriptions=%zu\n",
                id->name.c_str(), id->incarnation, id->subscriptions.size());
  } else if (id.status().IsNotFound()) {
    std::printf("identity: no %s file\n", kQueueIdentityFile);
  } else {
    std::printf("identity: %s\n", id.status().ToString().c_str());
    return false;
  }
  return true;
}

bool IsNumber(const std::string& s) {
  return !s.empty() && s.size() <= 19 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The numeric folders of a data directory, ascending.
std::vector<uint64_t> QueueFolders(const std::string& dir) {
  std::vector<uint64_t> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && IsNumber(name)) ids.push_back(std::stoull(name));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// What meta.db says of the queues (opened read-only: saker-dump never changes a data dir).
struct MetaView {
  std::map<uint64_t, std::pair<std::string, uint64_t>> queues;  // id -> (name, incarnation)
  std::set<uint64_t> deleted;
};

// Reads `path` into `view`, naming every problem in `problems`.
void ReadMeta(const std::string& path, MetaView* view, std::vector<std::string>* problems) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    problems->push_back("meta.db: cannot open: " + std::string(db ? sqlite3_errmsg(db) : "?"));
    sqlite3_close(db);
    return;
  }
  auto query = [&](const char* sql, auto&& row) -> bool {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) return false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
  };
  auto text = [](sqlite3_stmt* st, int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
    return std::string(p ? p : "");
  };
  std::vector<std::string> integrity;
  if (!query("PRAGMA integrity_check",
             [&](sqlite3_stmt* st) { integrity.push_back(text(st, 0)); })) {
    problems->push_back("meta.db: integrity_check failed: " + std::string(sqlite3_errmsg(db)));
  } else if (integrity != std::vector<std::string>{"ok"}) {
    for (const std::string& line : integrity) problems->push_back("meta.db: " + line);
  }
  if (!query("SELECT id, name, incarnation FROM queues", [&](sqlite3_stmt* st) {
        view->queues[static_cast<uint64_t>(sqlite3_column_int64(st, 0))] = {
            text(st, 1), static_cast<uint64_t>(sqlite3_column_int64(st, 2))};
      })) {
    problems->push_back("meta.db: cannot read the queues: " + std::string(sqlite3_errmsg(db)));
  }
  // deleted_queues is missing from a meta.db of schema 2 or older: no deletions recorded.
  (void)query("SELECT id FROM deleted_queues", [&](sqlite3_stmt* st) {
    view->deleted.insert(static_cast<uint64_t>(sqlite3_column_int64(st, 0)));
  });
  sqlite3_close(db);
}

// Verifies a whole data directory: meta.db and every queue folder (its QUEUE file, log and cursor
// log), and meta.db's rows against the folders. Prints name <-> folder <-> incarnation for each
// queue and every problem by name; 1 if there is any.
int DumpDataDir(const std::string& dir) {
  std::vector<std::string> problems;
  MetaView meta;
  const std::string meta_path = dir + "/meta.db";
  std::error_code ec;
  const bool have_meta = std::filesystem::exists(meta_path, ec);
  if (have_meta) {
    ReadMeta(meta_path, &meta, &problems);
  } else {
    problems.push_back("meta.db: missing (sakerd rebuilds it from the queue folders)");
  }
  bool torn = false;
  const std::vector<uint64_t> folders = QueueFolders(dir);
  std::set<uint64_t> seen;
  std::printf("data dir %s: %zu queue folders, meta.db %s\n", dir.c_str(), folders.size(),
              have_meta ? "present" : "missing");
  for (uint64_t id : folders) {
    seen.insert(id);
    const std::string folder = dir + "/" + std::to_string(id);
    const std::string where = "folder " + std::to_string(id);
    auto identity = ReadQueueIdentity(folder);
    std::string name = "?";
    if (identity.ok()) {
      name = identity->name;
    } else {
      problems.push_back(where + ": " + identity.status().ToString());
    }
    std::printf("queue %s <-> folder %" PRIu64 " <-> incarnation %016" PRIx64 "\n", name.c_str(),
                id, identity.ok() ? identity->incarnation : 0);
    for (const std::string& log : {folder, folder + "/cursors"}) {
      const int rc = DumpLog(log, /*quiet=*/true);
      if (rc == 3) torn = true;
      if (rc == 1 || rc == 2) {
        problems.push_back(where + ": log " + log + (rc == 1 ? " is corrupt" : " is unreadable"));
      }
    }
    if (!have_meta) continue;
    auto row = meta.queues.find(id);
    if (row == meta.queues.end()) {
      problems.push_back(where + (meta.deleted.count(id)
                                      ? ": deleted queue, removal not finished (sakerd finishes it)"
                                      : ": not in meta.db (sakerd adopts it)"));
    } else if (identity.ok() && row->second.first != identity->name) {
      problems.push_back(where + ": meta.db names it " + row->second.first + ", QUEUE " +
                         identity->name);
    } else if (identity.ok() && row->second.second != 0 &&
               row->second.second != identity->incarnation) {
      problems.push_back(fmt::format("{}: meta.db has incarnation {:016x}, QUEUE {:016x}", where,
                                     row->second.second, identity->incarnation));
    }
  }
  for (const auto& [id, row] : meta.queues) {
    if (seen.count(id) == 0) {
      problems.push_back(fmt::format("meta.db: queue {} (id {}) has no folder", row.first, id));
    }
  }
  for (const std::string& p : problems) std::printf("PROBLEM: %s\n", p.c_str());
  std::printf("%zu queue folders, %zu problems%s\n", folders.size(), problems.size(),
              torn ? ", torn tails (cut when the logs open)" : "");
  if (!problems.empty()) return 1;
  return torn ? 3 : 0;
}

int Main(int argc, char** argv) {
  bool quiet = false;
  std::string dir;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (dir.empty() && a[0] != '-') {
      dir = a;
    } else {
      dir.clear();
      break;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr,
                 "usage: saker-dump [-q] DATA_DIR | QUEUE_DIR\n"
                 "  DATA_DIR (meta.db and numbered queue folders): verifies meta.db and every\n"
                 "  queue, prints name <-> folder <-> incarnation and every problem;\n"
                 "  QUEUE_DIR: prints segments and batches (-q: segments and problems only);\n"
                 "  exit 0 clean, 1 corruption, 2 usage/I/O error, 3 torn tail only\n");
    return 2;
  }
  std::error_code ec;
  if (std::filesystem::exists(dir + "/meta.db", ec) || !QueueFolders(dir).empty()) {
    return DumpDataDir(dir);
  }
  const bool identity_ok = PrintIdentity(dir);
  const int rc = DumpLog(dir, quiet);
  return identity_ok || rc == 2 ? rc : 1;
}

}  // namespace
}  // namespace saker::storage

int main(int argc, char** argv) { return saker::storage::Main(argc, argv); }

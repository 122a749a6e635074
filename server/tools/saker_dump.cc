// saker-dump: prints and verifies one queue folder's segments offline (cf. redis-check-aof):
// its QUEUE identity file, every batch with its offsets, size, epoch and CRC status, the
// checks recovery makes, and the ops of a cursor log's records (FORMAT.md; run it on
// `<queue dir>/cursors` for the cursor log). Exit status: 0 clean, 1 corruption, 2 usage or I/O
// error, 3 only a torn tail of the last segment (which opening the log cuts).
#include <dirent.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>
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
                 "usage: saker-dump [-q] QUEUE_DIR\n"
                 "  prints segments and batches (-q: segments and problems only);\n"
                 "  exit 0 clean, 1 corruption, 2 usage/I/O error, 3 torn tail only\n");
    return 2;
  }
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
  std::printf("queue folder %s: %zu segments\n", dir.c_str(), segments.size());

  int corrupt = 0;
  if (auto id = ReadQueueIdentity(dir); id.ok()) {
    std::printf("identity: name=%s incarnation=%016" PRIx64 "\n", id->name.c_str(),
                id->incarnation);
  } else if (id.status().IsNotFound()) {
    std::printf("identity: no %s file\n", kQueueIdentityFile);
  } else {
    std::printf("identity: %s\n", id.status().ToString().c_str());
    corrupt++;
  }
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

}  // namespace
}  // namespace saker::storage

int main(int argc, char** argv) { return saker::storage::Main(argc, argv); }

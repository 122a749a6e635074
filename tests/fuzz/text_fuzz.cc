// libFuzzer target for the text-protocol parser: same checks as memcache_fuzz.cc (bounds,
// views inside the input, bounded buffering, chunked == whole).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/net/text_codec.h"

namespace {

using saker::net::text::Limits;
using saker::net::text::Parser;
using saker::net::text::ParseResult;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::vector<std::string> Run(std::string_view stream, Limits limits, size_t chunk) {
  Parser parser(limits);
  std::vector<std::string> events;
  std::string buf;
  std::string reply;
  size_t fed = 0;
  while (fed < stream.size()) {
    size_t n = chunk == 0 ? stream.size() : std::min(chunk, stream.size() - fed);
    buf.append(stream.substr(fed, n));
    fed += n;
    for (;;) {
      ParseResult r = parser.Parse(buf);
      Check(r.consumed <= buf.size());
      if (r.kind == ParseResult::Kind::kRequest) {
        const auto& q = r.request;
        Check(Inside(q.queue, buf) && Inside(q.items, buf));
        Check(q.item_count <= saker::net::text::kMaxPutItems);
        std::string e = std::to_string(static_cast<int>(q.command)) + " " + std::string(q.queue) +
                        " " + std::to_string(q.timeout_ms) + " " + std::to_string(q.expiry_ms);
        size_t items = 0;
        saker::net::text::ForEachItem(q.items, [&](std::string_view item) {
          Check(item.size() <= limits.max_item_size);
          saker::net::text::AppendItem(&reply, item);
          e += "|" + std::string(item);
          ++items;
        });
        Check(items == q.item_count);
        events.push_back(e);
      } else if (r.kind == ParseResult::Kind::kError) {
        saker::net::text::AppendProtocolError(&reply, r.error);
        if (r.error.close) {
          events.push_back("close");
          return events;
        }
        events.push_back(std::string(r.error.message) + std::string(r.error.command));
      }
      buf.erase(0, r.consumed);
      if (r.kind == ParseResult::Kind::kNeedMore) break;
    }
    Check(buf.size() <= limits.max_request_bytes + n);
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  Limits limits;
  limits.max_request_bytes = 64 + (mode & 0x0f) * 32;
  limits.max_item_size = 4 + ((mode >> 4) & 0x07) * 8;
  const size_t chunk = 1 + (mode >> 7) * 6;
  Check(Run(stream, limits, 0) == Run(stream, limits, chunk));
  return 0;
}

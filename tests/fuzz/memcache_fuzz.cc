// libFuzzer target for the memcache parser. The first input byte picks the limits and the
// chunk sizes; the rest is the byte stream. Checks: no crash or UB (ASan/UBSan), `consumed`
// never exceeds the input, views stay inside it, the unread bytes stay bounded, and feeding
// the stream in chunks gives the same requests as feeding it whole.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/net/memcache_codec.h"

namespace {

using saker::net::memcache::Limits;
using saker::net::memcache::Parser;
using saker::net::memcache::ParseResult;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// Runs the parser over `stream` delivered in chunks of `chunk` bytes (0 = all at once) and
// returns one line per request or error; stops at the first close.
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
        Check(Inside(q.queue, buf) && Inside(q.data, buf) && Inside(q.args, buf));
        Check(q.data.size() <= limits.max_item_size);
        saker::net::memcache::AppendValue(&reply, q.queue, q.data);
        events.push_back(std::to_string(static_cast<int>(q.command)) + " " + std::string(q.queue) +
                         " " + std::string(q.data) + " " + std::string(q.args) + " " +
                         std::to_string(q.get.timeout_ms) + std::to_string(q.get.open) +
                         std::to_string(q.get.close) + std::to_string(q.get.abort) +
                         std::to_string(q.get.peek) + " " + std::to_string(q.exptime) + " " +
                         std::to_string(q.count));
      } else if (r.kind == ParseResult::Kind::kError) {
        saker::net::memcache::AppendProtocolError(&reply, r.error);
        if (r.error.close) {
          events.push_back("close");
          return events;
        }
        events.push_back(std::string(r.error.reason));
      }
      buf.erase(0, r.consumed);
      if (r.kind == ParseResult::Kind::kNeedMore) break;
    }
    // Unread bytes are one partial request: bounded by the request limit (plus the chunk
    // that just arrived).
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
  limits.max_request_bytes = 64 + (mode & 0x0f) * 16;
  limits.max_item_size = 8 + ((mode >> 4) & 0x07) * 8;
  const size_t chunk = 1 + (mode >> 7) * 6;
  Check(Run(stream, limits, 0) == Run(stream, limits, chunk));
  return 0;
}

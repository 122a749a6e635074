// Kestrel's text protocol (Kestrel's TextHandler.scala): an incremental request parser
// and the reply encoders. No I/O and no queue logic.
//
// A request is one line (LF, optional CR) split on single spaces; the command is
// case-insensitive. A line ending in ':' is followed by item lines up to an empty line (at most
// 1024 items: the line after the 1024th ends the block and is dropped, as in Kestrel); `put`
// stores them. Replies: "+<n>" count, "-<message>" error, ":<item>" item or string, "*" no
// item; each ends in LF.
//
// Deviation: Kestrel re-encodes item bytes from ISO-8859-1 to UTF-8 (altering non-ASCII
// bytes); saker keeps them as sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/net/memcache_codec.h"

namespace saker::net::text {

using memcache::ParseStatusName;

enum class Command : uint8_t {
  kPut,      // put <q> [expiry_ms]:  + item lines
  kGet,      // get <q> [timeout_ms]: confirm this connection's open reads on q, open a new one
  kPeek,     // peek <q> [timeout_ms]: confirm open reads, then peek
  kMonitor,  // monitor <q> <timeout_ms>
  kConfirm,  // confirm <q> <count>
  kFlush,
  kDelete,
  kStatus,  // status [<new>]
  kVersion,
  kShutdown,
  kQuit,
};

constexpr size_t kMaxPutItems = 1024;

// Views point into the buffer given to Parser::Parse; valid until those bytes are consumed.
struct Request {
  Command command = Command::kVersion;
  std::string_view queue;  // never empty for commands that take one
  // get/peek (optional; absent = do not wait), monitor (required). Relative ms; may be <= 0.
  bool has_timeout = false;
  int32_t timeout_ms = 0;
  // put: relative ms from now (absent = never expires).
  bool has_expiry = false;
  int32_t expiry_ms = 0;
  int32_t count = 0;                          // confirm
  std::optional<queue::ServerStatus> status;  // empty = a query
  // put: the item lines, each ending in LF (see ForEachItem), and how many there are.
  std::string_view items;
  size_t item_count = 0;
};

// Calls fn(std::string_view item) for each item of Request::items, line terminators removed.
template <typename Fn>
void ForEachItem(std::string_view items, Fn&& fn) {
  while (!items.empty()) {
    size_t lf = items.find('\n');
    std::string_view line = items.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line);
    if (lf == std::string_view::npos) break;
    items.remove_prefix(lf + 1);
  }
}

// An error reply "-<message><command>" (command lower-cased; only for unknown commands).
struct ProtocolError {
  std::string_view message;
  std::string_view command;
  bool close = false;  // over a size limit: the rest of the stream cannot be trusted
};

struct Limits {
  // A line, or a put's header plus item lines, longer than this closes the connection.
  size_t max_request_bytes = kDefaultMaxRequestBytes;
  // An item line longer than this closes the connection.
  size_t max_item_size = kDefaultMaxItemSize;
};

struct ParseResult {
  enum class Kind : uint8_t { kNeedMore, kRequest, kError };
  Kind kind = Kind::kNeedMore;
  size_t consumed = 0;  // act on the result first, then drop these bytes
  Request request;
  ProtocolError error;
};

// Same contract as memcache::Parser: pass the connection's unread bytes, act on the result,
// consume exactly `consumed`, call again until kNeedMore. It remembers how far it has scanned
// (lines and put blocks are scanned once). No allocation. A complete request left unconsumed
// is parsed again by the next call, with the same result. After an error with `close`, stop.
class Parser {
 public:
  explicit Parser(Limits limits = {}) : limits_(limits) {}
  ParseResult Parse(std::string_view input);

 private:
  ParseResult ParseCommand(std::string_view header, size_t consumed, std::string_view items,
                           size_t item_count);

  Limits limits_;
  // Progress through the request at the front of the unread input.
  size_t scanned_ = 0;     // bytes known to hold no LF (header line), or scanned item lines
  size_t header_end_ = 0;  // > 0 while reading a put block: bytes of the header line
  size_t items_ = 0;       // complete item lines scanned so far
};

void AppendItem(std::string* out, std::string_view item);      // ":<item>"
void AppendNoItem(std::string* out);                           // "*"
void AppendCount(std::string* out, int64_t count);             // "+<n>"
void AppendString(std::string* out, std::string_view value);   // ":<value>" (version, status)
void AppendError(std::string* out, std::string_view message);  // "-<message>"
void AppendProtocolError(std::string* out, const ProtocolError& error);

// Kestrel's error texts, for the session's own errors.
inline constexpr std::string_view kNotThatManyOpen = "Not that many transactions open.";
// "Too many open transactions; limit=<n>" is built by the session from this prefix.
inline constexpr std::string_view kTooManyOpenPrefix = "Too many open transactions; limit=";

}  // namespace saker::net::text

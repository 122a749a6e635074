// Kestrel's memcache dialect (Kestrel's MemcacheHandler.scala, its guide): an incremental request
// parser and the reply encoders. No I/O and no queue logic: the memcache session feeds it the
// connection's unread bytes and acts on the requests.
//
// Framing is naggati's: a request line ends at LF (a CR before it is dropped); the line splits
// on single spaces; the command is case-insensitive, queue names are not. Storage commands
// (`set add replace append prepend cas`) carry a data block of <bytes> bytes plus 2 bytes that
// are skipped unchecked. Only `set` is served; the others get CLIENT_ERROR and a close at
// their request line (Kestrel reads their block first; the client sees the same reply).
//
// The parser gives only the errors a request carries in itself (CLIENT_ERROR with or without a
// close, NOT_STORED for an oversized item). Errors that depend on the connection's state are
// the session's, with these encoders: ERROR + close for a plain get while this connection has
// an open read on the queue or a get/open over max_open_reads; ERROR (no close) for a confirm
// of more reads than are open; SERVER_ERROR + close when the server status refuses the command.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/net/limits.h"
#include "server/queue/queue_manager.h"

namespace saker::net::memcache {

enum class Command : uint8_t {
  kGet,  // also `gets`
  kSet,
  kDelete,
  kFlush,
  kFlushAll,
  kFlushExpired,
  kFlushAllExpired,
  kVersion,
  kStats,
  kDumpStats,
  kMonitor,
  kConfirm,
  kStatus,
  kReload,
  kShutdown,
  kQuit,
};

// `get <q>[/t=ms][/open][/close][/abort][/peek]`. Options come in any order; unknown ones are
// ignored; a repeated t= keeps the last. Legal combinations only (the parser rejects the rest).
struct GetOptions {
  int32_t timeout_ms = 0;  // 0 = do not wait; negative t= values are clamped to 0
  bool open = false;
  bool close = false;
  bool abort = false;
  bool peek = false;
};

// `status <new>`: the names Kestrel accepts, case-insensitive: UP, READONLY, QUIESCENT, and
// WRITEAVOID, which saker serves as UP (it only leaves Kestrel's ZooKeeper write set). False for
// anything else. The one parser of status names (the text protocol's too); the other way is
// queue::ServerStatusName.
bool ParseStatusName(std::string_view text, queue::ServerStatus* status);

// One parsed request. Views point into the buffer given to Parser::Parse and are valid until
// the caller consumes those bytes or changes the buffer: copy what must outlive that.
struct Request {
  Command command = Command::kVersion;
  // get (bare name, options stripped), set, delete, flush, flush_expired, monitor, confirm.
  // Never empty for those commands. Not validated against the name rules (the engine does).
  std::string_view queue;
  GetOptions get;
  // set: flags are parsed (Kestrel rejects non-integers) and then ignored.
  int32_t flags = 0;
  // set: 0 = never; < 1,000,000 = relative seconds; otherwise absolute Unix seconds. See
  // ExpiryFromExptime.
  int32_t exptime = 0;
  std::string_view data;  // set: the item
  // monitor <q> <seconds> [max-items]: max_items < 0 when absent (use max_open_reads).
  int32_t seconds = 0;
  int32_t max_items = -1;
  // confirm <q> <count>
  int32_t count = 0;
  // status [<new>]: empty = a query.
  std::optional<queue::ServerStatus> status;
  // dump_stats [q1 q2 ...]: the queue names as written, space separated ("" = every queue).
  std::string_view args;
};

// Which reply a bad request gets.
enum class ErrorReply : uint8_t {
  kClientError,  // "CLIENT_ERROR"
  kNotStored,    // "NOT_STORED": a set whose item is over the size limits
};

struct ProtocolError {
  ErrorReply reply = ErrorReply::kClientError;
  bool close = false;       // close the connection once the reply is written
  std::string_view reason;  // static text for logs and the CLIENT_ERROR message
};

struct Limits {
  // A request line longer than this, or a set whose line plus data block is, is refused
  // without being buffered.
  size_t max_request_bytes = kDefaultMaxRequestBytes;
  // A set of a bigger item gets NOT_STORED; its data block is skipped, never buffered.
  size_t max_item_size = kDefaultMaxItemSize;
};

struct ParseResult {
  enum class Kind : uint8_t {
    kNeedMore,  // nothing complete: drop `consumed` bytes (maybe 0) and wait for more
    kRequest,   // `request` is complete
    kError,     // `error` says what to reply and whether to close
  };
  Kind kind = Kind::kNeedMore;
  // Bytes at the start of the input this result accounts for. Act on `request` first (its
  // views point into those bytes), then consume them.
  size_t consumed = 0;
  Request request;
  ProtocolError error;
};

// Parses requests one at a time from the front of a connection's unread bytes. It keeps a
// little state between calls (how far it has searched for LF, how much of an oversized data
// block is left to skip), so the caller must pass the same unread bytes again, with new bytes
// appended, after consuming exactly `consumed`. One pass over the bytes; no allocation.
// A complete request may also be left unconsumed (a session that must wait before serving
// it): the next call parses it again and returns the same result. After an error with
// `close`, stop calling it.
//
//   for (;;) {
//     ParseResult r = parser.Parse(conn->input());
//     ... act on r.request / r.error ...
//     conn->Consume(r.consumed);
//     if (r.kind == ParseResult::Kind::kNeedMore || closing) break;
//   }
class Parser {
 public:
  explicit Parser(Limits limits = {}) : limits_(limits) {}

  ParseResult Parse(std::string_view input);

  // True while skipping the rest of a refused data block.
  bool skipping() const { return skip_ > 0; }

 private:
  ParseResult ParseLine(std::string_view input, size_t line_end);

  Limits limits_;
  size_t scanned_ = 0;  // bytes of the unread input known to hold no LF
  size_t skip_ = 0;     // bytes of a refused data block still to drop
};

// Kestrel's set expiry rule, to absolute Unix ms (0 = never).
int64_t ExpiryFromExptime(int32_t exptime, int64_t now_ms);

// Reply encoders: each appends one complete reply (lines end in CRLF) to `out`.
void AppendValue(std::string* out, std::string_view queue, std::string_view data);  // +END
void AppendEnd(std::string* out);
void AppendStored(std::string* out);
void AppendNotStored(std::string* out);
void AppendDeleted(std::string* out);
void AppendFlushedAll(std::string* out);             // "Flushed all queues."
void AppendCount(std::string* out, uint64_t count);  // flush_expired, flush_all_expired
void AppendVersion(std::string* out, std::string_view version);
void AppendReloaded(std::string* out);                         // "Reloaded config."
void AppendStatus(std::string* out, std::string_view status);  // "UP", "READONLY", ...
void AppendError(std::string* out);                            // "ERROR"
// "CLIENT_ERROR <message>": the message says what was wrong (Kestrel sends it bare; clients
// read the line's first word).
void AppendClientError(std::string* out, std::string_view message);
// "SERVER_ERROR" or "SERVER_ERROR <message>" (then close: clients retry on it).
void AppendServerError(std::string* out, std::string_view message = {});
// The reply for a parser error: CLIENT_ERROR with the reason, or NOT_STORED.
void AppendProtocolError(std::string* out, const ProtocolError& error);

// `stats`: "STAT <name> <value>" lines, then AppendEnd.
void AppendStat(std::string* out, std::string_view name, std::string_view value);
void AppendStat(std::string* out, std::string_view name, int64_t value);
// "STAT queue_<queue>_<stat> <value>" (Kestrel's stats names).
void AppendQueueStat(std::string* out, std::string_view queue, std::string_view stat,
                     int64_t value);
void AppendQueueStat(std::string* out, std::string_view queue, std::string_view stat,
                     std::string_view value);

// `dump_stats`: per queue Begin, "  k=v" lines, End ("}"); then AppendEnd.
void AppendDumpStatsBegin(std::string* out, std::string_view queue);  // "queue '<q>' {"
void AppendDumpStat(std::string* out, std::string_view name, std::string_view value);
void AppendDumpStat(std::string* out, std::string_view name, int64_t value);
void AppendDumpStatsEnd(std::string* out);

}  // namespace saker::net::memcache

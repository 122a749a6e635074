// Kestrel's memcache dialect: request parser and reply encoders (Kestrel's MemcacheHandler.scala).
// Kestrel's reply texts and close rules are reproduced as MemcacheHandler.scala has them.
#include "server/net/memcache_codec.h"

#include <algorithm>
#include <charconv>

#include "server/net/tokens.h"

namespace saker::net::memcache {
namespace {

constexpr std::string_view kCrlf = "\r\n";

ParseResult Fail(size_t consumed, ErrorReply reply, bool close, std::string_view reason) {
  ParseResult r;
  r.kind = ParseResult::Kind::kError;
  r.consumed = consumed;
  r.error = ProtocolError{reply, close, reason};
  return r;
}

ParseResult ClientError(size_t consumed, bool close, std::string_view reason) {
  return Fail(consumed, ErrorReply::kClientError, close, reason);
}

bool IsStorageCommand(std::string_view cmd) {
  return EqualsLower(cmd, "set") || EqualsLower(cmd, "add") || EqualsLower(cmd, "replace") ||
         EqualsLower(cmd, "append") || EqualsLower(cmd, "prepend") || EqualsLower(cmd, "cas");
}

// Splits `key` into the queue name and the get options. False (CLIENT_ERROR + close) for an
// empty name, a t= that is not an int, or an illegal mix.
bool ParseGetKey(std::string_view key, std::string_view* queue, GetOptions* opts,
                 std::string_view* reason) {
  size_t slash = key.find('/');
  *queue = key.substr(0, slash);
  while (slash != std::string_view::npos) {
    key.remove_prefix(slash + 1);
    slash = key.find('/');
    std::string_view opt = key.substr(0, slash);
    if (opt.starts_with("t=")) {
      int32_t ms = 0;
      if (!ParseJavaInt(opt.substr(2), &ms)) {
        *reason = "bad t= option";
        return false;
      }
      opts->timeout_ms = std::max(ms, 0);
    } else if (opt == "open") {
      opts->open = true;
    } else if (opt == "close") {
      opts->close = true;
    } else if (opt == "abort") {
      opts->abort = true;
    } else if (opt == "peek") {
      opts->peek = true;
    }
  }
  if (queue->empty()) {
    *reason = "empty queue name";
    return false;
  }
  if (((opts->peek || opts->abort) && (opts->open || opts->close)) || (opts->peek && opts->abort)) {
    *reason = "illegal combination of get options";
    return false;
  }
  return true;
}

void AppendInt(std::string* out, int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, static_cast<size_t>(end - buf));
}

void AppendLine(std::string* out, std::string_view line) {
  out->append(line);
  out->append(kCrlf);
}

}  // namespace

bool ParseStatusName(std::string_view text, queue::ServerStatus* status) {
  if (EqualsLower(text, "up") || EqualsLower(text, "writeavoid")) {
    *status = queue::ServerStatus::kUp;
  } else if (EqualsLower(text, "readonly")) {
    *status = queue::ServerStatus::kReadOnly;
  } else if (EqualsLower(text, "quiescent")) {
    *status = queue::ServerStatus::kQuiescent;
  } else {
    return false;
  }
  return true;
}

ParseResult Parser::Parse(std::string_view input) {
  // Drop what is left of a refused data block before looking for the next request.
  size_t skipped = 0;
  if (skip_ > 0) {
    skipped = std::min(skip_, input.size());
    skip_ -= skipped;
    if (skip_ > 0) {
      ParseResult r;
      r.consumed = skipped;
      return r;
    }
    input.remove_prefix(skipped);
    scanned_ = 0;
  }
  size_t lf = input.find('\n', std::min(scanned_, input.size()));
  ParseResult r;
  if (lf == std::string_view::npos) {
    if (input.size() > limits_.max_request_bytes) {
      r = ClientError(0, true, "request line too long");
    } else {
      scanned_ = input.size();
    }
  } else if (lf + 1 > limits_.max_request_bytes) {
    r = ClientError(0, true, "request line too long");
  } else {
    r = ParseLine(input, lf);
  }
  if (r.kind != ParseResult::Kind::kNeedMore) scanned_ = 0;
  r.consumed += skipped;
  return r;
}

ParseResult Parser::ParseLine(std::string_view input, size_t lf) {
  const size_t line_bytes = lf + 1;
  Tokens t(StripCr(input.substr(0, lf)));
  std::string_view cmd = t[0];
  ParseResult r;
  r.kind = ParseResult::Kind::kRequest;
  r.consumed = line_bytes;
  Request& req = r.request;

  if (IsStorageCommand(cmd)) {
    if (t.size() < 5) return ClientError(line_bytes, true, "storage command needs 5 arguments");
    int32_t bytes = 0;
    if (!ParseJavaInt(t[4], &bytes) || bytes < 0) {
      return ClientError(line_bytes, true, "bad data length");
    }
    if (!EqualsLower(cmd, "set")) return ClientError(line_bytes, true, "unsupported command");
    const size_t block = static_cast<size_t>(bytes) + 2;
    if (static_cast<size_t>(bytes) > limits_.max_item_size ||
        line_bytes + block > limits_.max_request_bytes) {
      skip_ = block;
      return Fail(line_bytes, ErrorReply::kNotStored, false, "item too large");
    }
    if (input.size() < line_bytes + block) {
      // Wait for the data block; the line is parsed again then (it is short).
      scanned_ = lf;
      return ParseResult{};
    }
    r.consumed = line_bytes + block;
    if (t[1].empty()) return ClientError(r.consumed, false, "missing queue name");
    if (!ParseJavaInt(t[2], &req.flags)) return ClientError(r.consumed, false, "bad flags");
    if (!ParseJavaInt(t[3], &req.exptime)) return ClientError(r.consumed, false, "bad exptime");
    req.command = Command::kSet;
    req.queue = t[1];
    req.data = input.substr(line_bytes, static_cast<size_t>(bytes));
    return r;
  }

  if (EqualsLower(cmd, "get") || EqualsLower(cmd, "gets")) {
    if (t.size() < 2) return ClientError(line_bytes, false, "missing queue name");
    std::string_view reason;
    if (!ParseGetKey(t[1], &req.queue, &req.get, &reason)) {
      return ClientError(line_bytes, true, reason);
    }
    req.command = Command::kGet;
    return r;
  }

  // Commands that name one queue.
  struct Named {
    std::string_view name;
    Command command;
  };
  static constexpr Named kNamed[] = {{"delete", Command::kDelete},
                                     {"flush", Command::kFlush},
                                     {"flush_expired", Command::kFlushExpired}};
  for (const Named& n : kNamed) {
    if (EqualsLower(cmd, n.name)) {
      if (t[1].empty()) return ClientError(line_bytes, false, "missing queue name");
      req.command = n.command;
      req.queue = t[1];
      return r;
    }
  }

  if (EqualsLower(cmd, "monitor")) {
    if (t.size() < 3 || t[1].empty()) {
      return ClientError(line_bytes, false, "monitor needs a queue and seconds");
    }
    if (!ParseJavaInt(t[2], &req.seconds)) return ClientError(line_bytes, false, "bad seconds");
    if (t.size() > 3 && !ParseJavaInt(t[3], &req.max_items)) {
      return ClientError(line_bytes, false, "bad max items");
    }
    req.command = Command::kMonitor;
    req.queue = t[1];
    return r;
  }
  if (EqualsLower(cmd, "confirm")) {
    if (t.size() < 3 || t[1].empty()) {
      return ClientError(line_bytes, false, "confirm needs a queue and a count");
    }
    if (!ParseJavaInt(t[2], &req.count) || req.count < 0) {
      return ClientError(line_bytes, false, "bad count");
    }
    req.command = Command::kConfirm;
    req.queue = t[1];
    return r;
  }
  if (EqualsLower(cmd, "status")) {
    if (t.size() > 1) {
      queue::ServerStatus status;
      if (!ParseStatusName(t[1], &status)) return ClientError(line_bytes, true, "unknown status");
      req.status = status;
    }
    req.command = Command::kStatus;
    return r;
  }
  if (EqualsLower(cmd, "dump_stats")) {
    req.command = Command::kDumpStats;
    req.args = t.RestFrom(1);
    return r;
  }

  // Commands whose arguments are ignored.
  static constexpr Named kBare[] = {
      {"flush_all", Command::kFlushAll}, {"flush_all_expired", Command::kFlushAllExpired},
      {"version", Command::kVersion},    {"stats", Command::kStats},
      {"reload", Command::kReload},      {"shutdown", Command::kShutdown},
      {"quit", Command::kQuit}};
  for (const Named& n : kBare) {
    if (EqualsLower(cmd, n.name)) {
      req.command = n.command;
      return r;
    }
  }
  return ClientError(line_bytes, true, "unknown command");
}

int64_t ExpiryFromExptime(int32_t exptime, int64_t now_ms) {
  if (exptime == 0) return 0;
  if (exptime < 1'000'000) return now_ms + int64_t{exptime} * 1000;
  return int64_t{exptime} * 1000;
}

void AppendValue(std::string* out, std::string_view queue, std::string_view data) {
  out->append("VALUE ");
  out->append(queue);
  out->append(" 0 ");
  AppendInt(out, static_cast<int64_t>(data.size()));
  out->append(kCrlf);
  out->append(data);
  out->append("\r\nEND\r\n");
}

void AppendEnd(std::string* out) { AppendLine(out, "END"); }
void AppendStored(std::string* out) { AppendLine(out, "STORED"); }
void AppendNotStored(std::string* out) { AppendLine(out, "NOT_STORED"); }
void AppendDeleted(std::string* out) { AppendLine(out, "DELETED"); }
void AppendFlushedAll(std::string* out) { AppendLine(out, "Flushed all queues."); }
void AppendReloaded(std::string* out) { AppendLine(out, "Reloaded config."); }
void AppendError(std::string* out) { AppendLine(out, "ERROR"); }

void AppendCount(std::string* out, uint64_t count) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), count);
  out->append(buf, static_cast<size_t>(end - buf));
  out->append(kCrlf);
}

void AppendVersion(std::string* out, std::string_view version) {
  out->append("VERSION ");
  AppendLine(out, version);
}

void AppendStatus(std::string* out, std::string_view status) { AppendLine(out, status); }

void AppendClientError(std::string* out, std::string_view message) {
  out->append("CLIENT_ERROR ");
  AppendLine(out, message);
}

void AppendServerError(std::string* out, std::string_view message) {
  out->append("SERVER_ERROR");
  if (!message.empty()) {
    out->push_back(' ');
    out->append(message);
  }
  out->append(kCrlf);
}

void AppendProtocolError(std::string* out, const ProtocolError& error) {
  if (error.reply == ErrorReply::kNotStored) {
    AppendNotStored(out);
  } else {
    AppendClientError(out, error.reason);
  }
}

void AppendStat(std::string* out, std::string_view name, std::string_view value) {
  out->append("STAT ");
  out->append(name);
  out->push_back(' ');
  AppendLine(out, value);
}

void AppendStat(std::string* out, std::string_view name, int64_t value) {
  out->append("STAT ");
  out->append(name);
  out->push_back(' ');
  AppendInt(out, value);
  out->append(kCrlf);
}

void AppendQueueStat(std::string* out, std::string_view queue, std::string_view stat,
                     int64_t value) {
  out->append("STAT queue_");
  out->append(queue);
  out->push_back('_');
  out->append(stat);
  out->push_back(' ');
  AppendInt(out, value);
  out->append(kCrlf);
}

void AppendQueueStat(std::string* out, std::string_view queue, std::string_view stat,
                     std::string_view value) {
  out->append("STAT queue_");
  out->append(queue);
  out->push_back('_');
  out->append(stat);
  out->push_back(' ');
  AppendLine(out, value);
}

void AppendDumpStatsBegin(std::string* out, std::string_view queue) {
  out->append("queue '");
  out->append(queue);
  out->append("' {\r\n");
}

void AppendDumpStat(std::string* out, std::string_view name, std::string_view value) {
  out->append("  ");
  out->append(name);
  out->push_back('=');
  AppendLine(out, value);
}

void AppendDumpStat(std::string* out, std::string_view name, int64_t value) {
  out->append("  ");
  out->append(name);
  out->push_back('=');
  AppendInt(out, value);
  out->append(kCrlf);
}

void AppendDumpStatsEnd(std::string* out) { AppendLine(out, "}"); }

}  // namespace saker::net::memcache

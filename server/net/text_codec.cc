// Kestrel's text protocol: request parser and reply encoders, with TextHandler.scala's replies.
#include "server/net/text_codec.h"

#include <algorithm>
#include <charconv>

#include "server/net/tokens.h"

namespace saker::net::text {
namespace {

ParseResult Fail(size_t consumed, std::string_view message, bool close = false,
                 std::string_view command = {}) {
  ParseResult r;
  r.kind = ParseResult::Kind::kError;
  r.consumed = consumed;
  r.error = ProtocolError{message, command, close};
  return r;
}

constexpr std::string_view kQueueRequired = "Queue name required.";
constexpr std::string_view kQueueAndTimeoutRequired = "Queue name & timeout required.";
constexpr std::string_view kBadTimeout = "Error parsing timeout.";

}  // namespace

ParseResult Parser::Parse(std::string_view input) {
  if (header_end_ == 0) {
    size_t lf = input.find('\n', std::min(scanned_, input.size()));
    if (lf == std::string_view::npos || lf + 1 > limits_.max_request_bytes) {
      if (input.size() > limits_.max_request_bytes || lf != std::string_view::npos) {
        scanned_ = 0;
        return Fail(0, "Request too large.", true);
      }
      scanned_ = input.size();
      return ParseResult{};
    }
    std::string_view header = StripCr(input.substr(0, lf));
    if (header.empty() || header.back() != ':') {
      scanned_ = 0;
      return ParseCommand(header, lf + 1, {}, 0);
    }
    header_end_ = lf + 1;
    scanned_ = header_end_;
    items_ = 0;
  }
  // Item lines of a block: scan from where the last call stopped.
  for (;;) {
    size_t lf = input.find('\n', scanned_);
    size_t limit_end = lf == std::string_view::npos ? input.size() : lf + 1;
    if (limit_end > limits_.max_request_bytes) {
      header_end_ = scanned_ = 0;
      return Fail(0, "Request too large.", true);
    }
    if (lf == std::string_view::npos) {
      if (input.size() - scanned_ > limits_.max_item_size + 1) {
        header_end_ = scanned_ = 0;
        return Fail(0, "Item too large.", true);
      }
      return ParseResult{};
    }
    std::string_view line = StripCr(input.substr(scanned_, lf - scanned_));
    if (line.size() > limits_.max_item_size) {
      header_end_ = scanned_ = 0;
      return Fail(0, "Item too large.", true);
    }
    if (line.empty() || items_ >= kMaxPutItems) {
      std::string_view header = StripCr(input.substr(0, header_end_ - 1));
      header.remove_suffix(1);  // the ':'
      std::string_view items = input.substr(header_end_, scanned_ - header_end_);
      size_t count = items_;
      header_end_ = scanned_ = items_ = 0;
      return ParseCommand(header, lf + 1, items, count);
    }
    ++items_;
    scanned_ = lf + 1;
  }
}

ParseResult Parser::ParseCommand(std::string_view header, size_t consumed, std::string_view items,
                                 size_t item_count) {
  Tokens t(header);
  std::string_view cmd = t[0];
  ParseResult r;
  r.kind = ParseResult::Kind::kRequest;
  r.consumed = consumed;
  Request& req = r.request;
  req.queue = t[1];

  if (EqualsLower(cmd, "put")) {
    if (req.queue.empty()) return Fail(consumed, kQueueRequired);
    if (t.size() > 2) {
      if (!ParseJavaInt(t[2], &req.expiry_ms)) {
        return Fail(consumed, "Error parsing expiration time.");
      }
      req.has_expiry = true;
    }
    req.command = Command::kPut;
    req.items = items;
    req.item_count = item_count;
    return r;
  }
  if (EqualsLower(cmd, "get") || EqualsLower(cmd, "peek")) {
    if (req.queue.empty()) return Fail(consumed, kQueueRequired);
    if (t.size() > 2) {
      if (!ParseJavaInt(t[2], &req.timeout_ms)) return Fail(consumed, kBadTimeout);
      req.has_timeout = true;
    }
    req.command = EqualsLower(cmd, "get") ? Command::kGet : Command::kPeek;
    return r;
  }
  if (EqualsLower(cmd, "monitor")) {
    if (t.size() < 3 || req.queue.empty()) return Fail(consumed, kQueueAndTimeoutRequired);
    if (!ParseJavaInt(t[2], &req.timeout_ms)) return Fail(consumed, kBadTimeout);
    req.has_timeout = true;
    req.command = Command::kMonitor;
    return r;
  }
  if (EqualsLower(cmd, "confirm")) {
    // Kestrel's text for a missing count really says "timeout".
    if (t.size() < 3 || req.queue.empty()) return Fail(consumed, kQueueAndTimeoutRequired);
    if (!ParseJavaInt(t[2], &req.count) || req.count < 0) {
      return Fail(consumed, "Error parsing count.");
    }
    req.command = Command::kConfirm;
    return r;
  }
  if (EqualsLower(cmd, "flush") || EqualsLower(cmd, "delete")) {
    if (req.queue.empty()) return Fail(consumed, kQueueRequired);
    req.command = EqualsLower(cmd, "flush") ? Command::kFlush : Command::kDelete;
    return r;
  }
  req.queue = {};
  if (EqualsLower(cmd, "status")) {
    if (t.size() > 1) {
      queue::ServerStatus status;
      if (!ParseStatusName(t[1], &status)) return Fail(consumed, "Unknown status.");
      req.status = status;
    }
    req.command = Command::kStatus;
    return r;
  }
  if (EqualsLower(cmd, "version")) {
    req.command = Command::kVersion;
    return r;
  }
  if (EqualsLower(cmd, "shutdown")) {
    req.command = Command::kShutdown;
    return r;
  }
  if (EqualsLower(cmd, "quit")) {
    req.command = Command::kQuit;
    return r;
  }
  return Fail(consumed, "Unknown command: ", false, cmd);
}

void AppendItem(std::string* out, std::string_view item) {
  out->push_back(':');
  out->append(item);
  out->push_back('\n');
}

void AppendNoItem(std::string* out) { out->append("*\n"); }

void AppendCount(std::string* out, int64_t count) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), count);
  out->push_back('+');
  out->append(buf, static_cast<size_t>(end - buf));
  out->push_back('\n');
}

void AppendString(std::string* out, std::string_view value) { AppendItem(out, value); }

void AppendError(std::string* out, std::string_view message) {
  out->push_back('-');
  out->append(message);
  out->push_back('\n');
}

void AppendProtocolError(std::string* out, const ProtocolError& error) {
  out->push_back('-');
  out->append(error.message);
  for (char c : error.command) {
    out->push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  out->push_back('\n');
}

}  // namespace saker::net::text

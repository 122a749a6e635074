// Java-compatible line splitting and integer parsing for the Kestrel codecs.
#include "server/net/tokens.h"

namespace saker::net {

Tokens::Tokens(std::string_view line) : line_(line) {
  // Java's split drops trailing empty tokens: trim trailing spaces first, and an all-space
  // line has no tokens at all. A line with no space at all is one token, even when empty.
  size_t end = line.size();
  while (end > 0 && line[end - 1] == ' ') --end;
  if (end == 0) {
    if (line.empty()) tokens_[count_++] = line;
    return;
  }
  size_t start = 0;
  for (;;) {
    size_t space = line.find(' ', start);
    if (space == std::string_view::npos || space >= end) space = end;
    if (count_ < kMaxTokens) tokens_[count_] = line.substr(start, space - start);
    ++count_;
    if (space == end) break;
    start = space + 1;
  }
}

std::string_view Tokens::RestFrom(size_t i) const {
  if (i >= stored()) return "";
  const char* begin = tokens_[i].data();
  size_t end = line_.size();
  while (end > 0 && line_[end - 1] == ' ') --end;
  return std::string_view(begin, static_cast<size_t>(line_.data() + end - begin));
}

bool ParseJavaInt(std::string_view text, int32_t* value) {
  if (text.empty()) return false;
  bool negative = false;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    text.remove_prefix(1);
    if (text.empty()) return false;
  }
  // Accumulate as a negative number so that INT32_MIN fits.
  int64_t acc = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    acc = acc * 10 - (c - '0');
    if (acc < INT32_MIN) return false;
  }
  if (!negative) {
    if (acc < -INT32_MAX) return false;
    acc = -acc;
  }
  *value = static_cast<int32_t>(acc);
  return true;
}

bool EqualsLower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace saker::net

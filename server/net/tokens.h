// Tokens and numbers as Kestrel's JVM code sees them: lines split on single spaces (Java
// String.split(" "): consecutive spaces make empty tokens, trailing empty tokens are dropped)
// and integers parsed as Integer.parseInt does. Shared by the memcache and text codecs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace saker::net {

// The first kMaxTokens tokens of a line, as views into it, plus where each starts so that a
// command can take "the rest of the line". No allocation.
class Tokens {
 public:
  static constexpr size_t kMaxTokens = 8;

  explicit Tokens(std::string_view line);

  // Tokens in the line (Java's array length), which may exceed kMaxTokens.
  size_t size() const { return count_; }
  // Token `i` (< kMaxTokens), or "" if the line has fewer tokens.
  std::string_view operator[](size_t i) const { return i < stored() ? tokens_[i] : ""; }
  // The line from token `i` on ("" if there is no such token).
  std::string_view RestFrom(size_t i) const;

 private:
  size_t stored() const { return count_ < kMaxTokens ? count_ : kMaxTokens; }

  std::string_view line_;
  std::array<std::string_view, kMaxTokens> tokens_;
  size_t count_ = 0;
};

// Integer.parseInt: an optional '+' or '-', then one or more ASCII digits, within int32 range.
bool ParseJavaInt(std::string_view text, int32_t* value);

// ASCII case-insensitive equality against a lower-case literal.
bool EqualsLower(std::string_view text, std::string_view lower);

// Strips one trailing '\r' (lines end in LF with an optional CR).
inline std::string_view StripCr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace saker::net

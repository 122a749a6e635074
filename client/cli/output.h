// What every `saker` subcommand shares for its output: the exit codes (README.md, "Client
// library and CLI", has the same table), JSON string quoting, and the one stderr line of a
// failure.
#pragma once

#include <saker/client.h>

#include <string>
#include <type_traits>
#include <vector>

namespace saker::cli {

constexpr int kExitOk = 0;
constexpr int kExitServer = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotFound = 3;

// `s` as a quoted JSON string.
std::string Json(const std::string& s);

template <typename T>
std::string JsonList(const std::vector<T>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    if constexpr (std::is_same_v<T, std::string>) {
      out += Json(values[i]);
    } else {
      out += std::to_string(values[i]);
    }
  }
  return out + "]";
}

// kExitNotFound for NOT_FOUND, kExitUsage for INVALID_ARGUMENT, else kExitServer.
int ExitCode(const client::Status& s);
// Prints "saker: CODE: message" and returns the exit code for `s`.
int Fail(const client::Status& s);

}  // namespace saker::cli

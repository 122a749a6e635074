// JSON quoting and failure lines of the `saker` CLI.
#include "client/cli/output.h"

#include <cstdio>

namespace saker::cli {

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

int ExitCode(const client::Status& s) {
  switch (s.code()) {
    case client::Code::kNotFound:
      return kExitNotFound;
    case client::Code::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitServer;
  }
}

int Fail(const client::Status& s) {
  std::fprintf(stderr, "saker: %s\n", s.ToString().c_str());
  return ExitCode(s);
}

}  // namespace saker::cli

// Parsing of the cluster's refusals; the messages are replication/cluster.cc's NotLeaderStatus
// and the engine's server-status refusals.
#include "client/redirect.h"

#include <cctype>

namespace saker::client {

std::optional<std::string> LeaderAddress(std::string_view message) {
  constexpr std::string_view kKey = "thrift=";
  size_t at = 0;
  // A whole word: "xthrift=" is not the key.
  while ((at = message.find(kKey, at)) != std::string_view::npos && at > 0 &&
         message[at - 1] != ' ') {
    at += kKey.size();
  }
  if (at == std::string_view::npos) return std::nullopt;
  const size_t begin = at + kKey.size();
  const size_t end = message.find(' ', begin);
  const std::string_view address =
      message.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view digits = address.substr(colon + 1);
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  int port = 0;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return std::string(address);
}

bool UnavailableMayClear(std::string_view message) {
  return message != "server is READONLY" && message != "server is QUIESCENT";
}

}  // namespace saker::client

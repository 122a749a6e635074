// HttpHandler: parses request heads (bodies are not accepted), answers through the router.
#include "server/net/http.h"

#include <algorithm>
#include <cctype>

namespace saker::net {
namespace {

constexpr size_t kMaxHead = 16 << 10;

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

void Write(Connection* conn, const HttpResponse& r, bool head_only, bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(Reason(r.status)) +
                    "\r\nContent-Type: " + r.content_type +
                    "\r\nContent-Length: " + std::to_string(r.body.size()) +
                    (close ? "\r\nConnection: close" : "") + "\r\n\r\n";
  if (!head_only) out += r.body;
  conn->Send(out);
  if (close) conn->CloseAfterWrite();
}

bool HeaderSaysClose(std::string_view head) {
  std::string lower(head);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("\r\nconnection: close") != std::string::npos ||
         lower.find("http/1.0\r\n") != std::string::npos;
}

}  // namespace

ConnectionLimits HttpLimits(ConnectionLimits limits) {
  const int64_t t = limits.request_timeout_ms;
  limits.request_timeout_ms = t > 0 ? std::min(t, kHttpHeadTimeoutMs) : kHttpHeadTimeoutMs;
  return limits;
}

void HttpHandler::OnData(Connection* conn) {
  while (!conn->closed()) {
    std::string_view in = conn->input();
    size_t end = in.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (in.size() > kMaxHead)
        Write(conn, {431, "text/plain", "request head too large\n"}, false, true);
      return;
    }
    std::string_view head = in.substr(0, end + 4);
    size_t line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    bool close = HeaderSaysClose(head);
    conn->Consume(head.size());
    if (sp2 == std::string_view::npos) {
      Write(conn, {400, "text/plain", "bad request line\n"}, false, true);
      return;
    }
    HttpRequest req;
    req.method = std::string(line.substr(0, sp1));
    std::string target(line.substr(sp1 + 1, sp2 - sp1 - 1));
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    if (req.method != "GET" && req.method != "HEAD") {
      Write(conn, {405, "text/plain", "only GET and HEAD\n"}, false, true);
      return;
    }
    Write(conn, (*router_)(req), req.method == "HEAD", close);
  }
}

}  // namespace saker::net

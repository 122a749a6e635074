// A small HTTP/1.1 server protocol for the admin port. It reads request heads (at most 16 KiB;
// bodies are not accepted), hands GET and HEAD requests to a router and writes one response per
// request, in order: keep-alive unless the client sends "Connection: close" or speaks HTTP/1.0.
// Anything else gets an error response and a close: 400 (bad request line), 405 (not GET or
// HEAD), 431 (head too large). A head must arrive whole within the head deadline (HttpLimits), else
// the connection is closed without a reply. The routes (/metrics, /stats.json, /healthz, /readyz,
// /) are the Server's (server/server.cc), rendered by server/admin/stats.h; this file only frames.
// Loop thread only.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "server/net/connection.h"

namespace saker::net {

struct HttpRequest {
  std::string method;
  std::string path;   // without the query string
  std::string query;  // after '?', may be empty
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// The admin port's limits: the clients' limits with the head deadline, request_timeout_ms capped
// at kHttpHeadTimeoutMs (that alone when request_timeout_ms is 0).
inline constexpr int64_t kHttpHeadTimeoutMs = 10'000;
ConnectionLimits HttpLimits(ConnectionLimits limits);

// Answers one request; runs on the loop thread, so it must not block.
using HttpRouter = std::function<HttpResponse(const HttpRequest&)>;

class HttpHandler final : public ProtocolHandler {
 public:
  // `router` is not owned and must outlive every connection using this handler.
  explicit HttpHandler(const HttpRouter* router) : router_(router) {}
  void OnData(Connection* conn) override;
  void OnClose(Connection*) override {}

 private:
  const HttpRouter* router_;
};

}  // namespace saker::net

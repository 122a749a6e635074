// A small HTTP/1.1 server protocol for the admin port: GET/HEAD requests only, one response
// per request, keep-alive unless the client asks to close. The routes (/metrics, /stats.json,
// /healthz, /readyz, /) live in server/admin; this file only frames requests and responses.
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

using HttpRouter = std::function<HttpResponse(const HttpRequest&)>;

class HttpHandler final : public ProtocolHandler {
 public:
  explicit HttpHandler(const HttpRouter* router) : router_(router) {}
  void OnData(Connection* conn) override;
  void OnClose(Connection*) override {}

 private:
  const HttpRouter* router_;
};

}  // namespace saker::net

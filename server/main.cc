// sakerd: parse flags and the config file, set up logging, start the Server and run the loop
// until SIGTERM / SIGINT / `shutdown`. Exit 0 after a clean stop, 1 on a start-up error, 2 on
// bad usage.
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "server/common/logging.h"
#include "server/config.h"
#include "server/server.h"

int main(int argc, char** argv) {
  auto cmd = saker::ParseCommandLine(argc, argv);
  if (!cmd.ok()) {
    std::cerr << "sakerd: " << cmd.status().message() << "\n\n" << saker::Usage();
    return 2;
  }
  if (cmd->help) {
    std::cout << saker::Usage();
    return 0;
  }
  if (cmd->version) {
    std::cout << "sakerd " << SAKER_VERSION << "\n";
    return 0;
  }
  saker::ServerConfig& config = cmd->config;
  spdlog::level::level_enum level;
  if (!saker::logging::ParseLevel(config.log_level, &level)) {
    std::cerr << "sakerd: bad log level: " << config.log_level << "\n";
    return 2;
  }
  saker::logging::Init(level);
  // A client that disconnects mid-write must not kill the server.
  signal(SIGPIPE, SIG_IGN);

  saker::Server server(std::move(config));
  saker::Status s = server.Start();
  if (!s.ok()) {
    saker::logging::Get("server").critical("cannot start: {}", s.ToString());
    saker::logging::Flush();
    std::cerr << "sakerd: cannot start: " << s.ToString() << "\n";
    return 1;
  }
  server.Run();
  saker::logging::Flush();
  return 0;
}

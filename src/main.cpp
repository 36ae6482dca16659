// SPDX-License-Identifier: MIT
// hellod: answers every HTTP/1.1 request with one configured response.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <CLI/CLI.hpp>

#include <csignal>
#include <exception>
#include <string>

#include <unistd.h>

#include "config.hpp"
#include "log.hpp"
#include "supervisor.hpp"
#include "systemd.hpp"
#include "version.hpp"

namespace {

int check_config(const hellod::ConfigSource& source) {
  const hellod::Result<hellod::Config> config = hellod::load_config(source);
  if (!config) {
    // Under ExecReload= stderr is the journal: mark the line as an error
    // (sd-daemon(3) prefix) so `systemctl status` and journalctl show it as one.
    fmt::print(stderr, "{}{}\n", hellod::stderr_is_journal() ? SD_ERR : "", config.error().message);
    return 1;
  }
  fmt::print("configuration OK\n");
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"hellod: a small, fast, systemd-native HTTP/1.1 responder"};
  std::string config_path{hellod::kDefaultConfigPath};
  bool check = false;
  auto* config_option = app.add_option("-c,--config", config_path, "configuration file")
                            ->type_name("PATH")
                            ->capture_default_str();
  app.add_flag("-t,--check-config", check, "validate the configuration and exit");
  app.set_version_flag("-V,--version", std::string("hellod ") + hellod::kVersion);
  CLI11_PARSE(app, argc, argv);

  const hellod::ConfigSource source{config_path, config_option->count() > 0};
  if (check) return check_config(source);

  // A client that disconnects mid-write must cost an EPIPE, not the process.
  // SIG_IGN for SIGPIPE cannot fail (signal(2) only rejects invalid numbers).
  static_cast<void>(std::signal(SIGPIPE, SIG_IGN));
  hellod::init_logging();
  hellod::Result<hellod::Config> config = hellod::load_config(source);
  if (!config) {
    spdlog::error("{}", config.error().message);
    hellod::systemd::notify_failure(config.error().message, config.error().errno_value);
    return 1;
  }
  hellod::configure_logging(config.value().log);
  if (!source.explicit_path && config_path == hellod::kDefaultConfigPath &&
      ::access(config_path.c_str(), F_OK) != 0) {
    spdlog::info("{} does not exist: running on the embedded default configuration", config_path);
  }
  spdlog::info("hellod {} starting", hellod::kVersion);
  hellod::Supervisor supervisor(source);
  return supervisor.run(std::move(config.value()));
}

}  // namespace

int main(int argc, char** argv) {
  // Start-up errors are values (Result); anything thrown is a bug, reported
  // as one line rather than std::terminate's abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    fmt::print(stderr, "hellod: {}\n", error.what());
    return 1;
  }
}

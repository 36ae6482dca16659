// SPDX-License-Identifier: MIT
#pragma once

// The metrics listener: a small HTTP/1.1 server on the supervisor's loop
// (never a worker's, so a scrape never delays a request) that answers GET
// and HEAD of metrics.path with the Prometheus exposition, 404 on any other
// path and 405 for other methods. It never serves the configured responses.
//
// Scrapers are few: connections are capped (more wait in the backlog),
// idle ones time out, and requests are answered one at a time.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "listeners.hpp"
#include "result.hpp"

namespace hellod {

class MetricsListener {
 public:
  using Render = std::function<std::string()>;

  // render produces the exposition at each scrape, on the loop's thread.
  MetricsListener(uv_loop_t* loop, Render render);
  MetricsListener(const MetricsListener&) = delete;
  MetricsListener& operator=(const MetricsListener&) = delete;
  // Precondition: close() was called and the loop has run since.
  ~MetricsListener();

  // The path served from the next request on.
  void set_path(std::string path);

  // Listens on the socket, whose ownership moves here (closed on failure).
  Status add(ListenSocket socket);
  // Stops listening on the named sockets; their connections finish.
  void remove(const std::vector<std::string>& names);
  [[nodiscard]] std::vector<std::string> names() const;
  // Stops listening and closes every connection; idempotent.
  void close();

  // Used by its connections.
  struct Server;

 private:
  Server* server_;  // freed once its last handle is closed
};

}  // namespace hellod

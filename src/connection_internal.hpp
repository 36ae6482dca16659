// SPDX-License-Identifier: MIT
#pragma once

// What connection.cpp and connection_output.cpp share: the state a
// connection allocates only while it has output pending, and the libuv
// callbacks. Internal to the connection; nothing else includes it.

#include <spdlog/spdlog.h>
#include <uv.h>

#include <cassert>
#include <cstddef>
#include <exception>
#include <new>
#include <string>

#include "connection.hpp"
#include "log.hpp"
#include "output_queue.hpp"

namespace hellod {

// Over this much unsent output a connection stops reading until the client
// catches up, so a client that pipelines without reading costs bounded memory.
constexpr std::size_t kMaxPendingOutput = std::size_t{256} * 1024;

// Output that could not be written at once, and input parked while it
// drains. Allocated only for a connection that has some, so an idle
// keep-alive connection owns no buffer.
struct Connection::Pending {
  OutputQueue output;
  // Bytes libuv still had to write when the send timeout was last armed:
  // the timeout is for a client that stops reading, not for a long response.
  std::size_t unsent_when_armed = 0;
  uv_shutdown_t shutdown_request{};
  std::string held_input;
};

// libuv calls plain C functions; these forward to the Connection in
// handle.data and keep exceptions from crossing into libuv.
struct ConnectionCallbacks {
  static Connection& of(uv_handle_t* handle) { return *static_cast<Connection*>(handle->data); }

  // Whatever the body throws, the loop's batch is left empty (it points at
  // the snapshot's bytes) and the connection closes; running out of memory
  // is fatal, since nothing half-handled can be trusted after it.
  template <typename Body>
  static void guarded(Connection& connection, Body&& body) {
    try {
      body();
    } catch (const std::bad_alloc&) {
      die_out_of_memory("serving a connection");
    } catch (const std::exception& error) {
      spdlog::error("connection failed: {}", error.what());
      connection.loop_.batch.clear();
      connection.loop_.batched = 0;
      connection.close(CloseReason::error);
    }
    assert(connection.loop_.batch.empty());
    // Every phase but closed waits for exactly one timeout.
    assert(connection.phase_ == Connection::Phase::closed || connection.list() != nullptr);
  }

  static void on_write(uv_write_t* request, int status) {
    auto& connection = *static_cast<Connection*>(request->data);
    guarded(connection, [&] { connection.on_write_done(status); });
  }

  static void on_shutdown(uv_shutdown_t* request, int status) {
    auto& connection = *static_cast<Connection*>(request->data);
    if (status < 0 && status != UV_ECANCELED) connection.close(Connection::reason_for(status));
  }

  static void on_close(uv_handle_t* handle) {
    Connection* connection = &of(handle);
    connection->loop_.owner->release(connection);
  }
};

}  // namespace hellod

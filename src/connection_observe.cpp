// Connection's metrics and access-log wiring: why a connection ends, and
// the access record of an answered request. Kept apart from the state
// machine in connection.cpp so the counting stays easy to move.
#include <uv.h>

#include <ctime>

#include "access_log_queue.hpp"
#include "connection.hpp"
#include "reply.hpp"
#include "worker.hpp"

namespace hellod {

CloseReason Connection::reason_for(ssize_t uv_status) {
  // A reset or a vanished reader is the client going away, not our fault.
  if (uv_status == UV_EOF || uv_status == UV_ECONNRESET || uv_status == UV_EPIPE)
    return CloseReason::client;
  return CloseReason::error;
}

// Remembers whether this reply is the last one, and why, for
// hellod_connections_closed_total.
void Connection::end_after_output(const ParseEvent& event, const Reply& reply) {
  close_after_output_ = reply.close_after;
  if (!reply.close_after) return;
  if (event.kind == ParseEvent::Kind::error) {
    end_reason_ = CloseReason::bad_request;
  } else if (worker_.draining()) {
    end_reason_ = CloseReason::shutdown;
  } else if (!event.keep_alive) {
    end_reason_ = CloseReason::client;  // Connection: close, HTTP/1.0, an upgrade
  } else {
    end_reason_ = CloseReason::keepalive_requests;
  }
}

// Copies the request's facts into the worker's queue; nothing is formatted
// or allocated here. The duration runs from the read that brought the
// request to now, when the response is produced (the histogram's runs to
// the write, see Worker::count_batch).
void Connection::log_access(const ParseEvent& event, const Reply& reply) {
  AccessLogQueue* queue = worker_.access_log();
  if (queue == nullptr) return;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  AccessRecord record;
  record.time_ns = (static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000) + now.tv_nsec;
  record.duration_ns = uv_hrtime() - read_ns_;
  record.bytes_sent = reply.bytes.size();
  record.status = static_cast<std::uint16_t>(reply.status);
  record.format = worker_.config().log.access;
  if (event.kind == ParseEvent::Kind::request) {
    // A rejected request's method is unknown: llhttp may not have read it.
    record.method = parser_.method();
    record.http_major = 1;
    record.http_minor = event.http10 ? 0 : 1;
  }
  record.target = parser_.target();
  record.route = kDefaultRoute;  // routes: the name of the route that answered
  record.user_agent = parser_.user_agent();
  record.referer = parser_.referer();
  sockaddr_storage peer{};
  int length = sizeof(peer);
  if (handle_.handle.type == UV_TCP &&
      uv_tcp_getpeername(&handle_.tcp, reinterpret_cast<sockaddr*>(&peer), &length) == 0) {
    record.client = client_address_of(reinterpret_cast<const sockaddr*>(&peer));
  } else {
    record.client.family = AF_UNIX;
  }
  if (!queue->try_push(record)) worker_.metrics().count_access_log_drop();
}

}  // namespace hellod

// SPDX-License-Identifier: MIT
// Connection's metrics and access-log wiring: what each reply counts, why
// a connection ends, and the access record of an answered request. Kept
// apart from the state machine in connection.cpp.
#include <sys/socket.h>
#include <uv.h>

#include <ctime>

#include "connection.hpp"
#include "monotonic.hpp"
#include "reply.hpp"

namespace hellod {

CloseReason Connection::reason_for(ssize_t uv_status) {
  // A reset or a vanished reader is the client going away, not our fault.
  if (uv_status == UV_EOF || uv_status == UV_ECONNRESET || uv_status == UV_EPIPE)
    return CloseReason::client;
  return CloseReason::error;
}

// The wait that expired, told by the phase (each phase has one wait).
CloseReason Connection::timeout_reason() const {
  switch (phase_) {
    case Phase::head:
      // Accepted during a drain and silent for its grace: hellod stopped.
      return loop_.draining && requests_ == 0 ? CloseReason::shutdown : CloseReason::header_timeout;
    case Phase::body:
      return CloseReason::header_timeout;
    case Phase::idle:
      return CloseReason::keepalive_timeout;
    case Phase::writing:
    case Phase::finishing:
      return CloseReason::send_timeout;
    case Phase::lingering:
    case Phase::closed:
      break;
  }
  return end_reason_;  // the linger only delays a close already decided
}

// Counts the reply under its route and status; its duration is observed
// when it is handed to the kernel: now if output is already pending (it
// queues behind), else when the loop's batch is written (observe_write).
// 100 Continue is interim: its request is counted once, with its final
// status.
void Connection::observe(const ParseEvent& event, const Reply& reply) {
  if (event.kind == ParseEvent::Kind::send_continue) return;
  WorkerMetrics& metrics = *loop_.metrics;
  const std::size_t rows = metrics.layout().routes();
  const auto row =
      reply.route < rows ? static_cast<std::uint32_t>(reply.route) : metrics.layout().unrouted();
  metrics.count_status(row, reply.status);
  if (output_pending()) {
    metrics.observe_durations(monotonic_ns() - read_ns_, 1);
  } else {
    ++loop_.batched;
  }
  if (loop_.access_log != nullptr) log_access(event, reply);
}

// The batch went to the kernel (or failed): the durations of the responses
// in it end now.
void Connection::observe_write(ssize_t written) {
  WorkerMetrics& metrics = *loop_.metrics;
  if (loop_.batched != 0) {
    metrics.observe_durations(monotonic_ns() - read_ns_, loop_.batched);
    loop_.batched = 0;
  }
  if (written > 0) metrics.count_sent(static_cast<std::uint64_t>(written));
}

// This reply is the connection's last: why, for
// hellod_connections_closed_total.
void Connection::decide_end(const ParseEvent& event, const Reply& reply) {
  if (event.kind == ParseEvent::Kind::error) {
    end_reason_ = CloseReason::bad_request;
  } else if (loop_.draining || (loop_.health_failing && reply.status == 503)) {
    end_reason_ = CloseReason::shutdown;
  } else if (!event.keep_alive) {
    end_reason_ = CloseReason::client;  // Connection: close, HTTP/1.0, an upgrade
  } else {
    end_reason_ = CloseReason::keepalive_requests;
  }
}

// Copies the request's facts into the loop's queue; nothing is formatted
// or allocated here. The duration runs from the read that brought the
// request to now, when the response is produced (the histogram's runs to
// the write).
void Connection::log_access(const ParseEvent& event, const Reply& reply) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  AccessRecord record;
  record.time_ns = (static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000) + now.tv_nsec;
  record.duration_ns = monotonic_ns() - read_ns_;
  record.bytes_sent = reply.bytes.size();
  record.status = static_cast<std::uint16_t>(reply.status);
  record.format = loop_.snapshot->config.log.access;
  if (event.kind == ParseEvent::Kind::request) {
    // A rejected request's method is unknown: llhttp may not have read it.
    record.method = parser_.method();
    record.http_major = 1;
    record.http_minor = event.http10 ? 0 : 1;
  }
  record.target = parser_.captured(Field::target);
  const MetricsLayout& layout = loop_.metrics->layout();
  record.route =
      layout.route_label(reply.route < layout.routes() ? reply.route : layout.unrouted());
  // An empty header logs as an absent one ("-", null).
  if (const std::string_view agent = parser_.captured(Field::user_agent); !agent.empty())
    record.user_agent = agent;
  if (const std::string_view referer = parser_.captured(Field::referer); !referer.empty())
    record.referer = referer;
  record.client = unix_socket_ ? ClientAddress{.family = AF_UNIX} : loop_.peers.of(fd_);
  if (!loop_.access_log->try_push(record)) loop_.metrics->count_access_log_drop();
}

}  // namespace hellod

// SPDX-License-Identifier: MIT
#include "connection.hpp"

#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>

#include "connection_internal.hpp"
#include "log.hpp"
#include "monotonic.hpp"
#include "nocancel.hpp"
#include "reply.hpp"
#include "request_driver.hpp"

namespace hellod {
namespace {

#ifdef HELLOD_TEST_HOOKS
// Test builds only: a request for this target throws from the request path,
// so a test can check that the next connection's response is intact.
constexpr std::string_view kThrowingTarget = "/__hellod_test/throw";
#endif

}  // namespace

Connection::Connection(LoopContext& loop) : loop_(loop) {}

Connection::~Connection() = default;

bool Connection::start(int fd, bool unix_socket) {
  fd_ = fd;
  unix_socket_ = unix_socket;
  // RFC 9112 sets no limit; like h2o and nginx, a silent client is timed out.
  enter(Phase::head, Wait::header);
  reading_ = true;
  if (!unix_socket) ConnectionCallbacks::guarded(*this, [this] { read_input(); });
  if (phase_ == Phase::closed) return !attached_;
  static_cast<void>(attach());  // on failure it closes itself, unattached or through libuv
  return phase_ == Phase::closed && !attached_;
}

// A client usually sends its request right after connecting, so by the time
// hellod accepts, the bytes are there: start() reads them on the bare
// descriptor. An attached connection reads the same way when the worker's
// InputSet reports input (recv(2): a socket call, without read(2)'s VFS
// layer).
void Connection::read_input() {
  std::vector<char>& buffer = loop_.read_buffer;
  const ssize_t nread = receive(fd_, buffer.data(), buffer.size(), 0);
  if (nread > 0) {
    on_read(std::string_view(buffer.data(), static_cast<std::size_t>(nread)));
    // A full buffer may have left input behind, which edge-triggered input
    // (InputSet) would not report again by itself.
    if (static_cast<std::size_t>(nread) == buffer.size() && reading_ && attached_ &&
        phase_ != Phase::closed && loop_.inputs.rearm(fd_, this) < 0)
      close(CloseReason::error);
  } else if (nread == 0) {
    on_read_error(UV_EOF);
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
    on_read_error(-errno);
  }
}

// Gives the connection a libuv handle, for a connection that must wait (its
// close callback frees the connection once the loop is done with it), and
// watches the descriptor for input if that is wanted. Idempotent; false when
// that failed and the connection closed itself.
bool Connection::attach() {
  if (attached_) return true;
  assert(phase_ != Phase::closed);
  const int init = unix_socket_ ? uv_pipe_init(loop_.loop, &handle_.pipe, 0)
                                : uv_tcp_init(loop_.loop, &handle_.tcp);
  if (init < 0) {
    spdlog::debug("connection handle: {}", uv_strerror(init));
    close(CloseReason::error);  // unattached: closes the descriptor
    return false;
  }
  attached_ = true;
  handle_.handle.data = this;
  if (reading_) {
    reading_ = false;
    return start_reading();
  }
  return true;
}

// Hands the descriptor to the libuv handle, for a write that waits or a
// shutdown. Only then: uv_tcp_open and uv_pipe_open set O_NONBLOCK again
// (an ioctl(2); accept4 gave it already), and libuv's close of an opened
// stream takes the descriptor out of libuv's own epoll set, where only a
// waiting write ever put it (an epoll_ctl(2) that fails otherwise).
// Idempotent; false when that failed and the connection closed itself.
bool Connection::open_stream() {
  if (!attach()) return false;
  if (stream_open_) return true;
  const int status =
      unix_socket_ ? uv_pipe_open(&handle_.pipe, fd_) : uv_tcp_open(&handle_.tcp, fd_);
  if (status < 0) {
    spdlog::debug("connection handle: {}", uv_strerror(status));
    close(CloseReason::error);  // the handle does not own the descriptor: close() closes it
    return false;
  }
  stream_open_ = true;
  return true;
}

void Connection::close(CloseReason reason) {
  if (phase_ == Phase::closed) return;
  // Once the last response is queued the connection ends for that reason,
  // whatever closes it (EOF, the linger deadline); a send timeout or a socket
  // error is the more telling cause.
  const bool decided = phase_ == Phase::finishing || phase_ == Phase::lingering;
  if (decided && reason != CloseReason::send_timeout && reason != CloseReason::error)
    reason = end_reason_;
  loop_.metrics->count_closed(reason);
  // Final: nothing moves a closed connection to another phase, so this body
  // runs once and the descriptor is closed once.
  phase_ = Phase::closed;
  reading_ = false;  // the descriptor leaves the InputSet as it closes
  Deadlines::stop_waiting(*this);
  loop_.peers.forget(fd_);
  // An opened stream's descriptor is libuv's to close; otherwise it is ours.
  // close(2) releases it even when it fails, and takes it out of the
  // InputSet (its only reference).
  if (!stream_open_) static_cast<void>(::close(fd_));
  // Unattached, the connection is still within start(), which tells its
  // caller to free it; attached, the handle's close callback frees it.
  if (attached_) uv_close(&handle_.handle, ConnectionCallbacks::on_close);
}

void Connection::on_input(bool peer_shut) {
  // Closed, or reading stopped, by an event earlier in the same batch.
  if (phase_ == Phase::closed || !reading_) return;
  assert(attached_);
  ConnectionCallbacks::guarded(*this, [this, peer_shut] {
    read_input();
    // Input is edge-triggered (InputSet): a read that took the last bytes
    // before a FIN leaves the EOF unread, and no new edge will report it.
    if (peer_shut && reading_ && phase_ != Phase::closed) read_input();
  });
}

void Connection::on_deadline() {
  // Like nginx's send_timeout, the send timeout runs between two writes that
  // make progress, not for the whole of a large response.
  if (phase_ == Phase::writing || phase_ == Phase::finishing) {
    const std::size_t unsent = uv_stream_get_write_queue_size(stream());
    if (output_pending() && unsent < pending_->unsent_when_armed) {
      arm_send_timeout();
      return;
    }
  }
  spdlog::debug("closing a connection whose timeout expired");
  close(timeout_reason());
}

void Connection::drain() {
  if (phase_ == Phase::closed || phase_ == Phase::lingering || phase_ == Phase::finishing) return;
  // A busy connection finishes its response, which says Connection: close
  // because the loop is draining; advance() then closes it. So does one
  // whose next request is already in the socket: closing over unread bytes
  // would reset it (and, in a restart, a client that had been accepted just
  // before would fail where one still in the backlog is served).
  if (parser_.mid_request() || output_pending() || input_waiting()) return;
  if (requests_ == 0 && phase_ == Phase::head) {
    // Accepted, nothing sent yet: the request is most likely on its way.
    // The grace runs once, from the first drain: a later one leaves it be.
    if (!loop_.deadlines.waiting_for(*this, Wait::drain)) loop_.deadlines.wait(*this, Wait::drain);
    return;
  }
  // Idle between requests: a FIN. A client whose next request crosses it
  // retries on a new connection (RFC 9112 section 9.3.1).
  close(CloseReason::shutdown);
}

// Whether the client's bytes wait in the socket, unread (recv(2) MSG_PEEK).
bool Connection::input_waiting() {
  char byte = 0;
  return receive(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void Connection::on_read(std::string_view data) {
  // Once our side is shut down, input is only read to notice the client's EOF.
  if (phase_ == Phase::lingering) return;
  if (phase_ == Phase::finishing) {
    unread_input_ = true;  // closing now would reset the connection
    return;
  }
  loop_.metrics->count_received(data.size());
  read_ns_ = monotonic_ns();
  const std::uint32_t answered = requests_;
  process(data);
  if (parser_.mid_request() && phase_ != Phase::closed) acknowledge_partial_input();
  advance(requests_ != answered ? Progress::request : Progress::none);
}

// The listener turned quick ACKs off (Listener::delay_acks), so the kernel
// waits to send the ACK with the response. A request that came only in part
// is acknowledged now: a client with Nagle's algorithm on holds its next
// small write (the rest of the head, the body) until its last one is
// acknowledged, which the delayed-ACK timer would put off by 40 ms.
void Connection::acknowledge_partial_input() const {
  if (unix_socket_) return;
  const int on = 1;
  static_cast<void>(::setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on));
}

void Connection::on_read_error(ssize_t status) {
  if (status != UV_EOF) {
    spdlog::debug("read failed: {}", uv_strerror(static_cast<int>(status)));
    close(reason_for(status));
    return;
  }
  peer_done_ = true;
  if (output_pending()) {
    stop_reading();  // a half-closed client still gets the responses already produced
    return;
  }
  // Closing takes the descriptor out of the InputSet by itself (close(2)
  // releases its only reference), as every other close does: no
  // EPOLL_CTL_DEL first.
  reading_ = false;
  close(CloseReason::client);
}

void Connection::process(std::string_view data) {
  const Snapshot& snapshot = *loop_.snapshot;
  parser_.set_captures(snapshot.captures);
  const std::size_t used =
      drive_requests(parser_, data, snapshot.request_limits,
                     [this](const ParseEvent& event) { return answer(event); });
  const std::string_view rest = data.substr(used);
  if (phase_ == Phase::finishing) {
    // Bytes after the last request (pipelined ones, or a bad request's rest)
    // are left unread: closing must then linger (see begin_linger).
    if (!rest.empty()) unread_input_ = true;
  } else if (phase_ != Phase::closed && pending_bytes() > kMaxPendingOutput) {
    hold_input(rest);  // parked, and no more reading, until the output drains
  }
  flush();  // closed: drops what the batch still holds
}

// Answers one parse event; false when nothing more is to be parsed from
// this read (the connection ends after this reply, or its output is over
// the bound).
bool Connection::answer(const ParseEvent& event) {
  const bool is_request = event.kind == ParseEvent::Kind::request;
  if (is_request) ++requests_;
#ifdef HELLOD_TEST_HOOKS
  if (is_request && parser_.captured(Field::target) == kThrowingTarget) {
    throw std::runtime_error("test hook: the request path threw");
  }
#endif
  const Snapshot& snapshot = *loop_.snapshot;
  ReplyContext context{requests_, snapshot.config.limits.keepalive_requests, loop_.draining};
  if (is_request) {
    context.route = route_of(snapshot.routes, parser_);
    context.health_failing = loop_.health_failing && snapshot.routes.is_health(context.route);
  }
  const Reply reply = reply_for(event, context, *loop_.responses);
  observe(event, reply);  // before queue(), which may write a full batch
  queue(reply);
  if (is_request) {
    bump(loop_.counters.requests);
  } else if (event.kind == ParseEvent::Kind::error) {
    spdlog::debug("rejecting a malformed request with {}", event.error_status);
    bump(loop_.counters.requests);
    bump(loop_.counters.bad_requests);
    unread_input_ = true;  // the rest of a bad request may still be on its way
  }
  // A full batch's write failed and closed the connection, descriptor and
  // all: the rest of the read is answered to no one. Going on would write
  // into the closed descriptor, and a reply that ends the connection would
  // take it out of Phase::closed and close the descriptor again, by then
  // perhaps another client's.
  if (phase_ == Phase::closed) return false;
  if (reply.close_after) {
    decide_end(event, reply);
    phase_ = Phase::finishing;
  }
  return !reply.close_after && pending_bytes() <= kMaxPendingOutput;
}

// Decides what the connection waits for next, now that this round of input
// and output is done.
void Connection::advance(Progress progress) {
  switch (phase_) {
    case Phase::closed:
    case Phase::lingering:
      return;
    case Phase::finishing:
      if (output_pending()) {
        if (progress == Progress::output || !waiting_for_send()) arm_send_timeout();
      } else {
        finish();
      }
      return;
    default:
      break;
  }
  if (output_pending()) {
    if (phase_ != Phase::writing || progress == Progress::output) {
      phase_ = Phase::writing;
      arm_send_timeout();
    }
    return;
  }
  if (peer_done_) {
    close(CloseReason::client);
    return;
  }
  if (loop_.draining && !parser_.mid_request()) {
    end_reason_ = CloseReason::shutdown;
    finish();
    return;
  }
  advance_while_reading(progress);
}

bool Connection::waiting_for_send() const {
  return loop_.deadlines.waiting_for(*this, Wait::send);
}

// Nothing is left to write: the parser says what the client owes us.
void Connection::advance_while_reading(Progress progress) {
  assert(reading_);  // parked input is replayed before output is done
  if (parser_.in_body()) {
    enter(Phase::body, Wait::header);  // a body may take a while: time out idleness only
  } else if (parser_.mid_request()) {
    if (phase_ != Phase::head) enter(Phase::head, Wait::header);
  } else if (progress != Progress::none || phase_ == Phase::writing) {
    enter(Phase::idle, Wait::keepalive);
    if (pending_ != nullptr && pending_->held_input.empty())
      pending_.reset();  // idle owns no buffer
  }
  // Otherwise only empty lines arrived: they extend no deadline.
}

// The last response is out: a plain close is clean when everything the
// client sent was read; otherwise linger so its bytes get no reset.
void Connection::finish() {
  if (peer_done_ || !unread_input_) {
    close(end_reason_);
  } else {
    begin_linger();
  }
}

void Connection::enter(Phase phase, Wait wait) {
  assert(phase_ != Phase::closed);  // closed is final: see close()
  phase_ = phase;
  loop_.deadlines.wait(*this, wait);
}

}  // namespace hellod

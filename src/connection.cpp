#include "connection.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <exception>
#include <string>

#include "reply.hpp"
#include "worker.hpp"

namespace hellod {
namespace {

// Over this much unsent output a connection stops reading until the client
// catches up, so a client that pipelines without reading costs bounded memory.
constexpr std::size_t kMaxPendingOutput = std::size_t{256} * 1024;
// Buffers gathered for one writev; IOV_MAX is 1024, and a batch this size is
// already far past the point where one more syscall matters.
constexpr std::size_t kMaxBatchBuffers = 128;

uv_buf_t as_buf(std::string_view bytes) {
  return uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
}

}  // namespace

// Output that could not be written at once, and input parked while it
// drains. Allocated only for a connection that has some, so an idle
// keep-alive connection owns no buffer.
struct PendingOutput {
  uv_write_t write_request{};
  uv_shutdown_t shutdown_request{};
  std::string in_flight;  // handed to uv_write: never touched until it completes
  std::string queued;     // responses produced while in_flight is on its way
  std::string held_input;
  bool writing = false;
};

// libuv calls plain C functions; these forward to the Connection in
// handle.data and keep exceptions from crossing into libuv.
struct ConnectionCallbacks {
  static Connection& of(uv_handle_t* handle) { return *static_cast<Connection*>(handle->data); }

  template <typename Body>
  static void guarded(Connection& connection, Body&& body) {
    try {
      body();
    } catch (const std::exception& error) {
      spdlog::error("connection failed: {}", error.what());
      connection.close(CloseReason::error);
    }
  }

  static void on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
    *buf = of(handle).worker_.read_buffer();
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    Connection& connection = of(reinterpret_cast<uv_handle_t*>(stream));
    guarded(connection, [&] {
      if (nread > 0) {
        connection.on_read(std::string_view(buf->base, static_cast<std::size_t>(nread)));
      } else if (nread < 0) {
        connection.on_read_error(nread);
      }
    });
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
    connection->worker_.release(connection);
  }
};

Connection::Connection(Worker& worker) : worker_(worker) {}

Connection::~Connection() = default;

bool Connection::start(uv_stream_t* server, bool unix_socket) {
  const int init = unix_socket ? uv_pipe_init(worker_.loop(), &handle_.pipe, 0)
                               : uv_tcp_init(worker_.loop(), &handle_.tcp);
  if (init < 0) return false;  // nothing to close: the caller frees us
  handle_.handle.data = this;
  int status = uv_accept(server, stream());
  if (status == 0)
    status = uv_read_start(stream(), ConnectionCallbacks::on_alloc, ConnectionCallbacks::on_read);
  if (status < 0) {
    spdlog::debug("accept failed: {}", uv_strerror(status));
    close(CloseReason::error);  // the close callback frees us
    return true;
  }
  reading_ = true;
  parser_.set_capture_target(worker_.access_log() != nullptr);
  // RFC 9112 sets no limit; like h2o and nginx, a silent client is timed out.
  worker_.wait(*this, Wait::header);
  if (!unix_socket) ConnectionCallbacks::guarded(*this, [this] { read_at_once(); });
  return true;
}

// A client usually sends its request right after connecting, so by the time
// hellod accepts, the bytes are there. Reading them now (uv_read_start only
// queued the epoll registration) answers without a round through epoll, and
// a connection that closes after that one response is never registered.
void Connection::read_at_once() {
  uv_os_fd_t fd = -1;
  if (uv_fileno(&handle_.handle, &fd) != 0) return;
  const uv_buf_t buf = worker_.read_buffer();
  const ssize_t nread = ::read(fd, buf.base, buf.len);
  if (nread > 0) {
    on_read(std::string_view(buf.base, static_cast<std::size_t>(nread)));
  } else if (nread == 0) {
    on_read_error(UV_EOF);
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
    on_read_error(-errno);
  }
}

void Connection::close(CloseReason reason) {
  if (closing_) return;
  closing_ = true;
  // Once the last response is queued the connection ends for that reason,
  // whatever closes it (EOF, the linger deadline); a send timeout or a socket
  // error is the more telling cause.
  const bool decided = close_after_output_ || lingering_;
  if (decided && reason != CloseReason::send_timeout && reason != CloseReason::error)
    reason = end_reason_;
  worker_.metrics().count_closed(reason);
  DeadlineList::remove(*this);
  uv_close(&handle_.handle, ConnectionCallbacks::on_close);
}

void Connection::on_deadline(Wait wait) {
  spdlog::debug("closing a connection whose timeout expired");
  switch (wait) {
    case Wait::header:
      close(CloseReason::header_timeout);
      return;
    case Wait::keepalive:
      close(CloseReason::keepalive_timeout);
      return;
    case Wait::send:
      close(CloseReason::send_timeout);
      return;
    case Wait::linger:
      close(end_reason_);  // the linger only delays the close already decided
      return;
  }
}

void Connection::drain() {
  if (closing_ || lingering_) return;
  const bool writing = output_ != nullptr && output_->writing;
  if (!parser_.mid_request() && !writing) close(CloseReason::shutdown);
  // A busy connection finishes its response, which says Connection: close
  // because the worker is draining; after_output() then closes it.
}

void Connection::on_read(std::string_view data) {
  worker_.metrics().count_received(data.size());
  // After the last response, or once our side is shut down, input is only
  // read to notice the client's EOF.
  if (lingering_) return;
  if (close_after_output_) {
    unread_input_ = true;  // closing now would reset the connection
    return;
  }
  const std::uint32_t answered = requests_;
  read_ns_ = uv_hrtime();
  process(data);
  after_output(requests_ != answered);
}

void Connection::on_read_error(ssize_t status) {
  if (status != UV_EOF) {
    spdlog::debug("read failed: {}", uv_strerror(static_cast<int>(status)));
    close(reason_for(status));
    return;
  }
  peer_done_ = true;
  uv_read_stop(stream());
  reading_ = false;
  // A half-closed client still gets the responses already produced.
  if (output_ != nullptr && output_->writing) return;
  close(CloseReason::client);
}

void Connection::process(std::string_view data) {
  const RequestLimits& limits = worker_.request_limits();
  while (!data.empty() && !close_after_output_ && !closing_) {
    const ParseEvent event = parser_.feed(data, limits);
    data.remove_prefix(event.consumed);
    if (!handle_event(event)) break;
    if (pending_bytes() > kMaxPendingOutput) {
      hold_input(data);
      break;
    }
  }
  // Bytes after the last request (pipelined ones, or a bad request's rest)
  // are left unread: closing must then linger (see begin_linger).
  if (close_after_output_ && !data.empty()) unread_input_ = true;
  flush();
}

// Answers one parse event; false when nothing more is to be parsed from
// this read (more input needed, or the connection ends after this reply).
bool Connection::handle_event(const ParseEvent& event) {
  if (event.kind == ParseEvent::Kind::need_more) return false;
  const bool is_request = event.kind == ParseEvent::Kind::request;
  if (is_request) ++requests_;
  const Config& config = worker_.config();
  const Reply reply = reply_for(
      event, ReplyContext{requests_, config.limits.keepalive_requests, worker_.draining()},
      worker_.responses());
  // Counted before queue(), which may hand a full batch to the kernel.
  // Route row 0: "default" until routes exist (the router passes its own).
  if (event.kind != ParseEvent::Kind::send_continue) {
    worker_.metrics().count_status(0, reply.status);
    if (output_ != nullptr && output_->writing) {
      worker_.metrics().observe_durations(uv_hrtime() - read_ns_, 1);
    } else {
      worker_.count_batched();
    }
  }
  queue(reply.bytes);
  end_after_output(event, reply);
  if (event.kind != ParseEvent::Kind::send_continue && worker_.access_log() != nullptr)
    log_access(event, reply);
  if (is_request) {
    after_request(reply);
  } else if (event.kind == ParseEvent::Kind::error) {
    spdlog::debug("rejecting a malformed request with {}", event.error_status);
    worker_.count_request(true);
    unread_input_ = true;  // the rest of a bad request may still be on its way
  }
  return !reply.close_after;
}

void Connection::after_request(const Reply& reply) {
  worker_.count_request(false);
  // A reload may have turned the access log on or off.
  parser_.set_capture_target(worker_.access_log() != nullptr);
  // Set when a connection turns persistent, as nginx does: a later response
  // may then follow one the client has not acknowledged yet, which Nagle's
  // algorithm would hold back; a one-response connection saves the syscall.
  if (!reply.close_after && requests_ == 1 && handle_.handle.type == UV_TCP) {
    uv_tcp_nodelay(&handle_.tcp, 1);
  }
}

void Connection::queue(ResponseBytes bytes) {
  if (output_ != nullptr && output_->writing) {
    // Order matters: behind a write in progress, responses queue as copies.
    output_->queued.append(bytes.head).append(bytes.body);
    return;
  }
  std::vector<uv_buf_t>& batch = worker_.batch();
  batch.push_back(as_buf(bytes.head));
  if (!bytes.body.empty()) batch.push_back(as_buf(bytes.body));
  if (batch.size() >= kMaxBatchBuffers) flush();
}

// One write for everything the last read produced. Only what the socket did
// not take is copied, because the batch points at the worker's response
// bytes, which its Date timer rewrites.
void Connection::flush() {
  std::vector<uv_buf_t>& batch = worker_.batch();
  if (batch.empty() || closing_) {
    batch.clear();
    if (worker_.batched() != 0) worker_.count_batch(uv_hrtime() - read_ns_);
    return;
  }
  const int written = uv_try_write(stream(), batch.data(), static_cast<unsigned>(batch.size()));
  if (worker_.batched() != 0) worker_.count_batch(uv_hrtime() - read_ns_);
  if (written > 0) worker_.metrics().count_sent(static_cast<std::uint64_t>(written));
  if (written < 0 && written != UV_EAGAIN) {
    spdlog::debug("write failed: {}", uv_strerror(written));
    batch.clear();
    close(reason_for(written));
    return;
  }
  std::size_t skip = written > 0 ? static_cast<std::size_t>(written) : 0;
  std::string unsent;
  for (const uv_buf_t& buf : batch) {
    if (skip >= buf.len) {
      skip -= buf.len;
      continue;
    }
    unsent.append(buf.base + skip, buf.len - skip);
    skip = 0;
  }
  batch.clear();
  if (!unsent.empty()) write_tail(unsent);
}

void Connection::write_tail(std::string_view unsent) {
  if (output_ == nullptr) output_ = std::make_unique<PendingOutput>();
  output_->in_flight.assign(unsent);
  output_->write_request.data = this;
  uv_buf_t buf = as_buf(output_->in_flight);
  const int status =
      uv_write(&output_->write_request, stream(), &buf, 1, ConnectionCallbacks::on_write);
  if (status < 0) {
    spdlog::debug("write failed: {}", uv_strerror(status));
    close(reason_for(status));
    return;
  }
  output_->writing = true;
}

void Connection::on_write_done(int status) {
  output_->writing = false;
  if (status == 0) worker_.metrics().count_sent(output_->in_flight.size());
  output_->in_flight.clear();
  if (closing_ || status == UV_ECANCELED) return;
  if (status < 0) {
    spdlog::debug("write failed: {}", uv_strerror(status));
    close(reason_for(status));
    return;
  }
  if (!output_->queued.empty()) {
    std::string next;
    next.swap(output_->queued);
    write_tail(next);
  }
  resume_input();
  after_output();
}

// Decides what the connection waits for next, now that this round of input
// and output is done.
// made_progress: a request was answered or output drained. Input that only
// skips empty lines (RFC 9112 §2.2) is no progress, so it cannot keep a
// connection alive past its deadline.
void Connection::after_output(bool made_progress) {
  if (closing_) return;
  if (output_ != nullptr && output_->writing) {
    worker_.wait(*this, Wait::send);
    return;
  }
  if (peer_done_) {
    close(CloseReason::client);
    return;
  }
  if (close_after_output_ || (worker_.draining() && !parser_.mid_request())) {
    if (unread_input_) {
      begin_linger();
    } else {
      // Everything the client sent was read: a plain close is clean.
      close(close_after_output_ ? end_reason_ : CloseReason::shutdown);
    }
    return;
  }
  if (!reading_) return;  // parked input is replayed by resume_input()
  if (parser_.in_body()) {
    worker_.wait(*this, Wait::header);  // a body may take a while: time out idleness only
  } else if (parser_.mid_request()) {
    if (list() != worker_.wait_list(Wait::header)) worker_.wait(*this, Wait::header);
  } else if (made_progress || list() == worker_.wait_list(Wait::send)) {
    worker_.wait(*this, Wait::keepalive);
    if (output_ != nullptr && output_->held_input.empty()) output_.reset();  // idle owns no buffer
  }
}

// Closing while client bytes are unread makes the kernel answer them with a
// reset, which can destroy the last response in flight. So in that case, like
// nginx's lingering close, shut our side down, read and discard until the
// client closes, and give up after a short while.
void Connection::begin_linger() {
  if (lingering_) return;
  lingering_ = true;
  if (output_ == nullptr) output_ = std::make_unique<PendingOutput>();
  output_->held_input.clear();
  output_->shutdown_request.data = this;
  if (uv_shutdown(&output_->shutdown_request, stream(), ConnectionCallbacks::on_shutdown) < 0) {
    close(CloseReason::error);
    return;
  }
  if (!reading_) {
    reading_ =
        uv_read_start(stream(), ConnectionCallbacks::on_alloc, ConnectionCallbacks::on_read) == 0;
  }
  worker_.wait(*this, Wait::linger);
}

void Connection::hold_input(std::string_view rest) {
  if (!rest.empty()) {
    if (output_ == nullptr) output_ = std::make_unique<PendingOutput>();
    output_->held_input.assign(rest);
  }
  uv_read_stop(stream());
  reading_ = false;
}

// Replays input parked while output was over its bound, then reads again.
void Connection::resume_input() {
  if (reading_ || closing_ || lingering_ || peer_done_ || pending_bytes() > kMaxPendingOutput)
    return;
  std::string held;
  held.swap(output_->held_input);
  if (!held.empty()) {
    process(held);
    if (!reading_ && !output_->held_input.empty()) return;
  }
  if (closing_ || close_after_output_) return;
  if (pending_bytes() > kMaxPendingOutput) return;
  reading_ =
      uv_read_start(stream(), ConnectionCallbacks::on_alloc, ConnectionCallbacks::on_read) == 0;
  if (!reading_) close(CloseReason::error);
}

std::size_t Connection::pending_bytes() const {
  if (output_ == nullptr) return 0;
  return output_->in_flight.size() + output_->queued.size();
}

}  // namespace hellod

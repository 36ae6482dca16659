// SPDX-License-Identifier: MIT
// Connection's output side: the loop's batch and what a slow client has not
// taken yet, the send timeout, input parked while output drains, and the
// lingering close.
#include <spdlog/spdlog.h>

#include <cassert>
#include <string>

#include "connection_internal.hpp"
#include "reply.hpp"

namespace hellod {

void Connection::arm_send_timeout() {
  pending_->unsent_when_armed = uv_stream_get_write_queue_size(stream());
  loop_.deadlines.wait(*this, Wait::send);
}

void Connection::queue(const Reply& reply) {
  const ResponseBytes& bytes = reply.bytes;
  if (output_pending()) {
    // Order matters: behind output in progress, responses queue after it.
    pending_->output.append_copy(bytes.head);
    if (bytes.body_owner != nullptr) pending_->output.append_body(*bytes.body_owner, bytes.body);
    return;
  }
  loop_.batch.add(bytes);
  if (loop_.batch.full()) flush();
}

// One write for everything the last read produced; only what the socket did
// not take is kept, as described in OutputQueue.
void Connection::flush() {
  if (loop_.batch.empty()) return;
  if (phase_ == Phase::closed) {
    loop_.batch.clear();
    loop_.batched = 0;
    return;
  }
  assert(!output_pending());  // behind pending output, responses skip the batch
  const ssize_t written = loop_.batch.try_write(fd_, then_after_flush());
  observe_write(written);
  if (written < 0) {
    loop_.batch.clear();
    spdlog::debug("write failed: {}", uv_strerror(static_cast<int>(written)));
    close(reason_for(written));
    return;
  }
  const auto sent = static_cast<std::size_t>(written);
  if (sent < loop_.batch.bytes()) loop_.batch.move_unsent(sent, pending().output);
  loop_.batch.clear();
  write_pending();
}

// The FIN rides with the last response only when the client asked for the
// close (Connection: close, HTTP/1.0): such a client sends nothing more
// (RFC 9112, 9.6). Bytes arriving between the read and close(2) make the
// kernel answer with a reset, which discards a response still held back;
// a keep-alive client cut off by limits.keepalive_requests, or by a
// drain, may have its next request on the way, so its response leaves at
// once, as before.
OutputBatch::Then Connection::then_after_flush() const {
  const bool client_is_done = phase_ == Phase::finishing && end_reason_ == CloseReason::client;
  return client_is_done ? OutputBatch::Then::fin : OutputBatch::Then::more;
}

void Connection::write_pending() {
  if (!output_pending() || !open_stream()) return;
  const int status = pending_->output.start_write(stream(), ConnectionCallbacks::on_write, this);
  if (status < 0) {
    spdlog::debug("write failed: {}", uv_strerror(status));
    close(reason_for(status));
  }
}

void Connection::on_write_done(int status) {
  if (status == 0) loop_.metrics->count_sent(pending_->output.in_flight_bytes());
  pending_->output.write_done();
  if (phase_ == Phase::closed || status == UV_ECANCELED) return;
  if (status < 0) {
    spdlog::debug("write failed: {}", uv_strerror(status));
    close(reason_for(status));
    return;
  }
  write_pending();
  resume_input();
  advance(Progress::output);
}

// Closing while client bytes are unread makes the kernel answer them with a
// reset, which can destroy the last response in flight. So in that case, like
// nginx's lingering close, shut our side down, read and discard until the
// client closes, and give up after a short while.
void Connection::begin_linger() {
  if (!open_stream()) return;
  Pending& state = pending();
  state.held_input.clear();
  state.shutdown_request.data = this;
  if (uv_shutdown(&state.shutdown_request, stream(), ConnectionCallbacks::on_shutdown) < 0) {
    close(CloseReason::error);
    return;
  }
  if (!reading_ && !start_reading()) return;
  enter(Phase::lingering, Wait::linger);
}

void Connection::hold_input(std::string_view rest) {
  pending().held_input.assign(rest);
  stop_reading();
}

// Replays input parked while output was over its bound, then reads again.
void Connection::resume_input() {
  const auto parked = [this] {
    return reading_ || peer_done_ || pending_bytes() > kMaxPendingOutput ||
           phase_ == Phase::closed || phase_ == Phase::lingering || phase_ == Phase::finishing;
  };
  if (parked()) return;
  std::string held;
  held.swap(pending_->held_input);
  if (!held.empty()) process(held);  // may answer more, and park the rest again
  if (!parked()) start_reading();
}

// An attached connection's input is watched in the worker's InputSet, not
// by libuv (see InputSet); its descriptor leaves the set when libuv closes
// it, so close() has nothing to undo there.
bool Connection::start_reading() {
  if (!attached_) {
    reading_ = true;  // attach() starts it
    return true;
  }
  assert(!reading_);
  const int status = loop_.inputs.add(fd_, this);
  reading_ = status == 0;
  if (!reading_) {
    spdlog::debug("read start failed: {}", uv_strerror(status));
    close(CloseReason::error);
  }
  return reading_;
}

void Connection::stop_reading() {
  if (!reading_) return;
  if (attached_) loop_.inputs.remove(fd_);
  reading_ = false;
}

Connection::Pending& Connection::pending() {
  if (pending_ == nullptr) pending_ = std::make_unique<Pending>();
  return *pending_;
}

bool Connection::output_pending() const {
  return pending_ != nullptr && !pending_->output.empty();
}

std::size_t Connection::pending_bytes() const {
  return pending_ != nullptr ? pending_->output.pending_bytes() : 0;
}

}  // namespace hellod

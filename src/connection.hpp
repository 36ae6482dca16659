// SPDX-License-Identifier: MIT
#pragma once

#include <uv.h>

#include <cassert>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "deadline_list.hpp"
#include "loop_context.hpp"
#include "metrics.hpp"
#include "request_parser.hpp"

namespace hellod {

struct Reply;

// One client's state machine: read into the loop's buffer, parse, answer
// every complete request in one write, and close on error, timeout or when
// the client or the limits say so. Idle, it owns no buffer at all.
//
// A new connection starts on its bare descriptor: a client whose request is
// already there is answered with recv(2) and sendmsg(2), and one that then
// closes is closed with close(2), never registered anywhere (no epoll_ctl).
// That is the shape of a health check or an HTTP/1.0 client: four system
// calls with accept4. Only a connection that must wait, for input or for
// the socket to take output, is attached (attach()): a libuv handle, whose
// close callback frees it, and the descriptor in the worker's InputSet while
// input is wanted, read with the same recv(2) when reported (on_input()).
// The handle gets the descriptor itself (open_stream()) only for a write
// that waits or a shutdown.
//
// Lifetime: created by its owner on accept. One that ends within start()
// is freed by the owner right after (start() says so); any other only in its
// handle's close callback via ConnectionOwner::release, never earlier.
class Connection : public DeadlineEntry {
 public:
  explicit Connection(LoopContext& loop);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Serves the accepted client on fd, which it owns from now on. True when
  // the connection has already ended (its descriptor closed, never attached
  // to the loop): the caller frees it now. Otherwise it is attached and
  // waiting, or closing through libuv, and its close callback frees it.
  [[nodiscard]] bool start(int fd, bool unix_socket);

  // Idempotent: stops reading and closes the socket; the close callback
  // releases the connection from its owner. reason is counted in
  // hellod_connections_closed_total, unless the connection had already
  // decided to end for another (its last response is queued).
  void close(CloseReason reason);

  // The deadline of the current wait passed (called by Deadlines).
  void on_deadline();

  // The socket has input (or EOF, or an error) while the connection reads
  // (InputSet); peer_shut: the client's FIN has arrived (EPOLLRDHUP), maybe
  // behind input. Ignored once closed.
  void on_input(bool peer_shut);

  // Graceful shutdown: an idle connection closes now, a busy one after the
  // response in progress (which then says Connection: close), and so does
  // one whose request is waiting to be read; one that has sent nothing since
  // it was accepted gets a short grace for its first request.
  void drain();

  [[nodiscard]] bool closing() const { return phase_ == Phase::closed; }

 private:
  friend struct ConnectionCallbacks;

  // Where the connection is; each phase but closed has exactly one wait.
  enum class Phase : unsigned char {
    head,       // a request's head is due or arriving: header timeout
    body,       // its body is arriving: header timeout, restarted as bytes come
    idle,       // between requests: keepalive timeout
    writing,    // output the socket did not take is pending: send timeout
    finishing,  // the connection's last response is pending or just sent: send timeout
    lingering,  // our side is shut down, input is read and dropped: linger timeout
    closed,     // uv_close was called; the close callback frees the connection
  };
  // What the event that just ended achieved, for the timeouts: a request
  // answered or output written restarts them, empty lines do not.
  enum class Progress : unsigned char { none, request, output };

  struct Pending;

  void read_input();
  bool attach();
  bool open_stream();
  void on_read(std::string_view data);
  void on_read_error(ssize_t status);
  void acknowledge_partial_input() const;
  void on_write_done(int status);
  void process(std::string_view data);
  bool answer(const ParseEvent& event);
  void queue(const Reply& reply);
  // Metrics and access-log wiring (connection_observe.cpp).
  void observe(const ParseEvent& event, const Reply& reply);
  void decide_end(const ParseEvent& event, const Reply& reply);
  void log_access(const ParseEvent& event, const Reply& reply);
  void observe_write(ssize_t written);
  [[nodiscard]] CloseReason timeout_reason() const;
  [[nodiscard]] static CloseReason reason_for(ssize_t uv_status);
  void flush();
  [[nodiscard]] OutputBatch::Then then_after_flush() const;
  void write_pending();
  void advance(Progress progress);
  void advance_while_reading(Progress progress);
  void finish();
  void enter(Phase phase, Wait wait);
  void arm_send_timeout();
  void begin_linger();
  void hold_input(std::string_view rest);
  void resume_input();
  bool start_reading();
  void stop_reading();
  Pending& pending();
  [[nodiscard]] bool waiting_for_send() const;
  [[nodiscard]] bool output_pending() const;
  [[nodiscard]] bool input_waiting();
  [[nodiscard]] std::size_t pending_bytes() const;
  [[nodiscard]] uv_stream_t* stream() {
    assert(attached_);  // only an attached connection has a libuv stream
    return &handle_.stream;
  }

  union Handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  };

  Handle handle_{};
  RequestParser parser_;
  LoopContext& loop_;
  std::unique_ptr<Pending> pending_;  // only while output or parked input exists
  std::uint32_t requests_ = 0;
  int fd_ = -1;                // the client's socket; the handle's own once opened
  std::uint64_t read_ns_ = 0;  // monotonic_ns() of the read that brought the current input
  Phase phase_ = Phase::head;
  CloseReason end_reason_ = CloseReason::client;  // why the last response is the last
  bool reading_ = false;      // input is wanted (fd_ is in the InputSet, once attached)
  bool attached_ = false;     // handle_ is a libuv handle
  bool stream_open_ = false;  // handle_ has fd_ (open_stream()): libuv closes it
  bool unix_socket_ = false;
  bool peer_done_ = false;     // the client sent EOF
  bool unread_input_ = false;  // client bytes were left unparsed: closing must linger
};

}  // namespace hellod

#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "deadline_list.hpp"
#include "metrics.hpp"
#include "request_parser.hpp"
#include "response.hpp"

namespace hellod {

class Worker;
struct PendingOutput;
struct Reply;

// What a connection is waiting for; each has its own timeout and its own
// DeadlineList in the worker.
enum class Wait : unsigned char { header, keepalive, send, linger };
inline constexpr std::size_t kWaitKinds = 4;

// One client's state machine: read into the worker's buffer, parse, answer
// every complete request in one write, and close on error, timeout or when
// the client or the limits say so. Idle, it owns no buffer at all.
//
// Lifetime (DESIGN.md): created by Worker on accept, freed only in the
// handle's close callback via Worker::release, never earlier.
class Connection : public DeadlineEntry {
 public:
  explicit Connection(Worker& worker);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Accepts the pending client of server and starts reading. On failure the
  // connection closes itself and false is returned.
  bool start(uv_stream_t* server, bool unix_socket);

  // Idempotent: stops reading and closes the socket; the close callback
  // releases the connection from its worker. reason is counted in
  // hellod_connections_closed_total, unless the connection had already
  // decided to end for another (after its last response).
  void close(CloseReason reason);

  // Called by the worker when the deadline of the given wait passed.
  void on_deadline(Wait wait);

  // Graceful shutdown: an idle connection closes now, a busy one after the
  // response in progress (which then says Connection: close).
  void drain();

  [[nodiscard]] bool closing() const { return closing_; }

  // Test-only window into the per-connection state.
  [[nodiscard]] bool owns_output() const { return output_ != nullptr; }

 private:
  friend struct ConnectionCallbacks;

  void read_at_once();
  void on_read(std::string_view data);
  void on_read_error(ssize_t status);
  void on_write_done(int status);
  void process(std::string_view data);
  bool handle_event(const ParseEvent& event);
  void after_request(const Reply& reply);
  // Metrics and access-log wiring (connection_observe.cpp).
  void end_after_output(const ParseEvent& event, const Reply& reply);
  void log_access(const ParseEvent& event, const Reply& reply);
  [[nodiscard]] static CloseReason reason_for(ssize_t uv_status);
  void queue(ResponseBytes bytes);
  void flush();
  void write_tail(std::string_view unsent);
  void after_output(bool made_progress = true);
  void begin_linger();
  void wait_for(Wait wait);
  void hold_input(std::string_view rest);
  void resume_input();
  [[nodiscard]] std::size_t pending_bytes() const;
  [[nodiscard]] uv_stream_t* stream() { return &handle_.stream; }

  union Handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  };

  Handle handle_{};
  RequestParser parser_;
  Worker& worker_;
  std::unique_ptr<PendingOutput> output_;
  std::uint32_t requests_ = 0;
  std::uint64_t read_ns_ = 0;  // uv_hrtime() of the read that brought the current input
  CloseReason end_reason_ = CloseReason::client;  // why close_after_output_ was set
  bool closing_ = false;                          // uv_close was called
  bool close_after_output_ = false;               // the last response is queued
  bool lingering_ = false;                        // our side is shut down; discarding input
  bool peer_done_ = false;                        // the client sent EOF
  bool unread_input_ = false;                     // input arrived after the last request
  bool reading_ = false;
};

}  // namespace hellod

// SPDX-License-Identifier: MIT
#include "metrics_listener.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <exception>

#include "metrics_http.hpp"
#include "request_parser.hpp"

namespace hellod {
namespace {

// Scrapers are a handful of Prometheus servers and curious operators.
constexpr std::size_t kMaxConnections = 16;
constexpr std::uint64_t kIdleTimeoutMs = 30'000;
// Over this much unsent output the connection stops reading until it drains.
constexpr std::size_t kMaxPendingOutput = std::size_t{1} << 20;
constexpr int kBacklog = 128;
constexpr RequestLimits kRequestLimits{8192, 65536};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// The only code here that knows the request parser: what the listener
// needs of a request is its framing (ParseEvent), method and target.
class RequestReader {
 public:
  RequestReader() { parser_.set_captures(static_cast<FieldMask>(field_bit(Field::target))); }
  ParseEvent feed(std::string_view data) { return parser_.feed(data, kRequestLimits); }
  [[nodiscard]] std::string_view method() const { return parser_.method(); }
  [[nodiscard]] std::string_view target() const { return parser_.captured(Field::target); }

 private:
  RequestParser parser_;
};

union StreamHandle {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
};

class Connection;

struct Socket {
  StreamHandle handle{};
  MetricsListener::Server* server = nullptr;
  std::string name;
  bool unix_socket = false;
};

}  // namespace

struct MetricsListener::Server {
  Server(uv_loop_t* server_loop, Render renderer)
      : loop(server_loop), render(std::move(renderer)) {}

  uv_loop_t* loop;
  Render render;
  std::string path = "/metrics";
  std::vector<Socket*> sockets;
  std::vector<Socket*> waiting;  // at capacity: a client waits to be accepted here
  std::vector<Connection*> connections;
  std::array<char, 16384> read_buffer{};
  std::size_t open_handles = 0;  // the Server is freed with the last one once orphaned
  bool closing = false;
  bool orphaned = false;

  void accept_from(Socket& socket);
  void accept_waiting();
  void close_socket(Socket* socket);
  void handle_closed();
};

namespace {

class Connection {
 public:
  explicit Connection(MetricsListener::Server& server) : server_(server) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() = default;

  bool start(Socket& socket);
  void close();

  static Connection& of(void* handle) {
    return *static_cast<Connection*>(static_cast<uv_handle_t*>(handle)->data);
  }
  static void on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
    auto& buffer = of(handle).server_.read_buffer;
    *buf = uv_buf_init(buffer.data(), static_cast<unsigned>(buffer.size()));
  }
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    Connection& self = of(stream);
    guarded(self, [&] {
      if (nread > 0) {
        self.on_data(std::string_view(buf->base, static_cast<std::size_t>(nread)));
      } else if (nread < 0) {
        self.on_end(nread);
      }
    });
  }
  static void on_write(uv_write_t* request, int status) {
    auto& self = *static_cast<Connection*>(request->data);
    guarded(self, [&] { self.on_written(status); });
  }
  static void on_timeout(uv_timer_t* timer) { of(timer).close(); }
  static void on_closed(uv_handle_t* handle) {
    Connection* self = &of(handle);
    if (--self->open_handles_ > 0) return;
    MetricsListener::Server& server = self->server_;
    std::erase(server.connections, self);
    delete self;
    server.handle_closed();
    server.accept_waiting();
  }

 private:
  template <typename Body>
  static void guarded(Connection& self, Body&& body) {
    try {
      body();
    } catch (const std::exception& error) {
      spdlog::error("metrics connection failed: {}", error.what());
      self.close();
    }
  }

  void on_data(std::string_view data);
  void on_end(ssize_t status);
  void on_written(int status);
  void process(std::string_view data);
  void answer(const ParseEvent& event);
  void flush();
  void stop_reading();

  MetricsListener::Server& server_;
  StreamHandle handle_{};
  uv_timer_t timer_{};
  uv_write_t write_request_{};
  RequestReader reader_;
  std::string in_flight_;  // handed to uv_write: untouched until it completes
  std::string pending_;
  std::string held_;  // input parked while output is over its bound
  int open_handles_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool close_after_ = false;
  bool closing_ = false;
};

bool Connection::start(Socket& socket) {
  const int init = socket.unix_socket ? uv_pipe_init(server_.loop, &handle_.pipe, 0)
                                      : uv_tcp_init(server_.loop, &handle_.tcp);
  if (init < 0) return false;  // nothing to close: the caller frees us
  // uv_timer_init only fills in the struct and always returns 0.
  static_cast<void>(uv_timer_init(server_.loop, &timer_));
  open_handles_ = 2;
  server_.open_handles += 2;
  handle_.handle.data = timer_.data = this;
  int status = uv_accept(&socket.handle.stream, &handle_.stream);
  if (status == 0) status = uv_read_start(&handle_.stream, on_alloc, on_read);
  if (status == 0) status = uv_timer_start(&timer_, on_timeout, kIdleTimeoutMs, 0);
  reading_ = status == 0;
  if (status < 0) close();
  return true;
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  uv_close(&handle_.handle, on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
}

void Connection::on_data(std::string_view data) {
  uv_timer_again(&timer_);
  if (close_after_) return;  // the last response is on its way; the rest is ignored
  process(data);
}

void Connection::on_end(ssize_t status) {
  if (status != UV_EOF || (!writing_ && pending_.empty())) {
    close();
    return;
  }
  close_after_ = true;  // a half-closed client still gets its answers
  stop_reading();
}

void Connection::process(std::string_view data) {
  while (!data.empty() && !close_after_) {
    const ParseEvent event = reader_.feed(data);
    data.remove_prefix(event.consumed);
    if (event.kind == ParseEvent::Kind::need_more) break;
    if (event.kind == ParseEvent::Kind::send_continue) {
      pending_ += kContinue;  // RFC 9110 §10.1.1; the answer follows the body
    } else if (event.kind == ParseEvent::Kind::error) {
      pending_ += metrics_error_reply(event.error_status);
      close_after_ = true;
    } else {
      answer(event);
    }
    if (pending_.size() > kMaxPendingOutput) {
      held_.assign(data);
      stop_reading();
      break;
    }
  }
  flush();
}

void Connection::answer(const ParseEvent& event) {
  const bool close = !event.keep_alive || server_.closing;
  const MetricsAnswer choice =
      choose_metrics_answer(reader_.method(), reader_.target(), server_.path);
  pending_ +=
      metrics_reply(choice, event.head, close, event.http10 && !close, server_.render).bytes;
  close_after_ = close;
}

void Connection::flush() {
  if (writing_ || closing_) return;
  if (pending_.empty()) {
    if (close_after_) close();
    return;
  }
  in_flight_.swap(pending_);
  pending_.clear();
  write_request_.data = this;
  uv_buf_t buf = uv_buf_init(in_flight_.data(), static_cast<unsigned>(in_flight_.size()));
  if (uv_write(&write_request_, &handle_.stream, &buf, 1, on_write) < 0) {
    close();
    return;
  }
  writing_ = true;
}

void Connection::on_written(int status) {
  writing_ = false;
  in_flight_.clear();
  if (closing_ || status == UV_ECANCELED) return;
  if (status < 0) {
    close();
    return;
  }
  uv_timer_again(&timer_);
  if (!held_.empty() && pending_.size() <= kMaxPendingOutput) {
    std::string held;
    held.swap(held_);
    process(held);
  } else {
    flush();
  }
  if (!closing_ && !reading_ && !close_after_ && held_.empty()) {
    reading_ = uv_read_start(&handle_.stream, on_alloc, on_read) == 0;
    if (!reading_) close();
  }
}

void Connection::stop_reading() {
  if (reading_) uv_read_stop(&handle_.stream);
  reading_ = false;
}

void on_socket_closed(uv_handle_t* handle) {
  auto* socket = static_cast<Socket*>(handle->data);
  MetricsListener::Server* server = socket->server;
  delete socket;
  server->handle_closed();
}

void on_connection(uv_stream_t* stream, int status) {
  auto* socket = static_cast<Socket*>(stream->data);
  if (status < 0) {
    spdlog::warn("metrics: accepting on {} failed: {}", socket->name, uv_strerror(status));
    return;
  }
  try {
    socket->server->accept_from(*socket);
  } catch (const std::exception& error) {
    spdlog::error("metrics: accepting on {} failed: {}", socket->name, error.what());
  }
}

}  // namespace

void MetricsListener::Server::accept_from(Socket& socket) {
  if (connections.size() >= kMaxConnections) {
    // Not accepting makes libuv stop watching the socket; the client waits
    // in the backlog until a connection closes (accept_waiting).
    if (std::find(waiting.begin(), waiting.end(), &socket) == waiting.end())
      waiting.push_back(&socket);
    return;
  }
  auto* connection = new Connection(*this);
  if (!connection->start(socket)) {
    delete connection;
    return;
  }
  connections.push_back(connection);
}

void MetricsListener::Server::accept_waiting() {
  while (!closing && !waiting.empty() && connections.size() < kMaxConnections) {
    Socket* socket = waiting.back();
    waiting.pop_back();
    accept_from(*socket);
  }
}

void MetricsListener::Server::close_socket(Socket* socket) {
  std::erase(sockets, socket);
  std::erase(waiting, socket);
  uv_close(&socket->handle.handle, on_socket_closed);
}

void MetricsListener::Server::handle_closed() {
  assert(open_handles > 0);
  if (--open_handles == 0 && orphaned) delete this;
}

MetricsListener::MetricsListener(uv_loop_t* loop, Render render)
    : server_(new Server(loop, std::move(render))) {}

MetricsListener::~MetricsListener() {
  close();
  // Handles still closing free the Server from their close callbacks.
  if (server_->open_handles == 0) {
    delete server_;
  } else {
    server_->orphaned = true;
  }
}

void MetricsListener::set_path(std::string path) {
  server_->path = std::move(path);
}

Status MetricsListener::add(ListenSocket socket) {
  auto* entry = new Socket{{}, server_, socket.name, socket.unix_socket};
  const int init = socket.unix_socket ? uv_pipe_init(server_->loop, &entry->handle.pipe, 0)
                                      : uv_tcp_init(server_->loop, &entry->handle.tcp);
  if (init < 0) {
    delete entry;  // socket.fd closes with socket
    return Error{fmt::format("metrics: {}: {}", socket.name, uv_strerror(init))};
  }
  entry->handle.handle.data = entry;
  ++server_->open_handles;
  server_->sockets.push_back(entry);
  int status = socket.unix_socket ? uv_pipe_open(&entry->handle.pipe, socket.fd.get())
                                  : uv_tcp_open(&entry->handle.tcp, socket.fd.get());
  if (status == 0) static_cast<void>(socket.fd.release());  // the handle owns it now
  if (status == 0) status = uv_listen(&entry->handle.stream, kBacklog, on_connection);
  if (status < 0) {
    server_->close_socket(entry);
    return Error{fmt::format("metrics: cannot listen on {}: {}", socket.name, uv_strerror(status)),
                 -status};
  }
  return Done{};
}

void MetricsListener::remove(const std::vector<std::string>& names) {
  const std::vector<Socket*> current = server_->sockets;
  for (Socket* socket : current) {
    if (std::find(names.begin(), names.end(), socket->name) != names.end())
      server_->close_socket(socket);
  }
}

std::vector<std::string> MetricsListener::names() const {
  std::vector<std::string> names;
  for (const Socket* socket : server_->sockets) names.push_back(socket->name);
  return names;
}

void MetricsListener::close() {
  if (server_->closing) return;
  server_->closing = true;
  const std::vector<Socket*> sockets = server_->sockets;
  for (Socket* socket : sockets) server_->close_socket(socket);
  const std::vector<Connection*> connections = server_->connections;
  for (Connection* connection : connections) connection->close();
}

}  // namespace hellod

// SPDX-License-Identifier: MIT
// Counts the heap allocations a hellod worker makes per request in steady
// state (issue 5: "steady state allocates nothing per request").
//
// Every malloc/calloc/realloc (operator new goes through malloc) made by any
// thread but the client's is counted. A real Worker serves one loopback
// keep-alive connection from a client thread: after a warm-up, the client
// sends --requests requests one at a time, then the same number again in
// pipelined batches of --depth, and the allocations made in each window are
// divided by the requests answered in it. Then, with that connection closed,
// it opens a new connection per request (--connections times after a
// warm-up of a tenth as many), each sending one request with
// "Connection: close" and reading until the server closes; the allocations in
// that window, counted once the worker has released every connection, are
// divided by the connections.
//
// Usage: hellod_alloc_count [--requests N] [--warmup N] [--depth D] [--connections N]
// Prints a human-readable summary and one JSON line starting with "{".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <thread>

#include "config.hpp"
#include "listeners.hpp"
#include "worker.hpp"

// glibc's own allocator entry points, which the overrides below forward to.
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* pointer, std::size_t size);
void __libc_free(void* pointer);
}

namespace {

std::atomic<std::uint64_t> g_allocations{0};
std::atomic<std::uint64_t> g_allocated_bytes{0};
// The client thread's own allocations are not the server's; a trivially
// constructed thread_local needs no allocation itself.
thread_local bool t_not_counted = false;

void count(std::size_t size) {
  if (t_not_counted) return;
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_allocated_bytes.fetch_add(size, std::memory_order_relaxed);
}

}  // namespace

extern "C" {
void* malloc(std::size_t size) noexcept {
  count(size);
  return __libc_malloc(size);
}
void* calloc(std::size_t count_of, std::size_t size) noexcept {
  count(count_of * size);
  return __libc_calloc(count_of, size);
}
void* realloc(void* pointer, std::size_t size) noexcept {
  count(size);
  return __libc_realloc(pointer, size);
}
void free(void* pointer) noexcept {
  __libc_free(pointer);
}
}

namespace {

constexpr std::string_view kRequest =
    "GET /p1 HTTP/1.1\r\nHost: bench\r\nUser-Agent: hellod-alloc-count\r\nAccept: */*\r\n\r\n";
constexpr std::string_view kCloseRequest =
    "GET /p1 HTTP/1.1\r\nHost: bench\r\nUser-Agent: hellod-alloc-count\r\nAccept: */*\r\n"
    "Connection: close\r\n\r\n";
constexpr std::size_t kMaxDepth = 64;
// How long the worker may take to release the connections of a window.
constexpr auto kReleaseTimeout = std::chrono::seconds(30);

struct Options {
  std::uint64_t requests = 100'000;
  std::uint64_t warmup = 10'000;
  std::size_t depth = 16;
  std::uint64_t connections = 20'000;
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "alloc_count: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

// A blocking keep-alive client that reads whole responses without touching
// the heap: a fixed buffer and Content-Length framing.
int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0)
    die("connect");
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  return fd;
}

// One connection, one request with "Connection: close", read until the
// server closes (RFC 9112 section 9.6); the response must be whole.
void one_shot(std::uint16_t port) {
  const int fd = connect_loopback(port);
  if (::send(fd, kCloseRequest.data(), kCloseRequest.size(), 0) !=
      static_cast<ssize_t>(kCloseRequest.size()))
    die("send");
  char buffer[4096];
  std::size_t used = 0;
  for (;;) {
    const ssize_t got = ::recv(fd, buffer + used, sizeof(buffer) - used, 0);
    if (got < 0) die("recv");
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
    if (used == sizeof(buffer)) die("response larger than expected");
  }
  ::close(fd);
  if (std::string_view(buffer, used).find("\r\n\r\nHello") == std::string_view::npos) {
    std::fprintf(stderr, "alloc_count: no whole response before the close\n");
    std::exit(2);
  }
}

class Client {
 public:
  explicit Client(std::uint16_t port) : fd_(connect_loopback(port)) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { ::close(fd_); }

  // Sends depth requests in one write and reads depth responses.
  void round_trip(std::size_t depth) {
    const std::size_t length = kRequest.size() * depth;
    for (std::size_t i = 0; i < depth; ++i)
      std::memcpy(batch_ + i * kRequest.size(), kRequest.data(), kRequest.size());
    if (::send(fd_, batch_, length, 0) != static_cast<ssize_t>(length)) die("send");
    for (std::size_t i = 0; i < depth; ++i) read_response();
  }

 private:
  void read_response() {
    for (;;) {
      const std::size_t size = frame_size();
      if (size != 0) {
        std::memmove(buffer_, buffer_ + size, used_ - size);
        used_ -= size;
        return;
      }
      const ssize_t got = ::recv(fd_, buffer_ + used_, sizeof(buffer_) - used_, 0);
      if (got <= 0) die("recv (server closed?)");
      used_ += static_cast<std::size_t>(got);
    }
  }

  // The size of the first complete response in the buffer, or 0.
  [[nodiscard]] std::size_t frame_size() const {
    const std::string_view data(buffer_, used_);
    const std::size_t head_end = data.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return 0;
    const std::string_view head = data.substr(0, head_end);
    const std::size_t field = head.find("Content-Length: ");
    if (field == std::string_view::npos) die("response without Content-Length");
    const std::size_t body = std::strtoull(head.data() + field + 16, nullptr, 10);
    const std::size_t total = head_end + 4 + body;
    return total <= used_ ? total : 0;
  }

  int fd_ = -1;
  char batch_[kRequest.size() * kMaxDepth]{};
  char buffer_[64 * 1024]{};
  std::size_t used_ = 0;
};

struct Window {
  std::uint64_t requests = 0;
  std::uint64_t allocations = 0;
  std::uint64_t bytes = 0;
};

// Runs `batches` round trips of `depth` requests; returns what the server
// allocated meanwhile.
Window measure(Client& client, std::uint64_t batches, std::size_t depth) {
  const std::uint64_t allocations = g_allocations.load();
  const std::uint64_t bytes = g_allocated_bytes.load();
  for (std::uint64_t i = 0; i < batches; ++i) client.round_trip(depth);
  return Window{batches * depth, g_allocations.load() - allocations,
                g_allocated_bytes.load() - bytes};
}

double per_request(std::uint64_t value, const Window& window) {
  return static_cast<double>(value) / static_cast<double>(window.requests);
}

// Waits until the worker has accepted `accepted` connections in all and
// released every one of them, so a window's allocations are all counted.
void wait_released(const hellod::Worker& worker, std::uint64_t accepted) {
  const auto deadline = std::chrono::steady_clock::now() + kReleaseTimeout;
  while (worker.counters().accepted.load() < accepted || worker.counters().open.load() != 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "alloc_count: the worker did not release its connections\n");
      std::exit(2);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// `connections` one-shot connections; returns what the server allocated for
// them, counted once the worker has released them all.
Window measure_one_shots(const hellod::Worker& worker, std::uint16_t port,
                         std::uint64_t connections) {
  wait_released(worker, worker.counters().accepted.load());
  const std::uint64_t first = worker.counters().accepted.load();
  const std::uint64_t allocations = g_allocations.load();
  const std::uint64_t bytes = g_allocated_bytes.load();
  for (std::uint64_t i = 0; i < connections; ++i) one_shot(port);
  wait_released(worker, first + connections);
  return Window{connections, g_allocations.load() - allocations, g_allocated_bytes.load() - bytes};
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view name = argv[i];
    const std::uint64_t value = std::strtoull(argv[i + 1], nullptr, 10);
    if (name == "--requests") {
      options.requests = value;
    } else if (name == "--warmup") {
      options.warmup = value;
    } else if (name == "--depth" && value >= 1 && value <= kMaxDepth) {
      options.depth = value;
    } else if (name == "--connections" && value >= 10) {
      options.connections = value;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--requests N] [--warmup N] [--depth 1..64] [--connections N>=10]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  return options;
}

hellod::Config bench_config() {
  hellod::Config config;
  config.listen = {hellod::ListenAddress{hellod::ListenAddress::Kind::tcp4, "127.0.0.1", 0, {}}};
  config.limits.keepalive_requests = 1'000'000'000;
  config.log.level = hellod::LogLevel::warn;
  return config;
}

std::uint16_t bound_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) die("getsockname");
  return ntohs(address.sin_port);
}

struct Results {
  std::uint64_t warmup_allocations = 0;  // proves the hook counts: accept allocates
  Window keepalive;
  Window pipelined;
  Window one_shot;  // requests = connections
};

// The client thread: warm up, then one keep-alive window and one pipelined
// one on a connection; then a warm-up and a window of one-shot connections.
Results drive(const hellod::Worker& worker, std::uint16_t port, const Options& options) {
  t_not_counted = true;
  Results results;
  {
    const std::uint64_t before_connect = g_allocations.load();
    Client client(port);
    measure(client, options.warmup, 1);
    measure(client, options.warmup / options.depth + 1, options.depth);
    results.warmup_allocations = g_allocations.load() - before_connect;
    results.keepalive = measure(client, options.requests, 1);
    results.pipelined = measure(client, options.requests / options.depth, options.depth);
  }
  measure_one_shots(worker, port, options.connections / 10);
  results.one_shot = measure_one_shots(worker, port, options.connections);
  return results;
}

unsigned long long as_ull(std::uint64_t value) {
  return static_cast<unsigned long long>(value);
}

// One JSON object on one line, for bench/bench.py.
void print_json(const Results& results, std::size_t depth) {
  const Window& ka = results.keepalive;
  const Window& pl = results.pipelined;
  std::printf("{\"warmup_allocations\": %llu, ", as_ull(results.warmup_allocations));
  std::printf("\"keepalive_requests\": %llu, \"keepalive_allocations\": %llu, ",
              as_ull(ka.requests), as_ull(ka.allocations));
  std::printf("\"keepalive_allocs_per_request\": %.6f, \"keepalive_bytes_per_request\": %.3f, ",
              per_request(ka.allocations, ka), per_request(ka.bytes, ka));
  std::printf("\"pipeline_depth\": %zu, \"pipelined_requests\": %llu, ", depth,
              as_ull(pl.requests));
  std::printf("\"pipelined_allocations\": %llu, \"pipelined_allocs_per_request\": %.6f, ",
              as_ull(pl.allocations), per_request(pl.allocations, pl));
  std::printf("\"pipelined_bytes_per_request\": %.3f, ", per_request(pl.bytes, pl));
  const Window& os = results.one_shot;
  std::printf("\"close_connections\": %llu, \"close_allocations\": %llu, ", as_ull(os.requests),
              as_ull(os.allocations));
  std::printf("\"close_allocs_per_connection\": %.6f, \"close_bytes_per_connection\": %.3f, ",
              per_request(os.allocations, os), per_request(os.bytes, os));
  // What an idle connection costs before malloc's overhead: its RSS share.
  std::printf("\"connection_object_bytes\": %zu}\n", sizeof(hellod::Connection));
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  hellod::Config config = bench_config();
  hellod::Result<hellod::WorkerSockets> sockets = hellod::bind_listeners(config.listen, 1);
  if (!sockets) {
    std::fprintf(stderr, "alloc_count: %s\n", sockets.error().message.c_str());
    return 2;
  }
  const std::uint16_t port = bound_port(sockets.value().front().front().fd.get());
  auto snapshot = std::make_shared<const hellod::Snapshot>(std::move(config));
  hellod::Worker worker(0, 1, snapshot);
  hellod::Status started = worker.start(std::move(sockets.value().front()), [] {});
  if (!started) {
    std::fprintf(stderr, "alloc_count: %s\n", started.error().message.c_str());
    return 2;
  }
  Results results;
  std::thread client([&] { results = drive(worker, port, options); });
  client.join();
  worker.post([](hellod::Worker& self) { self.drain(); });
  worker.join();

  const Window& ka = results.keepalive;
  const Window& pl = results.pipelined;
  if (results.warmup_allocations == 0) {
    std::fprintf(stderr, "alloc_count: the allocation hook counted nothing; is it linked?\n");
    return 2;
  }
  std::printf("connect and warm-up: %llu allocations\n",
              static_cast<unsigned long long>(results.warmup_allocations));
  std::printf("keep-alive: %llu requests, %llu allocations (%.4f per request, %.1f bytes)\n",
              static_cast<unsigned long long>(ka.requests),
              static_cast<unsigned long long>(ka.allocations), per_request(ka.allocations, ka),
              per_request(ka.bytes, ka));
  std::printf("pipelined x%zu: %llu requests, %llu allocations (%.4f per request, %.1f bytes)\n",
              options.depth, static_cast<unsigned long long>(pl.requests),
              static_cast<unsigned long long>(pl.allocations), per_request(pl.allocations, pl),
              per_request(pl.bytes, pl));
  const Window& os = results.one_shot;
  std::printf("one-shot: %llu connections, %llu allocations (%.4f per connection, %.1f bytes)\n",
              static_cast<unsigned long long>(os.requests),
              static_cast<unsigned long long>(os.allocations), per_request(os.allocations, os),
              per_request(os.bytes, os));
  print_json(results, options.depth);
  return 0;
}

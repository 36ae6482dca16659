// SPDX-License-Identifier: MIT
// The benchmark's floor: a server that does no HTTP work. It answers every
// request head it reads ("\r\n\r\n") with the same bytes, the ones hellod
// sent for the benchmark's request, read from a file. Its loop is hellod's
// shape (one thread, one epoll set, edge-triggered connections, accept4
// until EAGAIN, recv and send), so side by side against nginx it shows how
// many keep-alive requests per CPU-second a server can do on this machine
// when the kernel's loopback TCP work is all it pays for; against it,
// hellod's ratio is what hellod's own work costs (bench.py run_floor_pairs).
//
// Usage: hellod_bench_floor RESPONSE_FILE
// Listens on 127.0.0.1, a port the kernel picks, and prints
// "listening on 127.0.0.1:PORT". Benchmark only: a response the socket does
// not take at once closes the connection, and SIGTERM ends it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

constexpr std::size_t kReadBufferSize = std::size_t{64} * 1024;  // as hellod's
constexpr int kEventsPerWait = 256;                              // as hellod's
constexpr std::string_view kHeadEnd = "\r\n\r\n";

[[noreturn]] void fail(const char* what) {
  std::perror(what);
  std::exit(1);
}

// How much of kHeadEnd each connection's last read ended with, by
// descriptor, so a head split across reads is still answered once.
class HeadEnds {
 public:
  // The number of heads that end in data.
  unsigned count(int fd, std::string_view data) {
    const std::size_t slot = slot_of(fd);
    if (slot >= matched_.size()) matched_.resize(slot + 1, 0);
    std::size_t matched = matched_[slot];
    unsigned heads = 0;
    for (const char c : data) {
      if (c == kHeadEnd[matched]) {
        if (++matched == kHeadEnd.size()) {
          ++heads;
          matched = 0;
        }
      } else {
        matched = c == kHeadEnd[0] ? 1 : 0;
      }
    }
    matched_[slot] = static_cast<unsigned char>(matched);
    return heads;
  }
  void forget(int fd) {
    if (slot_of(fd) < matched_.size()) matched_[slot_of(fd)] = 0;
  }

 private:
  static std::size_t slot_of(int fd) {
    assert(fd >= 0);
    return static_cast<std::size_t>(fd);
  }

  std::vector<unsigned char> matched_;
};

int listen_on_loopback() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  const int on = 1;
  // Accepted sockets inherit it from the listener, as hellod's do.
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0) fail("TCP_NODELAY");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) fail("bind");
  if (::listen(fd, SOMAXCONN) < 0) fail("listen");
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) fail("getsockname");
  // bench.py reads the port from this line.
  if (std::printf("listening on 127.0.0.1:%u\n", ntohs(address.sin_port)) < 0 ||
      std::fflush(stdout) != 0)
    fail("stdout");
  return fd;
}

std::string read_file(const char* path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) fail(path);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

class FloorServer {
 public:
  FloorServer(int listener, std::string response)
      : listener_(listener), response_(std::move(response)), epoll_(::epoll_create1(0)) {
    if (epoll_ < 0) fail("epoll_create1");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listener_;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &event) < 0) fail("epoll_ctl");
  }

  [[noreturn]] void run() {
    std::array<epoll_event, kEventsPerWait> events{};
    for (;;) {
      const int ready = ::epoll_wait(epoll_, events.data(), kEventsPerWait, -1);
      if (ready < 0 && errno != EINTR) fail("epoll_wait");
      for (int i = 0; i < ready; ++i) {
        const epoll_event& event = events[static_cast<std::size_t>(i)];
        if (event.data.fd == listener_) {
          accept_all();
        } else {
          serve(event.data.fd, (event.events & EPOLLRDHUP) != 0);
        }
      }
    }
  }

 private:
  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a client gone before it was accepted
      epoll_event event{};
      event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
      event.data.fd = fd;
      if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) < 0) ::close(fd);
    }
  }

  // Edge-triggered: read until a read leaves the socket drained (less than
  // the buffer), or, after the client's FIN (hangup), until the EOF, which
  // no later event would report; answer the heads each read completes.
  void serve(int fd, bool hangup) {
    for (;;) {
      const ssize_t got = ::recv(fd, buffer_.data(), buffer_.size(), 0);
      if (got < 0 && errno == EAGAIN) return;
      if (got <= 0) return finish(fd);
      const unsigned heads = ends_.count(fd, {buffer_.data(), static_cast<std::size_t>(got)});
      for (unsigned i = 0; i < heads; ++i) {
        const ssize_t sent = ::send(fd, response_.data(), response_.size(), MSG_NOSIGNAL);
        if (sent != static_cast<ssize_t>(response_.size())) return finish(fd);
      }
      if (!hangup && static_cast<std::size_t>(got) < buffer_.size()) return;
    }
  }

  void finish(int fd) {
    ends_.forget(fd);
    ::close(fd);  // takes it out of the epoll set
  }

  int listener_;
  std::string response_;
  int epoll_;
  std::vector<char> buffer_ = std::vector<char>(kReadBufferSize);
  HeadEnds ends_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    static_cast<void>(std::fprintf(stderr, "usage: %s RESPONSE_FILE\n", argv[0]));
    return 2;
  }
  std::string response = read_file(argv[1]);
  if (response.empty()) {
    static_cast<void>(std::fprintf(stderr, "%s: empty response\n", argv[1]));
    return 1;
  }
  FloorServer(listen_on_loopback(), std::move(response)).run();
}

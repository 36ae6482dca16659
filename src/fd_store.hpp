// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"

// The naming and matching policy of systemd's file descriptor store for
// hellod's listening sockets (sd_notify(3) FDSTORE=1, FDNAME=;
// sd_listen_fds_with_names(3)). Pure: no descriptor is touched here; the
// supervisor acts on the plan, systemd.cpp sends the messages.
namespace hellod::fd_store {

// A socket-unit socket with this FileDescriptorName= belongs to the metrics
// listener: hellod's HTTP listeners neither serve nor release it.
inline constexpr std::string_view kMetricsName = "metrics";

// systemd ignores an FDNAME= longer than this (sd_pid_notify_with_fds(3)).
inline constexpr std::size_t kMaxNameLength = 255;

// The FDNAME= of the index-th listening socket of a listen: entry (TCP
// addresses have one SO_REUSEPORT socket per worker, a unix socket one):
// "hellod-<index>-<address>", the address spelled as in logs with ':', '%',
// space, control characters and bytes outside ASCII written as %XX, since
// ':' separates names in LISTEN_FDNAMES and systemd refuses the others.
// E.g. "hellod-0-0.0.0.0%3A8080", "hellod-1-[%3A%3A1]%3A8080",
// "hellod-0-unix%3A/run/hellod/hellod.sock". A name that would be longer
// than kMaxNameLength carries a hash of the address instead:
// "hellod-0-#<16 hex digits>" (the socket's own address is checked anyway).
std::string stored_name(const ListenAddress& address, unsigned index);

// The FDNAME= of the metrics listener's socket for a metrics.listen entry:
// "hellod-metrics-" and the rest of stored_name(address, 0), e.g.
// "hellod-metrics-0-127.0.0.1%3A9464". A name of its own, so a metrics and a
// public address never take each other's socket.
std::string stored_metrics_name(const ListenAddress& address);
[[nodiscard]] bool is_metrics_name(std::string_view name);

// Where a descriptor passed in LISTEN_FDS comes from, told by its name.
enum class Origin : unsigned char {
  socket_unit,  // any name outside hellod's scheme: "http", "hellod.socket", ...
  store,        // "hellod-<index>-<address>": a listener hellod stored earlier
  reserved,     // kMetricsName: left alone
};
Origin origin_of(std::string_view name);

// A descriptor passed in LISTEN_FDS, as the kernel describes it.
struct Passed {
  std::string name;
  // describe_socket() of it when it is a listening stream socket (TCP or
  // unix), e.g. "127.0.0.1:8080"; nullopt when it is anything else.
  std::optional<std::string> listening;
  bool unix_socket = false;
  // A unix socket whose file is gone (e.g. its directory was removed while
  // the store held it): nobody can connect to it any more.
  bool file_gone = false;
};

// A stored socket to serve again for a listen: entry.
struct Adoption {
  std::size_t passed;  // index into the passed list
  unsigned index;      // the socket's index, from its name
};

// A stored socket to close and remove from the store (FDSTOREREMOVE=1).
struct Release {
  std::size_t passed;
  std::string reason;  // for the log
};

struct StartPlan {
  // Socket-unit sockets: served instead of listen:. When there are any,
  // every stored socket is released.
  std::vector<std::size_t> activated;
  // Per listen: entry, its stored sockets to serve, by ascending index.
  std::vector<std::vector<Adoption>> adopted;
  // The same for metrics.listen entries (stored_metrics_name).
  std::vector<std::vector<Adoption>> adopted_metrics;
  std::vector<Release> released;
  std::vector<std::size_t> reserved;
};

// Decides, for every passed descriptor, whether it is served (socket-unit
// sockets, or stored ones that match a listen: entry), released (stored ones
// that match nothing: the entry is gone, the socket is not bound where its
// name says, is not a listening stream socket, is a unix socket whose file
// is gone, or repeats a name; and stored metrics sockets when a socket unit
// passes "metrics", which serves the metrics instead), or left
// alone (reserved names). A stored socket is taken back only when its real
// address is the entry's (any port for port 0, the same one for all of an
// entry's sockets) and it is of the entry's kind.
StartPlan plan_start(const std::vector<Passed>& passed, const std::vector<ListenAddress>& listen,
                     const std::vector<ListenAddress>& metrics_listen = {});

}  // namespace hellod::fd_store

// SPDX-License-Identifier: MIT
#include "fd_store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace hellod::fd_store {
namespace {

constexpr std::string_view kPrefix = "hellod-";
constexpr std::string_view kMetricsPrefix = "hellod-metrics-";
// Indexes are worker numbers (at most 256 workers): three digits at most.
constexpr std::size_t kMaxIndexDigits = 3;

// FDNAME= may hold printable ASCII except ':' (systemd's fdname_is_valid();
// ':' separates LISTEN_FDNAMES). '%' is the escape itself and a space would
// be hard to read in logs, so both are encoded too.
bool needs_escape(unsigned char byte) {
  return byte <= 0x20 || byte >= 0x7f || byte == ':' || byte == '%';
}

std::string percent_encoded(std::string_view text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (needs_escape(byte)) {
      out += '%';
      out += kHex[byte >> 4U];
      out += kHex[byte & 0xfU];
    } else {
      out += c;
    }
  }
  return out;
}

// FNV-1a (64 bit): a stable hash for names too long to spell out; two
// addresses that collide are still told apart by the socket's own address.
std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// The listener name a metrics name stands for ("hellod-metrics-0-x" ->
// "hellod-0-x"); any other name as it is.
std::string listener_name_of(std::string_view name) {
  if (!name.starts_with(kMetricsPrefix)) return std::string(name);
  return std::string(kPrefix).append(name.substr(kMetricsPrefix.size()));
}

// The index of a name in hellod's scheme, or nullopt for any other name.
std::optional<unsigned> index_of(std::string_view stored) {
  const std::string listener = listener_name_of(stored);
  const std::string_view name = listener;
  if (!name.starts_with(kPrefix)) return std::nullopt;
  const std::string_view rest = name.substr(kPrefix.size());
  const auto dash = rest.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > kMaxIndexDigits ||
      dash + 1 == rest.size()) {
    return std::nullopt;
  }
  unsigned index = 0;
  const char* end = rest.data() + dash;
  const auto [ptr, error] = std::from_chars(rest.data(), end, index);
  if (error != std::errc{} || ptr != end) return std::nullopt;
  return index;
}

// What a socket of this entry must be bound to: the entry itself, or for
// port 0 its host with any port the kernel chose.
bool bound_as(const ListenAddress& entry, const std::string& bound) {
  const std::string wanted = entry.to_string();
  if (entry.kind == ListenAddress::Kind::unix_path || entry.port != 0) return bound == wanted;
  const std::string_view host_part = std::string_view(wanted).substr(0, wanted.size() - 1);
  return bound.starts_with(host_part) && bound.size() > host_part.size() &&
         std::string_view(bound).substr(host_part.size()) != "0";
}

class Planner {
 public:
  Planner(const std::vector<Passed>& passed, const std::vector<ListenAddress>& listen,
          const std::vector<ListenAddress>& metrics_listen)
      : passed_(passed), listen_(listen), metrics_listen_(metrics_listen) {
    plan_.adopted.resize(listen.size());
    plan_.adopted_metrics.resize(metrics_listen.size());
  }

  StartPlan run() {
    std::vector<std::size_t> stored;
    for (std::size_t i = 0; i < passed_.size(); ++i) {
      switch (origin_of(passed_[i].name)) {
        case Origin::socket_unit:
          plan_.activated.push_back(i);
          break;
        case Origin::store:
          stored.push_back(i);
          break;
        case Origin::reserved:
          plan_.reserved.push_back(i);
          break;
      }
    }
    for (const std::size_t i : stored) {
      if (!plan_.activated.empty()) {
        plan_.released.push_back({i, "the socket unit's sockets are served instead"});
      } else if (!plan_.reserved.empty() && is_metrics_name(passed_[i].name)) {
        // open_metrics serves the reserved one; a stored one would only hold its port.
        plan_.released.push_back({i, "the socket unit's \"metrics\" socket is served instead"});
      } else if (std::optional<std::string> refused = adopt(i)) {
        plan_.released.push_back({i, std::move(*refused)});
      }
    }
    return std::move(plan_);
  }

 private:
  // Adopts passed socket i for its entry; the reason when it cannot be.
  std::optional<std::string> adopt(std::size_t i) {
    const Passed& socket = passed_[i];
    const unsigned index = *index_of(socket.name);
    const bool metrics = is_metrics_name(socket.name);
    const std::vector<ListenAddress>& entries = metrics ? metrics_listen_ : listen_;
    const auto entry = std::find_if(entries.begin(), entries.end(), [&](const auto& address) {
      return (metrics ? stored_metrics_name(address) : stored_name(address, index)) == socket.name;
    });
    if (entry == entries.end()) {
      return metrics ? "no metrics.listen entry has this name" : "no listen: entry has this name";
    }
    if (!socket.listening) return "it is not a listening stream socket";
    const std::string wanted = entry->to_string();
    if (!bound_as(*entry, *socket.listening)) {
      return fmt::format("it is bound to {}, not to {}", *socket.listening, wanted);
    }
    if (socket.unix_socket && index != 0) return "a unix socket is stored once, with index 0";
    if (socket.file_gone) return "its socket file is gone, so no client can reach it";
    std::vector<Adoption>& adopted =
        (metrics ? plan_.adopted_metrics
                 : plan_.adopted)[static_cast<std::size_t>(entry - entries.begin())];
    if (!adopted.empty() && *passed_[adopted.front().passed].listening != *socket.listening) {
      return fmt::format("it is bound to {}, but the other sockets of {} to {}", *socket.listening,
                         wanted, *passed_[adopted.front().passed].listening);
    }
    const auto at = std::find_if(adopted.begin(), adopted.end(),
                                 [&](const Adoption& other) { return other.index >= index; });
    if (at != adopted.end() && at->index == index) return "another stored socket has this name";
    adopted.insert(at, Adoption{i, index});
    return std::nullopt;
  }

  const std::vector<Passed>& passed_;
  const std::vector<ListenAddress>& listen_;
  const std::vector<ListenAddress>& metrics_listen_;
  StartPlan plan_;
};

}  // namespace

std::string stored_name(const ListenAddress& address, unsigned index) {
  std::string name = fmt::format("{}{}-", kPrefix, index);
  const std::string spelled = address.to_string();
  std::string key = percent_encoded(spelled);
  if (name.size() + key.size() > kMaxNameLength) key = fmt::format("#{:016x}", fnv1a(spelled));
  return name + key;
}

std::string stored_metrics_name(const ListenAddress& address) {
  std::string name =
      std::string(kMetricsPrefix).append(stored_name(address, 0).substr(kPrefix.size()));
  if (name.size() > kMaxNameLength)
    name = fmt::format("{}0-#{:016x}", kMetricsPrefix, fnv1a(address.to_string()));
  return name;
}

bool is_metrics_name(std::string_view name) {
  return name.starts_with(kMetricsPrefix);
}

Origin origin_of(std::string_view name) {
  if (name == kMetricsName) return Origin::reserved;
  return index_of(name) ? Origin::store : Origin::socket_unit;
}

StartPlan plan_start(const std::vector<Passed>& passed, const std::vector<ListenAddress>& listen,
                     const std::vector<ListenAddress>& metrics_listen) {
  return Planner(passed, listen, metrics_listen).run();
}

}  // namespace hellod::fd_store

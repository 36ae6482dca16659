// SPDX-License-Identifier: MIT
// Supervisor's sockets and systemd's file descriptor store: at start, serve
// what a socket unit passed, or take back the stored sockets that match
// listen: and bind only what is new; keep every socket hellod bound in the
// store (sd_notify(3) FDSTORE=1), so a restart, a crash restart or an
// upgrade finds them there with their backlog; remove what is no longer
// served (FDSTOREREMOVE=1), after start-up and after every reload.
#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "supervisor.hpp"

namespace hellod {
namespace {

// How long start-up waits for systemd to close the stored sockets it was
// told to remove, before binding addresses they may still hold.
constexpr std::chrono::microseconds kBarrierTimeout{5'000'000};

}  // namespace

Result<WorkerSockets> Supervisor::open_sockets(const Config& config) {
  store_enabled_ = systemd::fd_store_enabled();
  Result<std::vector<systemd::PassedSocket>> passed = systemd::passed_sockets();
  if (!passed) return passed.error();
  std::vector<fd_store::Passed> described;
  for (const systemd::PassedSocket& socket : passed.value()) described.push_back(socket.info);
  const fd_store::StartPlan plan =
      fd_store::plan_start(described, config.listen, config.metrics.listen);

  for (const std::size_t i : plan.reserved) {
    systemd::PassedSocket& socket = passed.value()[i];
    spdlog::info("passed socket {} ({}) is left to the metrics listener", socket.info.name,
                 socket.info.listening.value_or("not a listening socket"));
    reserved_.push_back(
        ListenSocket{std::move(socket.fd), socket.info.name, socket.info.unix_socket, {}});
  }
  release_stored(passed.value(), plan.released);
  if (!plan.activated.empty())
    return serve_activated(passed.value(), plan.activated, config.workers);

  std::vector<std::vector<AdoptedSocket>> adopted =
      take_back(passed.value(), plan.adopted, config.listen);
  metrics_adopted_ = take_back(passed.value(), plan.adopted_metrics, config.metrics.listen);
  Result<WorkerSockets> bound = bind_listeners(config.listen, config.workers, std::move(adopted));
  if (!bound) return bound.error();
  serving_ = bound_addresses(config.listen, bound.value().front());
  for (const std::string& address : serving_) spdlog::info("listening on {}", address);
  if (store_enabled_) {
    Result<std::vector<ListenSocket>> copies = copies_to_store(bound.value());
    if (!copies) return copies.error();
    unstored_ = std::move(copies.value());
  }
  return bound;
}

// The stored sockets the plan adopts, per entry, ready for bind_listeners.
std::vector<std::vector<AdoptedSocket>> Supervisor::take_back(
    std::vector<systemd::PassedSocket>& passed,
    const std::vector<std::vector<fd_store::Adoption>>& plan,
    const std::vector<ListenAddress>& entries) {
  std::vector<std::vector<AdoptedSocket>> adopted(entries.size());
  for (std::size_t a = 0; a < entries.size(); ++a) {
    for (const fd_store::Adoption& adoption : plan[a]) {
      systemd::PassedSocket& socket = passed[adoption.passed];
      adopted[a].push_back(
          {adoption.index, ListenSocket{std::move(socket.fd), entries[a].to_string(),
                                        socket.info.unix_socket, socket.info.name}});
    }
    if (!adopted[a].empty()) {
      spdlog::info("took back {} stored socket(s) of {} from the service manager",
                   adopted[a].size(), entries[a].to_string());
    }
  }
  return adopted;
}

// Socket activation (sd_listen_fds(3)): serve what the socket unit passed,
// all of it; listen: is ignored.
Result<WorkerSockets> Supervisor::serve_activated(std::vector<systemd::PassedSocket>& passed,
                                                  const std::vector<std::size_t>& activated,
                                                  unsigned workers) {
  std::vector<ListenSocket> sockets;
  for (const std::size_t i : activated) {
    systemd::PassedSocket& socket = passed[i];
    if (!socket.info.listening) {
      return Error{fmt::format("inherited file descriptor {} ({}) is not a listening TCP or unix "
                               "stream socket; check ListenStream= in the socket unit",
                               socket.fd.get(), socket.info.name),
                   ENOTSOCK};
    }
    serving_.push_back(*socket.info.listening);
    sockets.push_back(
        ListenSocket{std::move(socket.fd), *socket.info.listening, socket.info.unix_socket, {}});
  }
  socket_activated_ = true;
  spdlog::info("socket-activated: serving {} inherited socket(s); listen: in the config is ignored",
               sockets.size());
  return share_with_workers(std::move(sockets), workers);
}

// Stored sockets that must not be served are closed and removed from the
// store. Before binding, wait until systemd has closed its copies too: one
// may still hold an address about to be bound (the file changed its
// spelling, or a unix socket's path).
void Supervisor::release_stored(std::vector<systemd::PassedSocket>& passed,
                                const std::vector<fd_store::Release>& released) {
  for (const fd_store::Release& release : released) {
    systemd::PassedSocket& socket = passed[release.passed];
    spdlog::warn("closing stored socket {} ({}): {}", socket.info.name,
                 socket.info.listening.value_or("not a listening socket"), release.reason);
    if (store_enabled_) {
      if (Status removed = systemd::remove_stored(socket.info.name); !removed) {
        spdlog::warn("{}", removed.error().message);
      }
    }
    socket.fd.reset();
  }
  if (store_enabled_ && !released.empty()) {
    if (Status synced = systemd::wait_for_manager(kBarrierTimeout); !synced) {
      spdlog::warn("{}", synced.error().message);
    }
  }
}

// One descriptor of each distinct stored name (a unix socket is shared by
// every worker under one name): what keep_in_store() hands to systemd.
Result<std::vector<ListenSocket>> Supervisor::copies_to_store(const WorkerSockets& sockets) const {
  std::vector<ListenSocket> copies;
  for (const auto& worker : sockets) {
    for (const ListenSocket& socket : worker) {
      const bool seen = std::any_of(copies.begin(), copies.end(), [&](const ListenSocket& copy) {
        return copy.stored_name == socket.stored_name;
      });
      if (seen || socket.stored_name.empty()) continue;
      UniqueFd copy(::fcntl(socket.fd.get(), F_DUPFD_CLOEXEC, 0));
      if (!copy.valid()) {
        const int error = errno;
        return Error{fmt::format("cannot copy {} for the service manager's store: {}", socket.name,
                                 std::strerror(error)),
                     error};
      }
      copies.push_back(
          ListenSocket{std::move(copy), socket.name, socket.unix_socket, socket.stored_name});
    }
  }
  return copies;
}

// FDSTORE=1 for each copy; systemd keeps its own descriptor (a socket it
// holds already is kept once), so the copies close here. Closing a
// descriptor never shuts the socket down while another one refers to it.
void Supervisor::keep_in_store(std::vector<ListenSocket>&& copies) {
  for (const ListenSocket& copy : copies) {
    if (Status stored = systemd::store_socket(copy.stored_name, copy.fd.get()); !stored) {
      spdlog::warn("{}; a restart binds {} anew", stored.error().message, copy.name);
      continue;
    }
    const std::pair<std::string, std::string> entry{copy.name, copy.stored_name};
    if (std::find(stored_.begin(), stored_.end(), entry) == stored_.end()) stored_.push_back(entry);
  }
  if (copies.empty()) return;
  copies.clear();  // systemd holds its own descriptors now
  // systemd 252 cannot say whether it kept them (FileDescriptorStoreMax=0
  // drops them with a line in the journal), so this says what was sent.
  spdlog::info("{} listening socket(s) handed to the service manager's file descriptor store",
               stored_.size());
  if (const std::optional<unsigned> size = systemd::fd_store_size();
      size && stored_.size() > *size) {
    spdlog::warn(
        "FileDescriptorStoreMax={} holds fewer than hellod's {} listening sockets; raise "
        "it, or a restart refuses connections on the others",
        *size, stored_.size());
  }
}

// FDSTOREREMOVE=1 for every stored socket of the removed entries (of
// metrics.listen when metrics, else of listen:).
void Supervisor::remove_from_store(const std::vector<ListenAddress>& removed, bool metrics) {
  for (const ListenAddress& address : removed) {
    const std::string spelled = address.to_string();
    const auto of_entry = [&](const std::pair<std::string, std::string>& stored) {
      return stored.first == spelled && fd_store::is_metrics_name(stored.second) == metrics;
    };
    for (const auto& stored : stored_) {
      if (!of_entry(stored)) continue;
      if (Status done = systemd::remove_stored(stored.second); !done) {
        spdlog::warn("{}", done.error().message);
      }
    }
    std::erase_if(stored_, of_entry);
  }
}

bool Supervisor::in_store(const ListenAddress& address) const {
  const std::string spelled = address.to_string();
  return std::any_of(stored_.begin(), stored_.end(),
                     [&](const auto& stored) { return stored.first == spelled; });
}

}  // namespace hellod

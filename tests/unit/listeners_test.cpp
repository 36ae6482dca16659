// SPDX-License-Identifier: MIT
#include "listeners.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "config.hpp"
#include "fd_store.hpp"

// bind_listeners on real sockets (127.0.0.1, kernel-chosen ports), with and
// without sockets taken back from the fd store.
namespace hellod {
namespace {

ListenAddress loopback(std::uint16_t port) {
  return ListenAddress{ListenAddress::Kind::tcp4, "127.0.0.1", port, {}};
}

std::vector<std::string> names_of(const std::vector<ListenSocket>& sockets) {
  std::vector<std::string> names;
  for (const ListenSocket& socket : sockets) names.push_back(socket.stored_name);
  return names;
}

// Sockets "stored" by an earlier run: bound the way hellod binds them.
std::vector<AdoptedSocket> earlier_run(const ListenAddress& entry, unsigned count) {
  Result<WorkerSockets> bound = bind_listeners({entry}, count);
  EXPECT_TRUE(bound.ok());
  std::vector<AdoptedSocket> adopted;
  for (unsigned i = 0; i < count; ++i) {
    adopted.push_back({i, std::move(bound.value()[i].front())});
  }
  return adopted;
}

TEST(BindListeners, NamesEachWorkersSocketByIndex) {
  const ListenAddress entry = loopback(0);
  Result<WorkerSockets> bound = bind_listeners({entry}, 2);
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  ASSERT_EQ(bound.value().size(), 2U);
  EXPECT_EQ(names_of(bound.value()[0]), std::vector<std::string>{fd_store::stored_name(entry, 0)});
  EXPECT_EQ(names_of(bound.value()[1]), std::vector<std::string>{fd_store::stored_name(entry, 1)});
  // Both joined one port.
  EXPECT_EQ(describe_socket(bound.value()[0][0].fd.get()),
            describe_socket(bound.value()[1][0].fd.get()));
}

TEST(BindListeners, AdoptsStoredSocketsAndBindsOnlyMissingIndexes) {
  const ListenAddress entry = loopback(0);
  std::vector<AdoptedSocket> stored = earlier_run(entry, 1);
  const int stored_fd = stored.front().socket.fd.get();
  const std::string address = describe_socket(stored_fd);
  std::vector<std::vector<AdoptedSocket>> adopted;
  adopted.push_back(std::move(stored));
  Result<WorkerSockets> bound = bind_listeners({entry}, 3, std::move(adopted));
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  ASSERT_EQ(bound.value().size(), 3U);
  EXPECT_EQ(bound.value()[0].front().fd.get(), stored_fd);  // served as it is
  for (unsigned i = 0; i < 3; ++i) {
    ASSERT_EQ(bound.value()[i].size(), 1U);
    EXPECT_EQ(bound.value()[i].front().stored_name, fd_store::stored_name(entry, i));
    EXPECT_EQ(describe_socket(bound.value()[i].front().fd.get()), address);
  }
}

TEST(BindListeners, ServesEveryStoredSocketWhenWorkersAreFewer) {
  const ListenAddress entry = loopback(0);
  std::vector<std::vector<AdoptedSocket>> adopted;
  adopted.push_back(earlier_run(entry, 3));
  Result<WorkerSockets> bound = bind_listeners({entry}, 2, std::move(adopted));
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  EXPECT_EQ(
      names_of(bound.value()[0]),
      (std::vector<std::string>{fd_store::stored_name(entry, 0), fd_store::stored_name(entry, 2)}));
  EXPECT_EQ(names_of(bound.value()[1]), std::vector<std::string>{fd_store::stored_name(entry, 1)});
}

TEST(BindListeners, AStoredPortIsNotProbed) {
  // Without stored sockets a second bind of a taken port fails (the probe);
  // with them, their port is hellod's own.
  std::vector<AdoptedSocket> holder = earlier_run(loopback(0), 1);
  const std::string address = describe_socket(holder.front().socket.fd.get());
  const auto port = static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  Result<WorkerSockets> probed = bind_listeners({loopback(port)}, 1);
  ASSERT_FALSE(probed.ok());
  EXPECT_EQ(probed.error().errno_value, EADDRINUSE);
  std::vector<std::vector<AdoptedSocket>> adopted;
  adopted.push_back(std::move(holder));
  Result<WorkerSockets> joined = bind_listeners({loopback(port)}, 2, std::move(adopted));
  ASSERT_TRUE(joined.ok()) << joined.error().message;
  EXPECT_EQ(describe_socket(joined.value()[1].front().fd.get()), address);
}

TEST(BoundAddresses, ResolvesPortZeroPerEntry) {
  const ListenAddress entry = loopback(0);
  Result<WorkerSockets> bound = bind_listeners({entry}, 1);
  ASSERT_TRUE(bound.ok());
  const std::vector<std::string> addresses = bound_addresses({entry}, bound.value().front());
  ASSERT_EQ(addresses.size(), 1U);
  EXPECT_EQ(addresses[0], describe_socket(bound.value()[0][0].fd.get()));
  EXPECT_NE(addresses[0], "127.0.0.1:0");
}

}  // namespace
}  // namespace hellod
